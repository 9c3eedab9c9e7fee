/**
 * `npm run bench -- policy [--seconds N] [--rounds N] [--interval MS] [--settle S] [--dest ip|name] [--only base,policy,base2,auth,rules,newcreds] [--cpu-prof DIR]`
 *
 * What access rules and proxy authentication cost on figure a50 (plain HTTP keep-alive, 13-byte body,
 * 50 connections: req/s, p50, p99), as a ratio to the same build without them, measured alternately
 * in one run. Each run type below is its own dfp process (same dist/ build, same flags, pinned to core 0);
 * origin (bench/_proxy-origin.ts) and load generator (bench/_proxy-load.ts) on core 1, as in
 * bench/proxy.ts. Every config sets access.allowPrivateDestinations (the origin is on 127.0.0.1),
 * connectPorts [443], connectSni off, rateLimit.perClient null (a limit would cap throughput), DNS
 * servers pointed at an unused 127.0.0.1 port (nothing here needs DNS; nothing may leave the host), and
 * the access log on (stdout to a file). They differ only in:
 *
 *   BASE      no rules, no auth
 *   POLICY    access.allow: 1,000 rules (250 exact names, 250 `*.xN.example` globs, 300 IPv4 blocks,
 *             198 IPv6 blocks; some with a port or port range) of which the last two admit the
 *             destination (`bench.localhost:PORT`, `127.0.0.1/32:PORT`); auth.basic with a passwordFile
 *             (htpasswd -B -C 10: the load's user plus the NEWCREDS users, at least 100 bcrypt users)
 *   AUTH      POLICY's auth alone (extra: where the time goes)
 *   RULES     POLICY's rules alone (extra)
 *   BASE2     a second process with BASE's config (not run unless named in --only): the A/A check,
 *             how far two identical processes differ on this machine
 *   NEWCREDS  POLICY's process, a50 with the cached user, while a side client opens a new connection
 *             every --interval ms (default 200) with a user that process has not seen yet: one bcrypt
 *             verification each (at most ceil(seconds*1000/interval) per run, at most 300 in all).
 *             dfp lets one client address start 5 verifications/s (burst 10; cached verdicts are
 *             free), and the side client shares 127.0.0.1 with the load: below --interval 200 its
 *             requests get 429s (counted as non-2xx)
 *
 * Every a50 request carries the same `Proxy-Authorization: Basic ...` header (one bcrypt user), also to
 * BASE and RULES, which ignore it (dfp removes it as hop-by-hop): the load sends the same bytes to every
 * process. --dest ip (default, as bench/proxy.ts) targets http://127.0.0.1:PORT/, whose policy decision
 * dfp caches per config snapshot; --dest name targets http://bench.localhost:PORT/ (RFC 6761 loopback, no
 * DNS query), where the name rules are walked on every request.
 *
 * Per round: BASE and POLICY next to each other (order swapped every round), then AUTH and RULES, then
 * NEWCREDS. The table shows medians over rounds. The cost of one bcrypt verification is measured
 * directly (bcryptjs.compare in this process, main thread pinned to dfp's core, median of 5) before and
 * after the rounds. Traffic stays on 127.0.0.1; every run ends by a timer; a watchdog ends the bench.
 *
 * --cpu-prof DIR: every dfp runs under `node --cpu-prof` (profiles in DIR/NAME/, kept; warm-up and all
 * runs included) and the report ends with each profile's top self-time entries. Profiling slows dfp:
 * the figures of such a run are not the clean ones.
 *
 * The machine is shared: before each run the bench waits (up to --settle seconds, default 5; 0: not at
 * all) until both cores are below SETTLE_BUSY % busy over 0.3 s, and it reports per run how busy each
 * core was beyond our own processes (other users, plus interrupt time no process is charged for).
 * Last line: `policy a50 ratio POLICY/BASE: X.XX`.
 */
import bcrypt from 'bcryptjs';
import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { HttpResult, Job, SideResult } from './_proxy-load.js';
import {
  busyPercent,
  choosePinning,
  coreJiffies,
  cpuSeconds,
  freePort,
  LoadWorker,
  median,
  type Pinning,
  spawnNode,
  spread,
  stopChild,
  waitMessage,
} from './_proxy-procs.js';
import { buildIfStale, commit } from './_build.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const TYPES = ['base', 'policy', 'base2', 'auth', 'rules', 'newcreds'] as const;
type RunType = (typeof TYPES)[number];
/** Run when --only is not given (base2, the A/A check, only on request). */
const DEFAULT_TYPES: readonly RunType[] = ['base', 'policy', 'auth', 'rules', 'newcreds'];
/** The dfp process a run type uses (NEWCREDS runs on POLICY's). */
type DfpName = 'base' | 'policy' | 'base2' | 'auth' | 'rules';
const LABEL: Record<RunType, string> = { base: 'BASE', policy: 'POLICY', base2: 'BASE2', auth: 'AUTH', rules: 'RULES', newcreds: 'NEWCREDS' };
const CONNS = 50;
const RULE_COUNT = 1000;
const BCRYPT_COST = 10;
const MIN_FILE_USERS = 100;
const MAX_NEW_USERS = 300;
const BCRYPT_SAMPLES = 5;
const DEST_NAME = 'bench.localhost';
const LOAD_USER = 'bench';

