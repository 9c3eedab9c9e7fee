/**
 * `npm run bench -- proxy [--seconds N] [--rounds N] [--only a50,a1,b,c,d]`
 *
 * dfp against DIRECT (no proxy), in one run, with nothing installed: Node and,
 * when present, `taskset`. A quick check while the data path changes; the
 * official comparison with peers is shared/bench/peers.sh (wrk, nginx, C sink).
 *
 *   a50  plain HTTP keep-alive, 13-byte body, 50 connections: req/s, p50, p99
 *   a1   the same with 1 connection: p50 latency
 *   b    plain HTTP, 1 MiB bodies, 4 connections: MB/s
 *   c    one CONNECT tunnel, bulk server→client: MB/s
 *   d    CONNECT setups/s: 32 loops of connect + CONNECT + 200 + 1-byte round
 *        trip + close (DIRECT: connect + round trip + close)
 *
 * dfp runs from dist/ (built first when any src file is newer than
 * dist/cli.js) as `node dist/cli.js --config F --listen 127.0.0.1:P --admin off
 * --allow-private`, where F only sets access.connectPorts to the two sink
 * ports (CONNECT is allowed to 443 alone by default). Its access log stays on,
 * written to a file in os.tmpdir(). dfp
 * sits on core 0; the origin (bench/_proxy-origin.ts) and the load generator
 * (bench/_proxy-load.ts) on core 1. DIRECT and dfp alternate within each
 * round; the table shows medians over rounds. Traffic stays on 127.0.0.1 and
 * every run ends by a timer; a watchdog ends the whole bench.
 *
 * Besides the figures: per-process CPU (utime+stime from /proc) of dfp and of
 * the load side, busy % of both cores (other users' processes included), dfp
 * CPU µs per request, upstream connections per 1,000 requests (keep-alive
 * reuse) and dfp's RSS. The Node load generator is far slower than wrk: the
 * "bound by" column says when it, not dfp, set the pace.
 * Last line: `proxy a50 ratio dfp/DIRECT: X.XX`.
 */
import { type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Job, JobResult } from './_proxy-load.js';
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
  statusKb,
  stopChild,
  waitMessage,
} from './_proxy-procs.js';
import { buildIfStale } from './_build.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const FIGURES = ['a50', 'a1', 'b', 'c', 'd'] as const;
type Figure = (typeof FIGURES)[number];
type Target = 'DIRECT' | 'dfp';
const TARGETS: readonly Target[] = ['DIRECT', 'dfp'];
const BUSY_PERCENT = 90; // a core or process at least this busy is called CPU-bound

// ------------------------------------------------------------------ options
function option(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function numberOption(flag: string, fallback: number, min: number, max: number): number {
  const text = option(flag);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max) usage(`${flag} must be a number from ${min} to ${max}`);
  return v;
}

function usage(why: string): never {
  process.stderr.write(`bench proxy: ${why}\nusage: npm run bench -- proxy [--seconds N] [--rounds N] [--only ${FIGURES.join(',')}]\n`);
  process.exit(2);
}

const SECONDS = numberOption('--seconds', 3, 0.5, 60);
const ROUNDS = Math.round(numberOption('--rounds', 3, 1, 20));
const ONLY: Figure[] = (() => {
  const text = option('--only');
  if (text === undefined) return [...FIGURES];
  const names = text.split(',').filter((s) => s.length > 0);
  for (const n of names) if (!(FIGURES as readonly string[]).includes(n)) usage(`unknown figure ${n}`);
  return FIGURES.filter((f) => names.includes(f));
})();
/** a1 and d settle fast: half the time keeps the default run near 80 s. */
const secondsOf = (f: Figure) => (f === 'a1' || f === 'd' ? Math.max(0.5, SECONDS / 2) : SECONDS);

// -------------------------------------------------------------------- build
// ---------------------------------------------------------------- processes
interface Ports {
  http: number;
  stream: number;
  echo: number;
}

interface Procs {
  origin: ChildProcess;
  dfp: ChildProcess;
  load: LoadWorker;
  ports: Ports;
  dfpPort: number;
  logPath: string;
}

const started: ChildProcess[] = [];
let stopping = false;

