/**
 * `npm run bench -- tls [--seconds N] [--rounds N] [--idle N]`
 *
 * dfp's TLS, in one run, with nothing installed (Node and, when present,
 * `taskset`):
 *
 *   ka    keep-alive requests through TLS origination: plain HTTP absolute-form
 *         `GET https://127.0.0.1:PORT/ HTTP/1.1` to dfp's plain listener, dfp
 *         speaking TLS to a loopback Node `https` origin (test certificate,
 *         13-byte body), against DIRECT: the same load generator speaking TLS
 *         to the same origin. 50 keep-alive connections each; req/s, p50, p99
 *         and the ratio dfp/DIRECT.
 *   hs    TLS handshakes seen by the origin ('secureConnection', full or
 *         resumed by `isSessionReused()`) per 100 requests during dfp's
 *         measured (warm) runs; the warm-up's count (cold pool) beside it.
 *         Target: at most 1 per 100 requests.
 *   sni   tunnel setups/s, SNI passthrough vs CONNECT, same dfp process, same
 *         work per setup (like bench/proxy.ts's figure d): 32 loops, each a new
 *         client connection that sends a fixed ClientHello (captured once from
 *         Node's tls.connect with servername `localhost`) and reads the origin's
 *         first bytes until the origin closes. SNI: straight to dfp's `mode: sni`
 *         listener (upstreamPort = the responder's port; `localhost` is answered
 *         by dfp's resolver without a query). CONNECT: `CONNECT localhost:PORT`
 *         to the plain listener, the 200, then the same ClientHello. The origin
 *         is _tls-origin.ts's hello responder (128 fixed bytes, then FIN; no TLS
 *         work). Setups/s and the ratio SNI/CONNECT (target ≥ 1).
 *   idle  memory per idle client connection: N connections (default 2000) to
 *         dfp's HTTPS listener that complete the TLS handshake and stay idle,
 *         against N plain connections to its plain listener. Each kind on a
 *         fresh dfp process (after a small warm-up of that kind), RSS from
 *         /proc/PID/status before and after; KiB per connection.
 *
 * Certificates: a CA and a server certificate for 127.0.0.1 and localhost,
 * made with src/cli/cert.ts's makeCertificates in os.tmpdir(). dfp runs from
 * dist/ (built first when a src file is newer than dist/cli.js) as
 * `node dist/cli.js --config F --admin off --allow-private`; F sets both
 * listeners (plain and HTTPS, ports chosen here; the ka process also a
 * `mode: sni` listener), upstream.tls.ca to the CA
 * file and access.allowPrivateDestinations. Its access log stays on, written to
 * a file. dfp sits on core 0; the origin and the load generator
 * (bench/_proxy-load.ts) on core 1; the idle clients live in this process.
 * Traffic stays on 127.0.0.1, every run ends by a timer and a watchdog ends
 * the whole bench.
 * Second-to-last line: `tls sni setups ratio SNI/CONNECT: X.XX`.
 * Last line: `tls keep-alive ratio dfp/DIRECT: X.XX`.
 */
import { type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { makeCertificates } from '../src/cli/cert.js';
import type { Job } from './_proxy-load.js';
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
import { buildIfStale, commit } from './_build.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
type Target = 'DIRECT' | 'dfp';
const CONNS = 50;
const IDLE_BATCH = 50; // idle connections being set up at once
const IDLE_OPEN_LIMIT_MS = 90_000; // for all N of one kind
const SETTLE_MS = 1_500;
const SETUP_CONNS = 32; // sni figure: concurrent setup loops, as figure d
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
  if (!Number.isFinite(v) || v < min || v > max) {
    process.stderr.write(`bench tls: ${flag} must be a number from ${min} to ${max}\nusage: npm run bench -- tls [--seconds N] [--rounds N] [--idle N]\n`);
    process.exit(2);
  }
  return v;
}

const SECONDS = numberOption('--seconds', 3, 0.5, 60);
const ROUNDS = Math.round(numberOption('--rounds', 3, 1, 20));
const IDLE = Math.round(numberOption('--idle', 2000, 0, 8000));

// -------------------------------------------------------------------- build
// ---------------------------------------------------------------- processes
interface Certs {
  ca: string; // PEM text
  caPath: string;
  certPath: string;
  keyPath: string;
}