// ------------------------------------------------------------------ options
function option(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function usage(why: string): never {
  process.stderr.write(
    `bench policy: ${why}\nusage: npm run bench -- policy [--seconds N] [--rounds N] [--interval MS] [--settle S] [--dest ip|name] [--only ${TYPES.join(',')}] [--cpu-prof DIR]\n`,
  );
  process.exit(2);
}

function numberOption(flag: string, fallback: number, min: number, max: number): number {
  const text = option(flag);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max) usage(`${flag} must be a number from ${min} to ${max}`);
  return v;
}

const SECONDS = numberOption('--seconds', 3, 0.5, 60);
const ROUNDS = Math.round(numberOption('--rounds', 3, 1, 20));
const INTERVAL_MS = Math.round(numberOption('--interval', 200, 20, 5000));
const SETTLE_S = numberOption('--settle', 5, 0, 60);
const CPU_PROF = option('--cpu-prof') === undefined ? null : resolve(option('--cpu-prof')!);
/** A core busier than this (idle bench) counts as used by someone else. */
const SETTLE_BUSY = 25;
/** A run whose dfp core was this much busier than dfp itself is marked as contended. */
const CONTENDED = 25;
const DEST = option('--dest') ?? 'ip';
if (DEST !== 'ip' && DEST !== 'name') usage('--dest must be ip or name');
const ONLY: RunType[] = (() => {
  const text = option('--only');
  if (text === undefined) return [...DEFAULT_TYPES];
  const names = text.split(',').filter((s) => s.length > 0);
  for (const n of names) if (!(TYPES as readonly string[]).includes(n)) usage(`unknown run type ${n}`);
  return TYPES.filter((t) => names.includes(t));
})();
/** New users per NEWCREDS run: one per interval, bounded in all by MAX_NEW_USERS. */
const NEW_PER_RUN = ONLY.includes('newcreds') ? Math.max(1, Math.min(Math.ceil((SECONDS * 1000) / INTERVAL_MS), Math.floor(MAX_NEW_USERS / ROUNDS))) : 0;
const dfpOf = (t: RunType): DfpName => (t === 'newcreds' ? 'policy' : t);
const DFPS: DfpName[] = [...new Set(ONLY.map(dfpOf))];

// -------------------------------------------------------------------- build
// -------------------------------------------------------------- the policy
/** 1,000 allow rules: 998 that never match the bench's destination, then the two that admit it. */
function allowRules(originPort: number): string[] {
  const rules: string[] = [];
  const port = (i: number) => (i % 10 === 3 ? ':443' : i % 10 === 7 ? ':8000-8999' : '');
  for (let i = 0; i < 250; i++) rules.push(`h${i}.svc${i % 40}.example${port(i)}`);
  for (let i = 0; i < 250; i++) rules.push(`*.x${i}.example${port(i + 1)}`);
  for (let i = 0; i < 256; i++) rules.push(`10.${i}.0.0/16${port(i + 2)}`);
  for (let i = 0; i < 44; i++) rules.push(`172.${16 + (i % 16)}.${i}.0/24${port(i + 3)}`);
  for (let i = 0; i < 198; i++) {
    const block = `2001:db8:${i.toString(16)}::/48`;
    const p = port(i + 4);
    rules.push(p === '' ? block : `[${block}]${p}`);
  }
  rules.push(`${DEST_NAME}:${originPort}`, `127.0.0.1/32:${originPort}`);
  if (rules.length !== RULE_COUNT) throw new Error(`bench policy: ${rules.length} rules, expected ${RULE_COUNT}`);
  return rules;
}

interface User {
  name: string;
  password: string;
  line: string; // the htpasswd line
}

const run = promisify(execFile);