async function startDfp(pin: Pinning, tmp: string, ports: Ports, logFd: number): Promise<{ child: ChildProcess; port: number }> {
  // CONNECT is limited to port 443 by default: allow the two sink ports.
  const configPath = join(tmp, 'dfp.json');
  writeFileSync(configPath, JSON.stringify({ access: { connectPorts: [ports.stream, ports.echo] } }));
  const port = await freePort();
  const args = [join(repo, 'dist', 'cli.js'), '--config', configPath, '--listen', `127.0.0.1:${port}`, '--admin', 'off', '--allow-private'];
  const child = spawnNode(args, pin.proxyCpu, ['ignore', logFd, 'pipe'], repo);
  started.push(child);
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dfp did not start in 20 s:\n${stderr}`)), 20_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('dfp listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dfp exited (${code}) at start:\n${stderr}`));
    });
  });
  // dfp's own messages while measuring (its shutdown message is dropped)
  child.stderr!.on('data', (chunk: Buffer) => {
    if (!stopping) process.stderr.write(chunk);
  });
  return { child, port };
}

async function startAll(pin: Pinning, tmp: string, logFd: number, logPath: string): Promise<Procs> {
  const ipc = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
  const origin = spawnNode(['--import', 'tsx', join(here, '_proxy-origin.ts')], pin.loadCpu, [...ipc], repo);
  started.push(origin);
  const ports = await waitMessage(origin, 'origin', 30_000, (m) => ((m as { kind?: string }).kind === 'ready' ? (m as Ports) : undefined));
  const dfp = await startDfp(pin, tmp, ports, logFd);
  const loadChild = spawnNode(['--import', 'tsx', join(here, '_proxy-load.ts')], pin.loadCpu, [...ipc], repo);
  started.push(loadChild);
  await waitMessage(loadChild, 'load generator', 30_000, (m) => ((m as { kind?: string }).kind === 'ready' ? true : undefined));
  return { origin, dfp: dfp.child, load: new LoadWorker(loadChild), ports, dfpPort: dfp.port, logPath };
}

// ------------------------------------------------------------------- jobs
function jobFor(p: Procs, figure: Figure, target: Target, seconds: number): Job {
  const origin = `127.0.0.1:${p.ports.http}`;
  const direct = target === 'DIRECT';
  const get = (path: string) =>
    `GET ${direct ? '' : `http://${origin}`}${path} HTTP/1.1\r\nHost: ${origin}\r\nUser-Agent: dfp-bench\r\n\r\n`;
  const port = direct ? p.ports.http : p.dfpPort;
  switch (figure) {
    case 'a50':
      return { kind: 'http', port, request: get('/'), conns: 50, seconds };
    case 'a1':
      return { kind: 'http', port, request: get('/'), conns: 1, seconds };
    case 'b':
      return { kind: 'http', port, request: get('/big'), conns: 4, seconds };
    case 'c':
      return direct
        ? { kind: 'bulk', port: p.ports.stream, connect: null, seconds }
        : { kind: 'bulk', port: p.dfpPort, connect: `127.0.0.1:${p.ports.stream}`, seconds };
    case 'd':
      return direct
        ? { kind: 'setup', port: p.ports.echo, connect: null, conns: 32, seconds }
        : { kind: 'setup', port: p.dfpPort, connect: `127.0.0.1:${p.ports.echo}`, conns: 32, seconds };
  }
}

interface Sample {
  value: number; // the figure's main number (req/s, µs, MB/s, setups/s)
  p50Us: number;
  p99Us: number;
  rps: number;
  errors: number;
  firstError: string | null;
  dfpPct: number; // dfp process CPU, % of one core
  loadSidePct: number; // load generator + origin processes, % of one core
  proxyCoreBusy: number;
  loadCoreBusy: number;
  dfpUsPerOp: number; // dfp CPU µs per request / setup
  originConnsPer1k: number; // HTTP connections the origin accepted per 1,000 requests
}

function mainValue(figure: Figure, r: JobResult): { value: number; ops: number } {
  if (r.kind === 'http') {
    const rps = r.requests / r.seconds;
    if (figure === 'a1') return { value: r.p50Us, ops: r.requests };
    if (figure === 'b') return { value: r.bodyBytes / r.seconds / 1e6, ops: r.requests };
    return { value: rps, ops: r.requests };
  }
  if (r.kind === 'bulk') return { value: r.seconds > 0 ? r.bytes / r.seconds / 1e6 : Number.NaN, ops: 0 };
  return { value: r.ok / r.seconds, ops: r.ok };
}

interface OriginStats {
  httpConnections: number;
  requests: number;
}

function originStats(p: Procs): Promise<OriginStats> {
  const answer = waitMessage(p.origin, 'origin', 10_000, (m) => ((m as { kind?: string }).kind === 'stats' ? (m as OriginStats) : undefined));
  p.origin.send({ kind: 'stats' });
  return answer;
}