function writeCerts(tmp: string): Certs {
  const c = makeCertificates(['127.0.0.1', 'localhost']);
  const caPath = join(tmp, 'ca.pem');
  const certPath = join(tmp, 'server.pem');
  const keyPath = join(tmp, 'server-key.pem');
  writeFileSync(caPath, c.caCert);
  writeFileSync(certPath, c.serverCert);
  writeFileSync(keyPath, c.serverKey, { mode: 0o600 });
  return { ca: c.caCert, caPath, certPath, keyPath };
}

interface Dfp {
  child: ChildProcess;
  plainPort: number;
  tlsPort: number;
  sniPort: number | null;
}

const started: ChildProcess[] = [];
let stopping = false;

/** True once something accepts on 127.0.0.1:port (tried for up to timeoutMs). */
async function accepting(port: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** sniUpstreamPort: adds a `mode: sni` listener dialling that port. */
async function startDfp(pin: Pinning, tmp: string, certs: Certs, logFd: number, name: string, sniUpstreamPort: number | null = null): Promise<Dfp> {
  const plainPort = await freePort();
  const tlsPort = await freePort();
  const sniPort = sniUpstreamPort !== null ? await freePort() : null;
  const sniListeners = sniPort !== null ? [{ address: `127.0.0.1:${sniPort}`, mode: 'sni', upstreamPort: sniUpstreamPort }] : [];
  const configPath = join(tmp, `${name}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      listeners: [{ address: `127.0.0.1:${plainPort}` }, { address: `127.0.0.1:${tlsPort}`, tls: { certFile: certs.certPath, keyFile: certs.keyPath } }, ...sniListeners],
      access: { allowPrivateDestinations: true },
      upstream: { tls: { ca: [certs.caPath] } },
    }),
  );
  // no --listen: it would replace the file's http listeners, the HTTPS one included
  const args = [join(repo, 'dist', 'cli.js'), '--config', configPath, '--admin', 'off', '--allow-private', '--connect-ports', 'any'];
  const child = spawnNode(args, pin.proxyCpu, ['ignore', logFd, 'pipe'], repo);
  started.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    else if (!stopping) process.stderr.write(chunk);
  });
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`dfp exited (${code}) at start:\n${stderr}`))));
  exited.catch(() => {});
  const up = Promise.all([accepting(plainPort, 20_000), accepting(tlsPort, 20_000), sniPort !== null ? accepting(sniPort, 20_000) : true]);
  const [a, b, c] = await Promise.race([up, exited]);
  if (!a || !b || !c) throw new Error(`dfp did not listen on all its ports in 20 s:\n${stderr}`);
  return { child, plainPort, tlsPort, sniPort };
}

// ------------------------------------------------------------------ ka + hs
interface OriginStats {
  full: number;
  resumed: number;
  requests: number;
}

function originStats(origin: ChildProcess): Promise<OriginStats> {
  const answer = waitMessage(origin, 'origin', 10_000, (m) => ((m as { kind?: string }).kind === 'stats' ? (m as OriginStats) : undefined));
  origin.send({ kind: 'stats' });
  return answer;
}

interface Sample {
  rps: number;
  p50Us: number;
  p99Us: number;
  errors: number;
  firstError: string | null;
  dfpPct: number;
  loadSidePct: number;
  proxyCoreBusy: number;
  loadCoreBusy: number;
  dfpUsPerReq: number;
  hs: OriginStats; // origin-side deltas during the run
}

function job(target: Target, originPort: number, dfp: Dfp, ca: string, seconds: number, conns = CONNS): Job {
  const authority = `127.0.0.1:${originPort}`;
  if (target === 'DIRECT') {
    const request = `GET / HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: dfp-bench\r\n\r\n`;
    return { kind: 'http', port: originPort, request, conns, seconds, tls: { ca } };
  }
  const request = `GET https://${authority}/ HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: dfp-bench\r\n\r\n`;
  return { kind: 'http', port: dfp.plainPort, request, conns, seconds };
}

const delta = (a: OriginStats, b: OriginStats): OriginStats => ({ full: b.full - a.full, resumed: b.resumed - a.resumed, requests: b.requests - a.requests });

async function measure(load: LoadWorker, origin: ChildProcess, pin: Pinning, j: Job, dfpPid: number | undefined): Promise<Sample> {
  const o0 = await originStats(origin);
  const side = () => cpuSeconds(load.child.pid) + cpuSeconds(origin.pid);
  const c0 = coreJiffies(pin.proxyCpu);
  const l0 = coreJiffies(pin.loadCpu);
  const d0 = cpuSeconds(dfpPid);
  const s0 = side();
  const t0 = performance.now();
  const r = await load.run(j);
  const wall = (performance.now() - t0) / 1000;
  const dDfp = cpuSeconds(dfpPid) - d0;
  const dSide = side() - s0;
  const c1 = coreJiffies(pin.proxyCpu);
  const l1 = coreJiffies(pin.loadCpu);
  const o1 = await originStats(origin);
  if (r.kind !== 'http') throw new Error('unexpected job result');
  return {
    rps: r.requests / r.seconds,
    p50Us: r.p50Us,
    p99Us: r.p99Us,
    errors: r.errors + r.non2xx,
    firstError: r.firstError ?? (r.non2xx > 0 ? `${r.non2xx} non-2xx responses` : null),
    dfpPct: (100 * dDfp) / wall,
    loadSidePct: (100 * dSide) / wall,
    proxyCoreBusy: busyPercent(c0, c1),
    loadCoreBusy: busyPercent(l0, l1),
    dfpUsPerReq: r.requests > 0 ? (dDfp * 1e6) / r.requests : Number.NaN,
    hs: delta(o0, o1),
  };
}

// ---------------------------------------------------------------------- sni
type Tunnel = 'CONNECT' | 'SNI';

interface SetupSample {
  sps: number;
  errors: number;
  firstError: string | null;
  dfpPct: number;
  loadSidePct: number;
  proxyCoreBusy: number;
  loadCoreBusy: number;
  dfpUsPerSetup: number;
}

/** A TLS ClientHello as Node's client sends it (servername `localhost`), captured once: one whole record. */
async function captureClientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello in 5 s')), 5_000);
      let client: tls.TLSSocket | null = null;
      server.once('connection', (sock) => {
        let buf = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
            clearTimeout(timer);
            sock.destroy();
            client?.destroy();
            if (buf[0] !== 0x16) reject(new Error('captured bytes are not a TLS handshake record'));
            else resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
          }
        });
        sock.on('error', () => {});
      });
      client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
      client.on('error', () => {});
    });
  } finally {
    server.close();
  }
}