/** bcrypt users at cost 10 with htpasswd (bcryptjs when htpasswd is missing), two at a time per core. */
async function makeUsers(count: number): Promise<{ users: User[]; how: string }> {
  let htpasswd = true;
  try {
    execFileSync('htpasswd', ['-nbB', '-C', '4', 'probe', 'probe'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    htpasswd = false;
  }
  const users: User[] = new Array(count);
  const one = async (i: number) => {
    const name = i === 0 ? LOAD_USER : `u${i}`;
    const password = `pw-${name}-${randomBytes(6).toString('hex')}`;
    const line = htpasswd
      ? (await run('htpasswd', ['-nbB', '-C', String(BCRYPT_COST), name, password], { timeout: 30_000 })).stdout.trim()
      : `${name}:${await bcrypt.hash(password, BCRYPT_COST)}`;
    users[i] = { name, password, line };
  };
  let next = 0;
  const worker = async () => {
    while (next < count) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, os.availableParallelism()) }, worker));
  return { users, how: htpasswd ? `htpasswd -nbB -C ${BCRYPT_COST}` : `bcryptjs.hash cost ${BCRYPT_COST} (htpasswd not found)` };
}

const basic = (u: User) => `Basic ${Buffer.from(`${u.name}:${u.password}`, 'utf8').toString('base64')}`;

// -------------------------------------------------------- bcrypt, measured
function affinityList(pid: number): string | null {
  try {
    const out = execFileSync('taskset', ['-p', '-c', String(pid)], { encoding: 'utf8', timeout: 5_000 });
    return out.slice(out.lastIndexOf(':') + 1).trim();
  } catch {
    return null;
  }
}

function setAffinity(pid: number, list: string): boolean {
  try {
    execFileSync('taskset', ['-p', '-c', list, String(pid)], { stdio: 'ignore', timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** ms per bcryptjs.compare of a right password (after one unrecorded), this process's main thread on `cpu`. */
async function bcryptMs(u: User, cpu: number | null): Promise<{ ms: number[]; where: string }> {
  const hash = u.line.slice(u.line.indexOf(':') + 1);
  const before = cpu !== null ? affinityList(process.pid) : null;
  const pinned = before !== null && setAffinity(process.pid, String(cpu));
  try {
    const ms: number[] = [];
    for (let i = 0; i <= BCRYPT_SAMPLES; i++) {
      const t0 = performance.now();
      const ok = await bcrypt.compare(u.password, hash);
      if (!ok) throw new Error('bench policy: bcryptjs refused the right password');
      if (i > 0) ms.push(performance.now() - t0);
    }
    return { ms, where: pinned ? `main thread on core ${cpu}` : 'not pinned' };
  } finally {
    if (pinned) setAffinity(process.pid, before!);
  }
}

// ---------------------------------------------------------------- processes
interface Ports {
  http: number;
  stream: number;
  echo: number;
}

interface Dfp {
  name: DfpName;
  child: ChildProcess;
  port: number;
}

const started: ChildProcess[] = [];
let stopping = false;

function configFor(name: DfpName, ports: Ports, dnsPort: number, rules: string[], passwordFile: string): object {
  const withRules = name === 'policy' || name === 'rules';
  const withAuth = name === 'policy' || name === 'auth';
  return {
    dns: { servers: [`127.0.0.1:${dnsPort}`] },
    access: {
      allowPrivateDestinations: true,
      connectPorts: [443],
      connectSni: 'off',
      ...(withRules ? { allow: rules } : {}),
    },
    ...(withAuth ? { auth: { basic: { realm: 'dfp-bench', passwordFile } } } : {}),
    rateLimit: { perClient: null },
  };
}

async function startDfp(name: DfpName, pin: Pinning, tmp: string, config: object): Promise<Dfp> {
  const configPath = join(tmp, `${name}.json`);
  writeFileSync(configPath, JSON.stringify(config));
  const port = await freePort();
  const logFd = openSync(join(tmp, `${name}-access.log`), 'w');
  const prof: string[] = [];
  if (CPU_PROF !== null) {
    mkdirSync(join(CPU_PROF, name), { recursive: true });
    prof.push('--cpu-prof', '--cpu-prof-dir', join(CPU_PROF, name));
  }
  const args = [...prof, join(repo, 'dist', 'cli.js'), '--config', configPath, '--listen', `127.0.0.1:${port}`, '--admin', 'off'];
  const child = spawnNode(args, pin.proxyCpu, ['ignore', logFd, 'pipe'], repo);
  closeSync(logFd); // the child holds its own copy
  started.push(child);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dfp ${name} did not start in 20 s:\n${stderr}`)), 20_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('dfp listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dfp ${name} exited (${code}) at start:\n${stderr}`));
    });
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    if (!stopping) process.stderr.write(`[dfp ${name}] ${chunk.toString('utf8')}`);
  });
  return { name, child, port };
}