async function measure(p: Procs, pin: Pinning, figure: Figure, target: Target, seconds: number): Promise<Sample> {
  const o0 = await originStats(p);
  const dfpPid = p.dfp.pid;
  const sidePids = [p.load.child.pid, p.origin.pid];
  const side = () => sidePids.reduce<number>((s, pid) => s + cpuSeconds(pid), 0);
  const c0 = coreJiffies(pin.proxyCpu);
  const l0 = coreJiffies(pin.loadCpu);
  const d0 = cpuSeconds(dfpPid);
  const s0 = side();
  const t0 = performance.now();
  const r = await p.load.run(jobFor(p, figure, target, seconds));
  const wall = (performance.now() - t0) / 1000;
  const dDfp = cpuSeconds(dfpPid) - d0;
  const dSide = side() - s0;
  const c1 = coreJiffies(pin.proxyCpu);
  const l1 = coreJiffies(pin.loadCpu);
  const o1 = await originStats(p);
  const { value, ops } = mainValue(figure, r);
  return {
    value,
    p50Us: r.kind === 'http' ? r.p50Us : Number.NaN,
    p99Us: r.kind === 'http' ? r.p99Us : Number.NaN,
    rps: r.kind === 'http' ? r.requests / r.seconds : Number.NaN,
    errors: r.errors + (r.kind === 'http' ? r.non2xx : 0),
    firstError: r.firstError ?? (r.kind === 'http' && r.non2xx > 0 ? `${r.non2xx} non-2xx responses` : null),
    dfpPct: (100 * dDfp) / wall,
    loadSidePct: (100 * dSide) / wall,
    proxyCoreBusy: busyPercent(c0, c1),
    loadCoreBusy: busyPercent(l0, l1),
    dfpUsPerOp: ops > 0 ? (dDfp * 1e6) / ops : Number.NaN,
    originConnsPer1k: r.kind === 'http' && r.requests > 0 ? (1000 * (o1.httpConnections - o0.httpConnections)) / r.requests : Number.NaN,
  };
}

// ------------------------------------------------------------------ report
const UNITS: Record<Figure, string> = {
  a50: 'a50 req/s (50 conns, 13 B body)',
  a1: 'a1 p50 µs (1 conn; lower is better)',
  b: 'b MB/s (4 conns, 1 MiB bodies)',
  c: 'c MB/s (one CONNECT tunnel, downstream)',
  d: 'd setups/s (32 loops)',
};

const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '–');
const pick = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));

/** Which side ran out of CPU: our processes first, then a core shared with other users' processes. */
function boundBy(s: Sample[], target: Target, pinned: boolean): string {
  const parts: string[] = [];
  const dfp = pick(s, (x) => x.dfpPct);
  if (target === 'dfp' && dfp >= BUSY_PERCENT) parts.push('dfp');
  else if (target === 'dfp' && pinned && pick(s, (x) => x.proxyCoreBusy) >= BUSY_PERCENT) parts.push('dfp core (shared)');
  if (pick(s, (x) => x.loadSidePct) >= BUSY_PERCENT) parts.push('load gen + origin');
  else if (pinned && pick(s, (x) => x.loadCoreBusy) >= BUSY_PERCENT) parts.push('load core (shared)');
  return parts.length > 0 ? parts.join(' + ') : 'neither (latency)';
}