function setupJob(t: Tunnel, dfp: Dfp, helloPort: number, hello: Buffer, seconds: number, conns = SETUP_CONNS): Job {
  const payload = hello.toString('base64');
  if (t === 'SNI') return { kind: 'setup', port: dfp.sniPort!, connect: null, conns, seconds, payload };
  return { kind: 'setup', port: dfp.plainPort, connect: `localhost:${helloPort}`, conns, seconds, payload };
}

async function measureSetup(load: LoadWorker, origin: ChildProcess, pin: Pinning, j: Job, dfpPid: number | undefined): Promise<SetupSample> {
  const side = () => cpuSeconds(load.child.pid) + cpuSeconds(origin.pid);
  const c0 = coreJiffies(pin.proxyCpu);
  const l0 = coreJiffies(pin.loadCpu);
  const d0 = cpuSeconds(dfpPid);
  const s0 = side();
  const t0 = performance.now();
  const r = await load.run(j);
  const wall = (performance.now() - t0) / 1000;
  const dDfp = cpuSeconds(dfpPid) - d0;
  const dSide = side() - s0;
  const c1 = coreJiffies(pin.proxyCpu);
  const l1 = coreJiffies(pin.loadCpu);
  if (r.kind !== 'setup') throw new Error('unexpected job result');
  return {
    sps: r.ok / r.seconds,
    errors: r.errors,
    firstError: r.firstError,
    dfpPct: (100 * dDfp) / wall,
    loadSidePct: (100 * dSide) / wall,
    proxyCoreBusy: busyPercent(c0, c1),
    loadCoreBusy: busyPercent(l0, l1),
    dfpUsPerSetup: r.ok > 0 ? (dDfp * 1e6) / r.ok : Number.NaN,
  };
}