/** One request on a fresh connection from this process; the response's status (0 on failure). Bounded by 5 s. */
function oneRequest(port: number, request: string): Promise<number> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let acc = Buffer.alloc(0);
    const finish = (status: number) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => finish(0), 5_000);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (chunk: Buffer) => {
      acc = Buffer.concat([acc, chunk]);
      if (acc.length >= 12) finish(Number(acc.toString('latin1', 9, 12)) || 0);
    });
    sock.on('error', () => finish(0));
    sock.on('close', () => finish(0));
  });
}

// ------------------------------------------------------------------- runs
interface Sample {
  rps: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  errors: number;
  firstError: string | null;
  dfpPct: number;
  loadSidePct: number;
  proxyCoreBusy: number;
  loadCoreBusy: number;
  dfpUsPerReq: number;
  /** Waited for quiet cores before the run (ms), and whether they were quiet then. */
  settledMs: number;
  quiet: boolean;
  side: SideResult | null;
}

/** Core busy % beyond our processes during a run: [dfp core, load core]. */
const beyond = (s: Sample): [number, number] => [s.proxyCoreBusy - s.dfpPct, s.loadCoreBusy - s.loadSidePct];
const contended = (s: Sample) => beyond(s)[0] >= CONTENDED;

/** Waits (bounded by SETTLE_S) until both pinned cores are below SETTLE_BUSY % over 0.3 s; our processes are idle meanwhile. */
async function settle(pin: Pinning): Promise<{ ms: number; quiet: boolean }> {
  const t0 = performance.now();
  if (pin.proxyCpu === null || SETTLE_S === 0) return { ms: 0, quiet: true };
  for (;;) {
    const a0 = coreJiffies(pin.proxyCpu);
    const b0 = coreJiffies(pin.loadCpu);
    await new Promise((r) => setTimeout(r, 300));
    const quiet = busyPercent(a0, coreJiffies(pin.proxyCpu)) < SETTLE_BUSY && busyPercent(b0, coreJiffies(pin.loadCpu)) < SETTLE_BUSY;
    const ms = performance.now() - t0;
    if (quiet || ms >= SETTLE_S * 1000) return { ms, quiet };
  }
}

interface Bench {
  pin: Pinning;
  ports: Ports;
  origin: ChildProcess;
  load: LoadWorker;
  dfps: Map<DfpName, Dfp>;
  users: User[];
}

function request(b: Bench, user: User): string {
  const authority = `${DEST === 'ip' ? '127.0.0.1' : DEST_NAME}:${b.ports.http}`;
  return `GET http://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: dfp-bench\r\nProxy-Authorization: ${basic(user)}\r\n\r\n`;
}

/** The NEWCREDS users of round r (1-based): a slice no earlier run used. */
function sideUsers(b: Bench, round: number): User[] {
  return b.users.slice(1 + (round - 1) * NEW_PER_RUN, 1 + round * NEW_PER_RUN);
}

function jobFor(b: Bench, t: RunType, seconds: number, round: number): Job {
  const dfp = b.dfps.get(dfpOf(t))!;
  const job: Job = { kind: 'http', port: dfp.port, request: request(b, b.users[0]!), conns: CONNS, seconds };
  if (t === 'newcreds') job.side = { requests: sideUsers(b, round).map((u) => request(b, u)), intervalMs: INTERVAL_MS };
  return job;
}

async function measure(b: Bench, t: RunType, round: number): Promise<Sample> {
  const settled = await settle(b.pin);
  const dfpPid = b.dfps.get(dfpOf(t))!.child.pid;
  const sidePids = [b.load.child.pid, b.origin.pid];
  const side = () => sidePids.reduce<number>((s, pid) => s + cpuSeconds(pid), 0);
  const c0 = coreJiffies(b.pin.proxyCpu);
  const l0 = coreJiffies(b.pin.loadCpu);
  const d0 = cpuSeconds(dfpPid);
  const s0 = side();
  const t0 = performance.now();
  const r = (await b.load.run(jobFor(b, t, SECONDS, round))) as HttpResult;
  const wall = (performance.now() - t0) / 1000;
  const dDfp = cpuSeconds(dfpPid) - d0;
  const dSide = side() - s0;
  return {
    rps: r.requests / r.seconds,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    p999Us: r.p999Us,
    maxUs: r.maxUs,
    errors: r.errors + r.non2xx,
    firstError: r.firstError ?? (r.non2xx > 0 ? `${r.non2xx} non-2xx responses` : null),
    dfpPct: (100 * dDfp) / wall,
    loadSidePct: (100 * dSide) / wall,
    proxyCoreBusy: busyPercent(c0, coreJiffies(b.pin.proxyCpu)),
    loadCoreBusy: busyPercent(l0, coreJiffies(b.pin.loadCpu)),
    dfpUsPerReq: r.requests > 0 ? (dDfp * 1e6) / r.requests : Number.NaN,
    settledMs: settled.ms,
    quiet: settled.quiet,
    side: r.side ?? null,
  };
}

