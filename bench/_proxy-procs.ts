/**
 * Process plumbing for bench/proxy.ts: pinned child processes, a job channel
 * over IPC with a time limit per job, and CPU/RSS readings from /proc.
 */
import { type ChildProcess, execFileSync, spawn, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import type { Job, JobResult } from './_proxy-load.js';

// --------------------------------------------------------------- pinning
export interface Pinning {
  /** Core of dfp, or null when not pinned. */
  proxyCpu: number | null;
  /** Core of the origin and load generator, or null when not pinned. */
  loadCpu: number | null;
  why: string;
}

export function choosePinning(): Pinning {
  const cores = os.availableParallelism();
  let taskset = false;
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore', timeout: 5_000 });
    taskset = true;
  } catch {
    taskset = false;
  }
  if (!taskset) return { proxyCpu: null, loadCpu: null, why: 'not pinned: taskset not found' };
  if (cores < 2) return { proxyCpu: null, loadCpu: null, why: `not pinned: ${cores} core` };
  return { proxyCpu: 0, loadCpu: 1, why: `pinned with taskset: dfp on core 0; origin and load generator on core 1 (${cores} cores)` };
}

/** Spawns `node ...args` (under `taskset -c cpu` when cpu is not null). taskset execs, so the PID is node's. */
export function spawnNode(args: string[], cpu: number | null, stdio: StdioOptions, cwd: string): ChildProcess {
  if (cpu === null) return spawn(process.execPath, args, { stdio, cwd });
  return spawn('taskset', ['-c', String(cpu), process.execPath, ...args], { stdio, cwd });
}

/** Resolves with the first IPC message that `accept` returns non-undefined for; rejects on exit or timeout. */
export function waitMessage<T>(child: ChildProcess, what: string, timeoutMs: number, accept: (msg: unknown) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, value?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onMessage = (msg: unknown) => {
      const value = accept(msg);
      if (value !== undefined) done(null, value);
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`${what} exited (${code ?? signal})`));
    const timer = setTimeout(() => done(new Error(`${what}: no answer in ${timeoutMs} ms`)), timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** The load generator: one job at a time, each bounded by its duration plus a margin. */
export class LoadWorker {
  private nextId = 1;
  constructor(readonly child: ChildProcess) {}

  run(job: Job): Promise<JobResult> {
    const id = this.nextId++;
    const answer = waitMessage(this.child, 'load generator', job.seconds * 1000 + 20_000, (msg) => {
      const m = msg as { id?: number; result?: JobResult; error?: string };
      return m.id === id ? m : undefined;
    });
    this.child.send({ id, job });
    return answer.then((m) => {
      if (m.error !== undefined || m.result === undefined) throw new Error(`load generator: ${m.error ?? 'no result'}`);
      return m.result;
    });
  }
}

/** SIGTERM, then SIGKILL after graceMs if it is still there. */
export async function stopChild(child: ChildProcess | null, graceMs = 3_000): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// ------------------------------------------------------------------ /proc
export const CLK_TCK = (() => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim());
    return v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in seconds, NaN if unreadable. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15
  } catch {
    return Number.NaN;
  }
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM), NaN if unreadable. */
export function statusKb(pid: number | undefined, field: string): number {
  if (pid === undefined) return Number.NaN;
  try {
    for (const line of readFileSync(`/proc/${pid}/status`, 'latin1').split('\n')) {
      if (line.startsWith(`${field}:`)) return Number.parseInt(line.slice(field.length + 1).trim(), 10);
    }
  } catch {
    /* gone */
  }
  return Number.NaN;
}

/** [busy, total] jiffies of one core from /proc/stat (busy excludes idle and iowait). */
export function coreJiffies(cpu: number | null): [number, number] {
  if (cpu === null) return [Number.NaN, Number.NaN];
  try {
    for (const line of readFileSync('/proc/stat', 'latin1').split('\n')) {
      if (!line.startsWith(`cpu${cpu} `)) continue;
      const v = line.trim().split(/\s+/).slice(1).map(Number);
      const total = v.reduce((a, b) => a + b, 0);
      return [total - v[3]! - v[4]!, total];
    }
  } catch {
    /* no /proc */
  }
  return [Number.NaN, Number.NaN];
}

export function busyPercent(before: [number, number], after: [number, number]): number {
  const dt = after[1] - before[1];
  return dt > 0 ? (100 * (after[0] - before[0])) / dt : Number.NaN;
}

// ------------------------------------------------------------------ stats
export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function spread(values: number[]): [number, number] {
  const v = values.filter((x) => Number.isFinite(x));
  return v.length === 0 ? [Number.NaN, Number.NaN] : [Math.min(...v), Math.max(...v)];
}