function report(samples: Map<string, Sample[]>, pin: Pinning, header: string[], footer: string[]): string {
  const get = (f: Figure, t: Target) => samples.get(`${f}/${t}`) ?? [];
  const out = [...header, '', '| figure | DIRECT | dfp | dfp/DIRECT |', '|---|---|---|---|'];
  const row = (name: string, d: number, x: number, digits = 0) => out.push(`| ${name} | ${fmt(d, digits)} | ${fmt(x, digits)} | ${ratio(x, d)} |`);
  for (const f of ONLY) {
    const d = get(f, 'DIRECT');
    const x = get(f, 'dfp');
    if (d.length === 0 && x.length === 0) continue;
    row(UNITS[f], pick(d, (s) => s.value), pick(x, (s) => s.value));
    if (f === 'a50') {
      row('a50 p50 µs', pick(d, (s) => s.p50Us), pick(x, (s) => s.p50Us));
      row('a50 p99 µs', pick(d, (s) => s.p99Us), pick(x, (s) => s.p99Us));
    }
    if (f === 'a1') row('a1 req/s', pick(d, (s) => s.rps), pick(x, (s) => s.rps));
  }
  out.push('', 'CPU (medians; % of one core): which side was CPU-bound', '');
  out.push(
    '| figure | DIRECT: load core busy % | load gen + origin % | bound by | dfp: dfp process % | load core busy % | load gen + origin % | bound by | dfp CPU µs/op | dfp: origin conns per 1k req |',
  );
  out.push('|---|---|---|---|---|---|---|---|---|---|');
  const pinned = pin.loadCpu !== null;
  for (const f of ONLY) {
    const d = get(f, 'DIRECT');
    const x = get(f, 'dfp');
    if (d.length === 0 && x.length === 0) continue;
    const dLoad = pick(d, (s) => s.loadCoreBusy);
    const xLoad = pick(x, (s) => s.loadCoreBusy);
    const perOp = f === 'a50' || f === 'a1' || f === 'b' || f === 'd' ? fmt(pick(x, (s) => s.dfpUsPerOp), 1) : '–';
    out.push(
      `| ${f} | ${fmt(dLoad)} | ${fmt(pick(d, (s) => s.loadSidePct))} | ${d.length ? boundBy(d, 'DIRECT', pinned) : '–'} | ` +
        `${fmt(pick(x, (s) => s.dfpPct))} | ${fmt(xLoad)} | ${fmt(pick(x, (s) => s.loadSidePct))} | ${x.length ? boundBy(x, 'dfp', pinned) : '–'} | ${perOp} | ${fmt(pick(x, (s) => s.originConnsPer1k), 1)} |`,
    );
  }
  out.push('', 'load core busy % counts every process on that core (other users too); load gen + origin % only ours.');
  out.push('dfp CPU µs/op: dfp utime+stime per request (a50, a1, b) or per tunnel (d). Origin conns per 1k req: upstream connections dfp opened (keep-alive reuse: near 0).');
  if (!pinned) out.push('Not pinned: "bound by" uses load gen + origin %.');
  if (ROUNDS > 1) {
    out.push('', 'Spread (min–max over rounds)', '', '| figure | DIRECT | dfp |', '|---|---|---|');
    for (const f of ONLY) {
      const [dl, dh] = spread(get(f, 'DIRECT').map((s) => s.value));
      const [xl, xh] = spread(get(f, 'dfp').map((s) => s.value));
      out.push(`| ${f} | ${fmt(dl)}–${fmt(dh)} | ${fmt(xl)}–${fmt(xh)} |`);
    }
  }
  const errors: string[] = [];
  for (const [key, xs] of samples) {
    const n = xs.reduce((a, s) => a + s.errors, 0);
    if (n > 0) errors.push(`${key}: ${n} errors (first: ${xs.find((s) => s.firstError !== null)?.firstError ?? '?'})`);
  }
  out.push('', errors.length > 0 ? `Errors: ${errors.join('; ')}` : 'Errors: none');
  out.push(...footer);
  const a50 = ratio(pick(get('a50', 'dfp'), (s) => s.value), pick(get('a50', 'DIRECT'), (s) => s.value));
  out.push('', `proxy a50 ratio dfp/DIRECT: ${a50 === '–' ? 'n/a' : a50}`);
  return out.join('\n') + '\n';
}

// -------------------------------------------------------------------- main
async function sanity(p: Procs): Promise<Set<Figure>> {
  const skip = new Set<Figure>();
  const http = await p.load.run(jobFor(p, 'a1', 'dfp', 0.3));
  if (http.kind !== 'http' || http.requests === 0 || http.errors > 0 || http.non2xx > 0) {
    process.stderr.write(`bench proxy: dfp HTTP check failed (${JSON.stringify(http)}): a50, a1, b skipped\n`);
    for (const f of ['a50', 'a1', 'b'] as const) skip.add(f);
  }
  const tunnel = await p.load.run({ ...(jobFor(p, 'd', 'dfp', 0.3) as Extract<Job, { kind: 'setup' }>), conns: 1 });
  if (tunnel.kind !== 'setup' || tunnel.ok === 0) {
    process.stderr.write(`bench proxy: dfp CONNECT check failed (${JSON.stringify(tunnel)}): c, d skipped\n`);
    skip.add('c');
    skip.add('d');
  }
  return skip;
}