/** Each process answers the load's request with 200; auth and rules refuse what they should. */
async function sanity(b: Bench, otherPort: number): Promise<string[]> {
  const problems: string[] = [];
  const good = request(b, b.users[0]!);
  const noAuth = good.replace(/Proxy-Authorization: [^\r]*\r\n/, '');
  const wrong = good.replace(/Proxy-Authorization: [^\r]*\r\n/, `Proxy-Authorization: ${basic({ ...b.users[0]!, password: 'not-it' })}\r\n`);
  const elsewhere = good.replaceAll(`:${b.ports.http}`, `:${otherPort}`);
  for (const d of b.dfps.values()) {
    const expect = (what: string, req: string, want: number) =>
      oneRequest(d.port, req).then((status) => {
        if (status !== want) problems.push(`${LABEL[d.name]}: ${what} answered ${status || 'nothing'}, expected ${want}`);
      });
    await expect('the load request', good, 200);
    if (d.name === 'policy' || d.name === 'auth') {
      await expect('no Proxy-Authorization', noAuth, 407);
      await expect('a wrong password', wrong, 407);
    }
    // 127.0.0.1 on a port no rule admits (nothing listens there: 502 when the rules let it through)
    await expect(`port ${otherPort}`, elsewhere, d.name === 'policy' || d.name === 'rules' ? 403 : 502);
  }
  return problems;
}

// ------------------------------------------------------------------ report
const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const ratio = (a: number, b: number, digits = 2) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(digits) : '–');
const pick = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
const ms = (us: number) => fmt(us / 1000, 2);