// --------------------------------------------------------------------- idle
interface IdleResult {
  kind: 'HTTPS listener (TLS)' | 'plain listener';
  wanted: number;
  open: number;
  errors: number;
  firstError: string | null;
  fdDelta: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  openSeconds: number;
}

function fdCount(pid: number | undefined): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** Opens one idle connection; resolves with it once connected (TLS: handshake done), or with an error text. */
function openIdle(port: number, ca: string | null): Promise<net.Socket | string> {
  return new Promise((resolve) => {
    const sock = ca === null ? net.connect({ host: '127.0.0.1', port }) : tls.connect({ host: '127.0.0.1', port, ca });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('not connected in 10 s');
    }, 10_000);
    sock.once(ca === null ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(err.message);
    });
  });
}

async function openMany(n: number, port: number, ca: string | null, deadline: number): Promise<{ socks: net.Socket[]; errors: number; firstError: string | null }> {
  const socks: net.Socket[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let next = 0;
  const worker = async () => {
    while (next < n && Date.now() < deadline && errors < 100) {
      next++;
      const s = await openIdle(port, ca);
      if (typeof s === 'string') {
        errors++;
        firstError ??= s;
      } else {
        s.on('error', () => {}); // a reset later is seen as a missing fd, not a crash
        socks.push(s);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IDLE_BATCH, n) }, worker));
  return { socks, errors, firstError };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idleRun(pin: Pinning, tmp: string, certs: Certs, logFd: number, useTls: boolean): Promise<IdleResult> {
  const dfp = await startDfp(pin, tmp, certs, logFd, useTls ? 'idle-tls' : 'idle-plain');
  const pid = dfp.child.pid;
  const port = useTls ? dfp.tlsPort : dfp.plainPort;
  const ca = useTls ? certs.ca : null;
  try {
    // warm-up of this kind: code paths loaded and compiled, then closed
    const warm = await openMany(100, port, ca, Date.now() + 30_000);
    for (const s of warm.socks) s.destroy();
    await sleep(SETTLE_MS);
    const fd0 = fdCount(pid);
    const rss0 = statusKb(pid, 'VmRSS');
    const t0 = performance.now();
    const { socks, errors, firstError } = await openMany(IDLE, port, ca, Date.now() + IDLE_OPEN_LIMIT_MS);
    const openSeconds = (performance.now() - t0) / 1000;
    await sleep(SETTLE_MS);
    const rss1 = statusKb(pid, 'VmRSS');
    const fd1 = fdCount(pid);
    const open = socks.filter((s) => !s.destroyed).length;
    for (const s of socks) s.destroy();
    return {
      kind: useTls ? 'HTTPS listener (TLS)' : 'plain listener',
      wanted: IDLE,
      open,
      errors,
      firstError,
      fdDelta: fd1 - fd0,
      rssBeforeKb: rss0,
      rssAfterKb: rss1,
      openSeconds,
    };
  } finally {
    await stopChild(dfp.child);
  }
}

// ------------------------------------------------------------------- report
const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : '–');
const pick = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
const sumHs = (xs: Sample[]): OriginStats => xs.reduce((a, s) => ({ full: a.full + s.hs.full, resumed: a.resumed + s.hs.resumed, requests: a.requests + s.hs.requests }), { full: 0, resumed: 0, requests: 0 });
const per100 = (h: OriginStats) => (h.requests > 0 ? (100 * (h.full + h.resumed)) / h.requests : Number.NaN);

/** Which side ran out of CPU: dfp (or its core), the load core (load generator + origin), or neither. */
type Busy = Pick<Sample, 'dfpPct' | 'proxyCoreBusy' | 'loadSidePct' | 'loadCoreBusy'>;
function boundBy(xs: Busy[], target: Target, pin: Pinning): string {
  const parts: string[] = [];
  const pick = (ys: Busy[], f: (s: Busy) => number) => median(ys.map(f));
  if (target === 'dfp' && (pick(xs, (s) => s.dfpPct) >= BUSY_PERCENT || pick(xs, (s) => s.proxyCoreBusy) >= BUSY_PERCENT)) parts.push('dfp core');
  if (pick(xs, (s) => s.loadSidePct) >= BUSY_PERCENT || (pin.loadCpu !== null && pick(xs, (s) => s.loadCoreBusy) >= BUSY_PERCENT)) parts.push('load core');
  return parts.length > 0 ? parts.join(' + ') : 'neither (latency)';
}