async function main(): Promise<string> {
  const tStart = Date.now();
  const buildLine = buildIfStale('proxy');
  const pin = choosePinning();
  const tmp = mkdtempSync(join(os.tmpdir(), 'dfp-bench-proxy-'));
  const logPath = join(tmp, 'access.log');
  const logFd = openSync(logPath, 'w');
  const loadBefore = os.loadavg().map((v) => v.toFixed(2)).join(' ');
  const perRound = ONLY.reduce((s, f) => s + 2 * secondsOf(f), 0);
  process.stderr.write(`bench proxy: ${ROUNDS} round(s) × ${perRound} s of load + warm-up; ${pin.why}\n`);
  const watchdog = setTimeout(() => {
    process.stderr.write('bench proxy: watchdog fired, stopping\n');
    for (const c of started) c.kill('SIGKILL');
    process.exit(1);
  }, (ROUNDS * perRound + ROUNDS * ONLY.length * 2 * 25 + 180) * 1000);
  watchdog.unref();
  try {
    const p = await startAll(pin, tmp, logFd, logPath);
    const skip = await sanity(p);
    const figures = ONLY.filter((f) => !skip.has(f));
    // warm-up (not recorded): JIT of dfp, origin and load generator
    for (const t of TARGETS) {
      if (figures.includes('a50') || figures.includes('a1')) await p.load.run(jobFor(p, 'a50', t, 1));
      if (figures.includes('b')) await p.load.run(jobFor(p, 'b', t, 0.5));
      if (figures.includes('d')) await p.load.run(jobFor(p, 'd', t, 0.5));
    }
    const rssIdleKb = statusKb(p.dfp.pid, 'VmRSS');
    const samples = new Map<string, Sample[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Target[] = round % 2 === 1 ? ['DIRECT', 'dfp'] : ['dfp', 'DIRECT'];
      for (const f of figures) {
        for (const t of order) {
          const s = await measure(p, pin, f, t, secondsOf(f));
          const key = `${f}/${t}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          const extra = f === 'a50' ? ` p50 ${fmt(s.p50Us)} µs p99 ${fmt(s.p99Us)} µs` : '';
          process.stderr.write(
            `  round ${round} ${f} ${t}: ${fmt(s.value, f === 'a50' || f === 'd' ? 0 : 1)}${extra}; dfp ${fmt(s.dfpPct)}%, ` +
              `load gen + origin ${fmt(s.loadSidePct)}%, core0 ${fmt(s.proxyCoreBusy)}%, core1 ${fmt(s.loadCoreBusy)}%${s.errors ? `, ${s.errors} errors` : ''}\n`,
          );
        }
      }
    }
    const rssEndKb = statusKb(p.dfp.pid, 'VmRSS');
    const hwmKb = statusKb(p.dfp.pid, 'VmHWM');
    const logBytes = statSync(logPath).size;
    const header = [
      `### dfp vs DIRECT (bench/proxy.ts), medians of ${ROUNDS} round(s)`,
      '',
      `node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), load average before: ${loadBefore}`,
      `${pin.why}; ${SECONDS} s per run (a1, d: ${secondsOf('a1')} s); DIRECT and dfp alternate within each round`,
      `dfp: node dist/cli.js --config (access.connectPorts = sink ports) --listen 127.0.0.1:${p.dfpPort} --admin off --allow-private; access log on, to a file`,
      buildLine,
    ];
    if (skip.size > 0) header.push(`SKIPPED (dfp check failed): ${[...skip].join(', ')}`);
    const footer = [
      '',
      `dfp: a50 CPU ${fmt(pick(samples.get('a50/dfp') ?? [], (s) => s.dfpUsPerOp), 1)} µs per request (utime+stime); RSS idle ${fmt(rssIdleKb / 1024, 1)} MiB, after the runs ${fmt(rssEndKb / 1024, 1)} MiB, peak ${fmt(hwmKb / 1024, 1)} MiB; access log ${fmt(logBytes / 1e6, 1)} MB`,
      `Load generator and origin are Node processes sharing one core: when that core is CPU-bound the DIRECT figure (and so the ratio) is capped by them, not by the network. The machine is shared: figures are noisy. Total ${((Date.now() - tStart) / 1000).toFixed(0)} s.`,
    ];
    return report(samples, pin, header, footer);
  } finally {
    clearTimeout(watchdog);
    stopping = true;
    for (const c of started.reverse()) await stopChild(c);
    closeSync(logFd);
    rmSync(tmp, { recursive: true, force: true });
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of started) c.kill('SIGTERM');
    process.exit(130);
  });
}

process.stdout.write(await main());