function report(b: Bench, samples: Map<RunType, Sample[]>, bcryptBefore: number[], bcryptAfter: number[], bcryptWhere: string, header: string[], footer: string[]): string {
  const get = (t: RunType) => samples.get(t) ?? [];
  const baseRps = pick(get('base'), (s) => s.rps);
  const out = [...header, ''];
  out.push('| run | req/s | ×BASE | p50 µs | p99 µs | p99.9 µs | max µs | dfp CPU µs/req | dfp % of a core | load gen + origin % | dfp core: busy beyond dfp % | load core: beyond ours % |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const t of ONLY) {
    const s = get(t);
    if (s.length === 0) continue;
    const rps = pick(s, (x) => x.rps);
    out.push(
      `| ${LABEL[t]} | ${fmt(rps)} | ${ratio(rps, baseRps)} | ${fmt(pick(s, (x) => x.p50Us))} | ${fmt(pick(s, (x) => x.p99Us))} | ` +
        `${fmt(pick(s, (x) => x.p999Us))} | ${fmt(pick(s, (x) => x.maxUs))} | ${fmt(pick(s, (x) => x.dfpUsPerReq), 1)} | ${fmt(pick(s, (x) => x.dfpPct))} | ` +
        `${fmt(pick(s, (x) => x.loadSidePct))} | ${fmt(pick(s, (x) => beyond(x)[0]))} | ${fmt(pick(s, (x) => beyond(x)[1]))} |`,
    );
  }
  out.push('', 'Medians over rounds. dfp CPU µs/req: utime+stime of that dfp process per a50 request (NEWCREDS: the side bcrypts included).');
  out.push(
    'load gen + origin %: our load side (one core; near 100 % it caps req/s for every run alike). Busy beyond: the core\'s busy % minus our processes on it: ' +
      'other users plus interrupt time charged to no process (a few % even when the machine is quiet).',
  );
  if (ROUNDS > 1) {
    out.push('', '| spread (min–max over rounds) | req/s | p99 µs |', '|---|---|---|');
    for (const t of ONLY) {
      const s = get(t);
      if (s.length === 0) continue;
      const [rl, rh] = spread(s.map((x) => x.rps));
      const [pl, ph] = spread(s.map((x) => x.p99Us));
      out.push(`| ${LABEL[t]} | ${fmt(rl)}–${fmt(rh)} | ${fmt(pl)}–${fmt(ph)} |`);
    }
  }
  const base = get('base');
  const pol = get('policy');
  if (base.length > 0 && pol.length > 0) {
    const perRound = pol.map((p, i) => {
      const q = base[i];
      const mark = q === undefined || contended(p) || contended(q) ? '*' : '';
      return `${ratio(p.rps, q?.rps ?? Number.NaN)}${mark}`;
    });
    const all = [...base, ...pol];
    out.push('', `POLICY/BASE req/s per round (adjacent runs): ${perRound.join(', ')}; ratio of the medians ${ratio(pick(pol, (s) => s.rps), baseRps)}`);
    if (perRound.some((r) => r.endsWith('*'))) out.push(`* a run of that pair had its dfp core ≥ ${CONTENDED} % busier than dfp itself (someone else on core ${b.pin.proxyCpu}): read it with care.`);
    const unquiet = all.filter((s) => !s.quiet).length;
    if (unquiet > 0) out.push(`${unquiet} of the BASE/POLICY runs started without quiet cores after waiting ${SETTLE_S} s.`);
  }
  const nc = get('newcreds');
  if (nc.length > 0) {
    const bMs = median(bcryptBefore);
    const bAfter = median(bcryptAfter);
    const oneUs = 1000 * median([...bcryptBefore, ...bcryptAfter]);
    const sides = nc.map((s) => s.side).filter((s): s is SideResult => s !== null);
    const lat = sides.flatMap((s) => s.latenciesUs);
    const sum = (f: (s: SideResult) => number) => sides.reduce((a, s) => a + f(s), 0);
    const p99With = pick(nc, (s) => s.p99Us);
    const p99Without = pick(pol, (s) => s.p99Us);
    const maxWith = pick(nc, (s) => s.maxUs);
    out.push('', `New credentials during a50 (NEWCREDS: POLICY's dfp, a new connection every ${INTERVAL_MS} ms with a user it has not verified yet; ${NEW_PER_RUN} per run at most)`, '');
    out.push('| | value |', '|---|---|');
    out.push(`| one bcrypt verification, cost ${BCRYPT_COST} (bcryptjs.compare here, ${bcryptWhere}; median of ${BCRYPT_SAMPLES}, before / after the rounds) | ${fmt(bMs, 1)} / ${fmt(bAfter, 1)} ms (all ${bcryptBefore.length + bcryptAfter.length}: ${fmt(Math.min(...bcryptBefore, ...bcryptAfter), 1)}–${fmt(Math.max(...bcryptBefore, ...bcryptAfter), 1)}) |`);
    out.push(`| side connections: started / 2xx / non-2xx / errors / unfinished at the end | ${sum((s) => s.started)} / ${sum((s) => s.ok)} / ${sum((s) => s.non2xx)} / ${sum((s) => s.errors)} / ${sum((s) => s.unfinished)} |`);
    out.push(`| side request latency (connect → body: one verification inside dfp, seen by a client), median / max | ${ms(median(lat))} / ${ms(lat.length ? Math.max(...lat) : Number.NaN)} ms |`);
    out.push(`| a50 req/s without / with new credentials | ${fmt(pick(pol, (s) => s.rps))} / ${fmt(pick(nc, (s) => s.rps))} |`);
    out.push(`| a50 p99 without (POLICY) / with (NEWCREDS) | ${ms(p99Without)} / ${ms(p99With)} ms |`);
    out.push(`| a50 p99 rise, in verifications (rise / one bcrypt) | ${ms(p99With - p99Without)} ms = ${ratio(p99With - p99Without, oneUs)} |`);
    out.push(`| a50 p99.9 without / with | ${ms(pick(pol, (s) => s.p999Us))} / ${ms(pick(nc, (s) => s.p999Us))} ms |`);
    const maxWithout = pick(pol, (s) => s.maxUs);
    out.push(`| a50 max without / with | ${ms(maxWithout)} / ${ms(maxWith)} ms |`);
    out.push(`| a50 max rise, in verifications (rise / one bcrypt) | ${ms(maxWith - maxWithout)} ms = ${ratio(maxWith - maxWithout, oneUs)} |`);
    out.push(
      '',
      'dfp verifies bcrypt in a worker thread (src/policy/bcrypt-thread.ts): a first-time user waits for its own verification ' +
        '(the side request latency above), the event loop does not, so the a50 p99/max rise should stay far below one verification. ' +
        'On a 2-core machine the thread takes CPU from the load and the origin: a50 req/s drops while verifications run.',
    );
  }
  const errors: string[] = [];
  for (const [t, xs] of samples) {
    const n = xs.reduce((a, s) => a + s.errors, 0);
    if (n > 0) errors.push(`${LABEL[t]}: ${n} errors (first: ${xs.find((s) => s.firstError !== null)?.firstError ?? '?'})`);
    const sideErr = xs.reduce((a, s) => a + (s.side ? s.side.errors + s.side.non2xx : 0), 0);
    if (sideErr > 0) errors.push(`${LABEL[t]} side: ${sideErr} (first: ${xs.find((s) => s.side?.firstError)?.side?.firstError ?? '?'})`);
  }
  out.push('', errors.length > 0 ? `Errors: ${errors.join('; ')}` : 'Errors: none');
  if (errors.some((e) => e.includes('status 429'))) out.push('(429 on the side: dfp throttles new-credential verifications to 5/s per client address, burst 10; use --interval 200 or more)');
  out.push(...footer);
  const r = ratio(pick(pol, (s) => s.rps), baseRps);
  out.push('', `policy a50 ratio POLICY/BASE: ${r === '–' ? 'n/a' : r}`);
  return out.join('\n') + '\n';
}