// --------------------------------------------------------------------- main
async function main(): Promise<string> {
  const tStart = Date.now();
  const buildLine = buildIfStale('tls');
  const commitLine = commit();
  const pin = choosePinning();
  const tmp = mkdtempSync(join(os.tmpdir(), 'dfp-bench-tls-'));
  const logPath = join(tmp, 'access.log');
  const logFd = openSync(logPath, 'w');
  const loadBefore = os.loadavg().map((v) => v.toFixed(2)).join(' ');
  process.stderr.write(`bench tls: ${ROUNDS} round(s) × ${2 * SECONDS} s of load + warm-up, then ${IDLE} idle connections of each kind; ${pin.why}\n`);
  const watchdog = setTimeout(
    () => {
      process.stderr.write('bench tls: watchdog fired, stopping\n');
      for (const c of started) c.kill('SIGKILL');
      process.exit(1);
    },
    (ROUNDS * 4 * (SECONDS + 25) + 2 * (IDLE_OPEN_LIMIT_MS / 1000 + 60) + 180) * 1000,
  );
  watchdog.unref();
  try {
    const certs = writeCerts(tmp);
    const ipc = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
    const origin = spawnNode(['--import', 'tsx', join(here, '_tls-origin.ts'), certs.certPath, certs.keyPath], pin.loadCpu, [...ipc], repo);
    started.push(origin);
    const { port: originPort, helloPort } = await waitMessage(origin, 'origin', 30_000, (m) => ((m as { kind?: string }).kind === 'ready' ? (m as { port: number; helloPort: number }) : undefined));
    const hello = await captureClientHello();
    const dfp = await startDfp(pin, tmp, certs, logFd, 'dfp', helloPort);
    const loadChild = spawnNode(['--import', 'tsx', join(here, '_proxy-load.ts')], pin.loadCpu, [...ipc], repo);
    started.push(loadChild);
    await waitMessage(loadChild, 'load generator', 30_000, (m) => ((m as { kind?: string }).kind === 'ready' ? true : undefined));
    const load = new LoadWorker(loadChild);

    // sanity: one connection each way
    for (const t of ['DIRECT', 'dfp'] as const) {
      const r = await load.run(job(t, originPort, dfp, certs.ca, 0.3, 1));
      if (r.kind !== 'http' || r.requests === 0 || r.errors > 0 || r.non2xx > 0) throw new Error(`${t} check failed: ${JSON.stringify(r)}`);
    }
    // warm-up (not in the table): JIT, dfp's pool filling from cold
    const warmDirect = await measure(load, origin, pin, job('DIRECT', originPort, dfp, certs.ca, 1), dfp.child.pid);
    const warmDfp = await measure(load, origin, pin, job('dfp', originPort, dfp, certs.ca, 1), dfp.child.pid);
    process.stderr.write(`  warm-up DIRECT ${fmt(warmDirect.rps)} req/s; dfp ${fmt(warmDfp.rps)} req/s, origin saw ${warmDfp.hs.full} full + ${warmDfp.hs.resumed} resumed handshakes\n`);
    const rssIdleKb = statusKb(dfp.child.pid, 'VmRSS');

    const samples: Record<Target, Sample[]> = { DIRECT: [], dfp: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Target[] = round % 2 === 1 ? ['DIRECT', 'dfp'] : ['dfp', 'DIRECT'];
      for (const t of order) {
        const s = await measure(load, origin, pin, job(t, originPort, dfp, certs.ca, SECONDS), dfp.child.pid);
        samples[t].push(s);
        process.stderr.write(
          `  round ${round} ${t}: ${fmt(s.rps)} req/s p50 ${fmt(s.p50Us)} µs p99 ${fmt(s.p99Us)} µs; handshakes ${s.hs.full} full + ${s.hs.resumed} resumed / ${s.hs.requests} req; ` +
            `dfp ${fmt(s.dfpPct)}%, load gen + origin ${fmt(s.loadSidePct)}%, core0 ${fmt(s.proxyCoreBusy)}%, core1 ${fmt(s.loadCoreBusy)}%${s.errors ? `, ${s.errors} errors (${s.firstError})` : ''}\n`,
        );
      }
    }

    // sni: SNI passthrough vs CONNECT setups/s, same dfp, same ClientHello, same responder
    for (const t of ['SNI', 'CONNECT'] as const) {
      const r = await load.run(setupJob(t, dfp, helloPort, hello, 0.3, 1));
      if (r.kind !== 'setup' || r.ok === 0) throw new Error(`${t} setup check failed: ${JSON.stringify(r)}`);
    }
    const warmSetup: Record<Tunnel, SetupSample | null> = { SNI: null, CONNECT: null };
    for (const t of ['CONNECT', 'SNI'] as const) warmSetup[t] = await measureSetup(load, origin, pin, setupJob(t, dfp, helloPort, hello, 1), dfp.child.pid);
    process.stderr.write(`  sni warm-up: CONNECT ${fmt(warmSetup.CONNECT!.sps)} setups/s; SNI ${fmt(warmSetup.SNI!.sps)} setups/s\n`);
    const setups: Record<Tunnel, SetupSample[]> = { CONNECT: [], SNI: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order: Tunnel[] = round % 2 === 1 ? ['CONNECT', 'SNI'] : ['SNI', 'CONNECT'];
      for (const t of order) {
        const s = await measureSetup(load, origin, pin, setupJob(t, dfp, helloPort, hello, SECONDS), dfp.child.pid);
        setups[t].push(s);
        process.stderr.write(
          `  round ${round} ${t}: ${fmt(s.sps)} setups/s; dfp ${fmt(s.dfpPct)}% (${fmt(s.dfpUsPerSetup, 1)} µs/setup), load gen + origin ${fmt(s.loadSidePct)}%, ` +
            `core0 ${fmt(s.proxyCoreBusy)}%, core1 ${fmt(s.loadCoreBusy)}%${s.errors ? `, ${s.errors} errors (${s.firstError})` : ''}\n`,
        );
      }
    }
    const rssEndKb = statusKb(dfp.child.pid, 'VmRSS');
    const hwmKb = statusKb(dfp.child.pid, 'VmHWM');
    stopping = true;
    await stopChild(loadChild);
    await stopChild(dfp.child);
    stopping = false;

    const idle: IdleResult[] = [];
    if (IDLE > 0) {
      for (const useTls of [false, true]) {
        const r = await idleRun(pin, tmp, certs, logFd, useTls);
        idle.push(r);
        process.stderr.write(
          `  idle ${r.kind}: ${r.open}/${r.wanted} open in ${fmt(r.openSeconds, 1)} s, dfp fds +${r.fdDelta}, RSS ${fmt(r.rssBeforeKb / 1024, 1)} → ${fmt(r.rssAfterKb / 1024, 1)} MiB${r.errors ? `, ${r.errors} errors (${r.firstError})` : ''}\n`,
        );
      }
    }

    // ---- the table
    let sniRatio = '–';
    const setupErrors: string[] = [];
    const d = samples.DIRECT;
    const x = samples.dfp;
    const out = [
      `### TLS: origination vs DIRECT, handshakes, idle memory (bench/tls.ts), medians of ${ROUNDS} round(s)`,
      '',
      `command: npm run bench -- tls ${process.argv.slice(2).join(' ')}`.trimEnd(),
      `commit ${commitLine}; node ${process.version}, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), load average before: ${loadBefore}`,
      `${pin.why}; ${SECONDS} s per run, ${CONNS} keep-alive connections; DIRECT and dfp alternate within each round`,
      `dfp: node dist/cli.js --config (plain + HTTPS listeners, upstream.tls.ca = test CA, allowPrivateDestinations) --admin off --allow-private --connect-ports any; access log on, to a file`,
      `origin: Node https server, RSA-2048 test certificate for 127.0.0.1, 13-byte body, keep-alive`,
      buildLine,
      '',
      '| figure | DIRECT (TLS client → origin) | dfp (plain client → dfp → TLS origin) | dfp/DIRECT |',
      '|---|---|---|---|',
      `| ka req/s (${CONNS} conns, 13 B body) | ${fmt(pick(d, (s) => s.rps))} | ${fmt(pick(x, (s) => s.rps))} | ${ratio(pick(x, (s) => s.rps), pick(d, (s) => s.rps))} |`,
      `| ka p50 µs | ${fmt(pick(d, (s) => s.p50Us))} | ${fmt(pick(x, (s) => s.p50Us))} | ${ratio(pick(x, (s) => s.p50Us), pick(d, (s) => s.p50Us))} |`,
      `| ka p99 µs | ${fmt(pick(d, (s) => s.p99Us))} | ${fmt(pick(x, (s) => s.p99Us))} | ${ratio(pick(x, (s) => s.p99Us), pick(d, (s) => s.p99Us))} |`,
      `| dfp process CPU % / µs per request | – | ${fmt(pick(x, (s) => s.dfpPct))} % / ${fmt(pick(x, (s) => s.dfpUsPerReq), 1)} µs | – |`,
      `| load gen + origin CPU % (one core) | ${fmt(pick(d, (s) => s.loadSidePct))} | ${fmt(pick(x, (s) => s.loadSidePct))} | – |`,
      `| core busy % (dfp core / load core, all users) | ${fmt(pick(d, (s) => s.proxyCoreBusy))} / ${fmt(pick(d, (s) => s.loadCoreBusy))} | ${fmt(pick(x, (s) => s.proxyCoreBusy))} / ${fmt(pick(x, (s) => s.loadCoreBusy))} | – |`,
    ];
    out.push(`| bound by (≥ ${BUSY_PERCENT} % busy) | ${boundBy(d, 'DIRECT', pin)} | ${boundBy(x, 'dfp', pin)} | – |`);
    if (ROUNDS > 1) {
      const [dl, dh] = spread(d.map((s) => s.rps));
      const [xl, xh] = spread(x.map((s) => s.rps));
      out.push(`| ka req/s spread (min–max) | ${fmt(dl)}–${fmt(dh)} | ${fmt(xl)}–${fmt(xh)} | – |`);
    }
    const hsWarm = sumHs(x);
    out.push(
      '',
      'Origin-side TLS handshakes with dfp as the client (full = new session, resumed = isSessionReused()):',
      '',
      '| phase | full | resumed | requests | handshakes per 100 requests |',
      '|---|---|---|---|---|',
      `| warm-up (cold pool, 1 s) | ${warmDfp.hs.full} | ${warmDfp.hs.resumed} | ${warmDfp.hs.requests} | ${fmt(per100(warmDfp.hs), 3)} |`,
      `| measured runs (warm, ${ROUNDS} × ${SECONDS} s) | ${hsWarm.full} | ${hsWarm.resumed} | ${hsWarm.requests} | **${fmt(per100(hsWarm), 3)}** (target ≤ 1) |`,
    );
    {
      const c = setups.CONNECT;
      const n = setups.SNI;
      const sp = (xs: SetupSample[], f: (s: SetupSample) => number) => median(xs.map(f));
      out.push(
        '',
        `Tunnel setups/s, SNI passthrough vs CONNECT (${SETUP_CONNS} loops, each: new connection [+ CONNECT localhost:PORT + 200] + a fixed ${hello.length}-byte ClientHello (SNI localhost) + the origin's 128 first bytes + its FIN; origin = a plain TCP responder, no TLS work; same dfp process, alternating):`,
        '',
        '| figure | CONNECT (plain listener) | SNI (mode: sni listener) | SNI/CONNECT |',
        '|---|---|---|---|',
        `| setups/s | ${fmt(sp(c, (s) => s.sps))} | ${fmt(sp(n, (s) => s.sps))} | **${ratio(sp(n, (s) => s.sps), sp(c, (s) => s.sps))}** (target ≥ 1) |`,
        `| dfp process CPU % / µs per setup | ${fmt(sp(c, (s) => s.dfpPct))} % / ${fmt(sp(c, (s) => s.dfpUsPerSetup), 1)} µs | ${fmt(sp(n, (s) => s.dfpPct))} % / ${fmt(sp(n, (s) => s.dfpUsPerSetup), 1)} µs | ${ratio(sp(n, (s) => s.dfpUsPerSetup), sp(c, (s) => s.dfpUsPerSetup))} |`,
        `| load gen + origin CPU % (one core) | ${fmt(sp(c, (s) => s.loadSidePct))} | ${fmt(sp(n, (s) => s.loadSidePct))} | – |`,
        `| core busy % (dfp core / load core, all users) | ${fmt(sp(c, (s) => s.proxyCoreBusy))} / ${fmt(sp(c, (s) => s.loadCoreBusy))} | ${fmt(sp(n, (s) => s.proxyCoreBusy))} / ${fmt(sp(n, (s) => s.loadCoreBusy))} | – |`,
        `| bound by (≥ ${BUSY_PERCENT} % busy) | ${boundBy(c, 'dfp', pin)} | ${boundBy(n, 'dfp', pin)} | – |`,
      );
      if (ROUNDS > 1) {
        const [cl, ch] = spread(c.map((s) => s.sps));
        const [nl, nh] = spread(n.map((s) => s.sps));
        out.push(`| setups/s spread (min–max) | ${fmt(cl)}–${fmt(ch)} | ${fmt(nl)}–${fmt(nh)} | – |`);
      }
      sniRatio = ratio(sp(n, (s) => s.sps), sp(c, (s) => s.sps));
      for (const t of ['CONNECT', 'SNI'] as const) {
        const e = setups[t].reduce((a, s) => a + s.errors, 0);
        if (e > 0) setupErrors.push(`sni ${t}: ${e} errors (first: ${setups[t].find((s) => s.firstError !== null)?.firstError ?? '?'})`);
      }
    }
    if (idle.length > 0) {
      out.push(
        '',
        `Idle client connections on dfp (fresh dfp process per kind, after a 100-connection warm-up of that kind; RSS read ${SETTLE_MS} ms after the last connection):`,
        '',
        '| listener | connections open / wanted | dfp fds added | RSS before MiB | RSS after MiB | KiB per connection | open time s |',
        '|---|---|---|---|---|---|---|',
      );
      for (const r of idle) {
        const kib = r.open > 0 ? (r.rssAfterKb - r.rssBeforeKb) / r.open : Number.NaN;
        out.push(
          `| ${r.kind} | ${r.open} / ${r.wanted} | ${r.fdDelta} | ${fmt(r.rssBeforeKb / 1024, 1)} | ${fmt(r.rssAfterKb / 1024, 1)} | **${fmt(kib, 1)}** | ${fmt(r.openSeconds, 1)} |`,
        );
      }
    }
    const errors: string[] = [...setupErrors];
    for (const t of ['DIRECT', 'dfp'] as const) {
      const n = samples[t].reduce((a, s) => a + s.errors, 0);
      if (n > 0) errors.push(`ka ${t}: ${n} errors (first: ${samples[t].find((s) => s.firstError !== null)?.firstError ?? '?'})`);
    }
    for (const r of idle) if (r.errors > 0) errors.push(`idle ${r.kind}: ${r.errors} errors (first: ${r.firstError})`);
    out.push('', errors.length > 0 ? `Errors: ${errors.join('; ')}` : 'Errors: none');
    out.push(
      '',
      `dfp (ka process): RSS after warm-up ${fmt(rssIdleKb / 1024, 1)} MiB, after the runs ${fmt(rssEndKb / 1024, 1)} MiB, peak ${fmt(hwmKb / 1024, 1)} MiB.`,
      `Load generator and origin are Node processes sharing one core, and in DIRECT that core does the TLS of both ends (in dfp's runs dfp's core does the client end): DIRECT is then capped by that core, so a ratio near or above 1 means "no slower than this baseline", not "faster than TLS". The machine is shared: figures are noisy. Total ${((Date.now() - tStart) / 1000).toFixed(0)} s.`,
      '',
      `tls sni setups ratio SNI/CONNECT: ${sniRatio.replace('–', 'n/a')}`,
      `tls keep-alive ratio dfp/DIRECT: ${ratio(pick(x, (s) => s.rps), pick(d, (s) => s.rps)).replace('–', 'n/a')}`,
    );
    return out.join('\n') + '\n';
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
process.exit(0); // idle sockets already destroyed; do not wait for their close events