// -------------------------------------------------------------------- main
async function main(): Promise<string> {
  const tStart = Date.now();
  const buildLine = buildIfStale('policy');
  const pin = choosePinning();
  const tmp = mkdtempSync(join(os.tmpdir(), 'dfp-bench-policy-'));
  const loadBefore = os.loadavg().map((v) => v.toFixed(2)).join(' ');
  const userCount = Math.max(MIN_FILE_USERS, 1 + ROUNDS * NEW_PER_RUN);
  const runsPerRound = ONLY.length;
  process.stderr.write(`bench policy: ${ROUNDS} round(s) × ${runsPerRound} run(s) × ${SECONDS} s of load + warm-up, ${userCount} bcrypt users to make; ${pin.why}\n`);
  const watchdog = setTimeout(
    () => {
      process.stderr.write('bench policy: watchdog fired, stopping\n');
      for (const c of started) c.kill('SIGKILL');
      process.exit(1);
    },
    (ROUNDS * runsPerRound * (SECONDS + SETTLE_S + 25) + userCount * 0.5 + 240) * 1000,
  );
  watchdog.unref();
  try {
    const t0 = Date.now();
    const { users, how } = await makeUsers(userCount);
    const usersSeconds = (Date.now() - t0) / 1000;
    const passwordFile = join(tmp, 'htpasswd');
    writeFileSync(passwordFile, users.map((u) => u.line).join('\n') + '\n', { mode: 0o600 });

    const ipc = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
    const origin = spawnNode(['--import', 'tsx', join(here, '_proxy-origin.ts')], pin.loadCpu, [...ipc], repo);
    started.push(origin);
    const ports = await waitMessage(origin, 'origin', 30_000, (m) => ((m as { kind?: string }).kind === 'ready' ? (m as Ports) : undefined));
    const dnsPort = await freePort();
    const otherPort = await freePort();
    const rules = allowRules(ports.http);
    const dfps = new Map<DfpName, Dfp>();
    for (const name of DFPS) dfps.set(name, await startDfp(name, pin, tmp, configFor(name, ports, dnsPort, rules, passwordFile)));
    const loadChild = spawnNode(['--import', 'tsx', join(here, '_proxy-load.ts')], pin.loadCpu, [...ipc], repo);
    started.push(loadChild);
    await waitMessage(loadChild, 'load generator', 30_000, (m) => ((m as { kind?: string }).kind === 'ready' ? true : undefined));
    const b: Bench = { pin, ports, origin, load: new LoadWorker(loadChild), dfps, users };

    const problems = await sanity(b, otherPort);
    if (problems.length > 0) throw new Error(`bench policy: sanity check failed:\n  ${problems.join('\n  ')}`);
    const before = await bcryptMs(users[0]!, pin.proxyCpu);
    // warm-up (not recorded): JIT of every dfp, the origin and the load generator
    for (const d of dfps.values()) await b.load.run({ kind: 'http', port: d.port, request: request(b, users[0]!), conns: CONNS, seconds: 1 });

    const samples = new Map<RunType, Sample[]>();
    const pairs: RunType[] = ONLY.filter((t) => t === 'base' || t === 'policy');
    const extras: RunType[] = ONLY.filter((t) => t === 'base2' || t === 'auth' || t === 'rules');
    for (let round = 1; round <= ROUNDS; round++) {
      const odd = round % 2 === 1;
      const order = [...(odd ? pairs : [...pairs].reverse()), ...(odd ? extras : [...extras].reverse()), ...ONLY.filter((t) => t === 'newcreds')];
      for (const t of order) {
        const s = await measure(b, t, round);
        samples.set(t, [...(samples.get(t) ?? []), s]);
        const side = s.side ? `; side ${s.side.ok}/${s.side.started} ok, median ${ms(median(s.side.latenciesUs))} ms` : '';
        process.stderr.write(
          `  round ${round} ${LABEL[t].padEnd(8)}:${s.settledMs > 400 ? ` (waited ${fmt(s.settledMs / 1000, 1)} s for quiet cores${s.quiet ? '' : ', in vain'})` : ''} ${fmt(s.rps)} req/s p50 ${fmt(s.p50Us)} µs p99 ${fmt(s.p99Us)} µs max ${fmt(s.maxUs)} µs; ` +
            `dfp ${fmt(s.dfpPct)}% ${fmt(s.dfpUsPerReq, 1)} µs/req, load ${fmt(s.loadSidePct)}%, core0 ${fmt(s.proxyCoreBusy)}%, core1 ${fmt(s.loadCoreBusy)}%${s.errors ? `, ${s.errors} errors` : ''}${side}\n`,
        );
      }
    }
    const after = ONLY.includes('newcreds') ? await bcryptMs(users[0]!, pin.proxyCpu) : { ms: [], where: before.where };

    const dest = DEST === 'ip' ? `http://127.0.0.1:${ports.http}/ (IP literal: the decision is cached per config snapshot)` : `http://${DEST_NAME}:${ports.http}/ (a name: the name rules are walked per request)`;
    const header = [
      `### dfp access rules + proxy auth on a50 (bench/policy.ts), medians of ${ROUNDS} round(s)`,
      '',
      `node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), load average before: ${loadBefore}`,
      `${pin.why}; ${SECONDS} s per run, each after waiting up to ${SETTLE_S} s for both cores < ${SETTLE_BUSY} % busy; per round BASE and POLICY adjacent (order swapped each round), then ${ONLY.filter((t) => t !== 'base' && t !== 'policy').map((t) => LABEL[t]).join(', ') || 'nothing else'}`,
      `dfp at ${commit()}: node dist/cli.js --config F --listen 127.0.0.1:P --admin off, one process per config, access log on (to a file)`,
      `all configs: access.allowPrivateDestinations true, connectPorts [443], connectSni off, rateLimit.perClient null, dns.servers an unused 127.0.0.1 port`,
      `POLICY = BASE + access.allow (${RULE_COUNT} rules; the last two admit the destination) + auth.basic.passwordFile (${users.length} bcrypt users, ${how}, made in ${fmt(usersSeconds, 1)} s); AUTH, RULES: each half of it`,
      `load: ${CONNS} keep-alive connections, GET ${dest}, every request with the same Proxy-Authorization (user "${LOAD_USER}", cached after its first verification; ignored by BASE and RULES)`,
      buildLine,
    ];
    const footer = [
      '',
      `The machine is shared (2 cores): compare within a run. Total ${((Date.now() - tStart) / 1000).toFixed(0)} s.`,
    ];
    return report(b, samples, before.ms, after.ms, before.where, header, footer);
  } finally {
    clearTimeout(watchdog);
    stopping = true;
    // dfp writes its profile on the way out: give it time
    for (const c of started.reverse()) await stopChild(c, CPU_PROF !== null ? 20_000 : 3_000);
    rmSync(tmp, { recursive: true, force: true });
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of started) c.kill('SIGTERM');
    process.exit(130);
  });
}

// ---------------------------------------------------------------- profiles
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Each profile's top self-time entries (by sample time), as % of the non-idle time. */
function profileSummary(dir: string, top = 15): string {
  const out = ['', `CPU profiles (node --cpu-prof, in ${dir}): top ${top} self-time entries per dfp, % of its non-idle time (warm-up and every run included)`];
  for (const name of readdirSync(dir).sort()) {
    const sub = join(dir, name);
    if (!statSync(sub).isDirectory()) continue;
    for (const file of readdirSync(sub).filter((f) => f.endsWith('.cpuprofile'))) {
      const p = JSON.parse(readFileSync(join(sub, file), 'utf8')) as Profile;
      const byId = new Map(p.nodes.map((n) => [n.id, n]));
      const self = new Map<string, number>();
      let total = 0;
      for (let i = 0; i < p.samples.length; i++) {
        const n = byId.get(p.samples[i]!);
        if (n === undefined) continue;
        const f = n.callFrame;
        if (f.functionName === '(idle)' || f.functionName === '(program)') continue;
        const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
        const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
        const dt = p.timeDeltas[i] ?? 0;
        self.set(key, (self.get(key) ?? 0) + dt);
        total += dt;
      }
      out.push('', `${name.toUpperCase()} (${file}, ${fmt(total / 1e6, 2)} s non-idle)`, '', '| self % | function |', '|---|---|');
      for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`| ${fmt((100 * t) / total, 1)} | ${key} |`);
    }
  }
  return out.join('\n') + '\n';
}

process.stdout.write(await main());
if (CPU_PROF !== null) process.stdout.write(profileSummary(CPU_PROF));
