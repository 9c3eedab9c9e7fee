/**
 * Load generator for bench/proxy.ts, run as its own child process (the parent
 * pins it to the load core). Raw `net` sockets on 127.0.0.1 only. It takes one
 * job at a time over IPC and answers with its figures; every job ends by a
 * timer after `seconds` (plus a bounded connect phase).
 *
 *   http   closed loop: each connection sends the next request when the
 *          previous response is complete (head found with indexOf, body framed
 *          by Content-Length; keep-alive). Latencies go to a log histogram.
 *          With `tls`, the connections speak TLS (bench/tls.ts's DIRECT).
 *          With `side` (bench/policy.ts), a side client also opens a new
 *          connection every `intervalMs` while the run lasts, sends the next
 *          of `requests` on it (each used once), reads the response and
 *          closes; its latencies (connect to end of body) are kept apart.
 *   bulk   one stream (a CONNECT tunnel, or straight to the sink): bytes/s.
 *   setup  `conns` loops of connect [+ CONNECT + 200] + 1-byte round trip +
 *          server close, counted per second. With `payload` (base64), those
 *          bytes are sent instead of the 1 byte (bench/tls.ts's sni figure: a
 *          captured TLS ClientHello, answered by the origin's first bytes).
 *
 * Exits when the parent disconnects or after MAX_LIFETIME_MS.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';

const MAX_LIFETIME_MS = 15 * 60_000;
const CONNECT_PHASE_MS = 5_000;
const SOCKET_IDLE_MS = 5_000;
const MAX_RECONNECTS = 500;
const MAX_HEAD_BYTES = 64 * 1024;
const HOST = '127.0.0.1';
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH = Buffer.from('content-length:', 'latin1');

export type Job =
  /** tls: speak TLS to `port` (trusting the PEM text `ca`); bench/tls.ts's DIRECT baseline. */
  | { kind: 'http'; port: number; request: string; conns: number; seconds: number; tls?: { ca: string }; side?: SideJob }
  | { kind: 'bulk'; port: number; connect: string | null; seconds: number }
  | { kind: 'setup'; port: number; connect: string | null; conns: number; seconds: number; payload?: string };

/** One request per new connection, every intervalMs, at most requests.length of them (bench/policy.ts). */
export interface SideJob {
  requests: string[];
  intervalMs: number;
}

export interface SideResult {
  /** Connections opened. */
  started: number;
  /** Responses complete with a 2xx. */
  ok: number;
  non2xx: number;
  errors: number;
  /** Still waiting when the run ended (not counted as errors). */
  unfinished: number;
  /** Connect to end of body, per complete response, in start order. */
  latenciesUs: number[];
  firstError: string | null;
}

export interface HttpResult {
  kind: 'http';
  requests: number;
  seconds: number;
  bodyBytes: number;
  errors: number;
  non2xx: number;
  p50Us: number;
  p99Us: number;
  /** Lower bounds of the buckets holding the 99.9th percentile and the largest latency. */
  p999Us: number;
  maxUs: number;
  firstError: string | null;
  side?: SideResult;
}
export interface BulkResult {
  kind: 'bulk';
  bytes: number;
  seconds: number;
  errors: number;
  firstError: string | null;
}
export interface SetupResult {
  kind: 'setup';
  ok: number;
  errors: number;
  seconds: number;
  firstError: string | null;
}
export type JobResult = HttpResult | BulkResult | SetupResult;

// ------------------------------------------------------------------ histogram
// Log-linear µs buckets: exact below 128 µs, then 64 sub-buckets per power of
// two (about 1.5 % resolution) up to 2^31 µs.
const SUB = 64;
const LINEAR = 128;
const BUCKETS = LINEAR + (31 - 7) * SUB;

class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;

  record(us: number): void {
    let v = us < 0 ? 0 : Math.floor(us);
    if (v >= 2 ** 31) v = 2 ** 31 - 1;
    let i: number;
    if (v < LINEAR) i = v;
    else {
      const e = 31 - Math.clz32(v); // >= 7
      i = LINEAR + (e - 7) * SUB + ((v >>> (e - 6)) & (SUB - 1));
    }
    this.counts[i]!++;
    this.total++;
  }

  /** The lower bound of the bucket holding the q-quantile (0 < q <= 1; 1: the largest value). */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.ceil(q * this.total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        if (i < LINEAR) return i;
        const e = 7 + Math.floor((i - LINEAR) / SUB);
        return (SUB + ((i - LINEAR) % SUB)) * 2 ** (e - 6);
      }
    }
    return Number.NaN;
  }
}

// ------------------------------------------------------------- head parsing
/** Content-Length of the response head in buf[start, end), -1 if absent, -2 if chunked or bad. */
function contentLength(buf: Buffer, start: number, end: number): number {
  let line = buf.indexOf(0x0a, start) + 1; // skip the status line
  while (line > 0 && line < end) {
    const eol = buf.indexOf(0x0a, line);
    if (eol < 0 || eol > end + 2) break;
    if (eol - line > CONTENT_LENGTH.length && (buf[line]! | 0x20) === 0x63 && (buf[line + 7]! | 0x20) === 0x2d) {
      let same = true;
      for (let k = 0; k < CONTENT_LENGTH.length; k++) {
        if ((buf[line + k]! | 0x20) !== CONTENT_LENGTH[k]) {
          same = false;
          break;
        }
      }
      if (same) {
        let n = 0;
        let digits = 0;
        for (let k = line + CONTENT_LENGTH.length; k < eol; k++) {
          const c = buf[k]!;
          if (c >= 0x30 && c <= 0x39) {
            n = n * 10 + (c - 0x30);
            if (++digits > 15) return -2;
          } else if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return -2;
        }
        return digits > 0 ? n : -2;
      }
    }
    line = eol + 1;
  }
  return -1;
}

/** Status code of a response head starting at `start` ("HTTP/1.1 200 ..."), 0 if malformed. */
function statusOf(buf: Buffer, start: number): number {
  const a = buf[start + 9]! - 0x30;
  const b = buf[start + 10]! - 0x30;
  const c = buf[start + 11]! - 0x30;
  if (a < 0 || a > 9 || b < 0 || b > 9 || c < 0 || c > 9) return 0;
  return a * 100 + b * 10 + c;
}

// ---------------------------------------------------------------- http job
interface Run {
  open: boolean;
  errors: number;
  firstError: string | null;
}

function fail(run: Run, why: string): void {
  run.errors++;
  if (run.firstError === null) run.firstError = why;
}

class HttpRun implements Run {
  open = false;
  errors = 0;
  firstError: string | null = null;
  requests = 0;
  non2xx = 0;
  bodyBytes = 0;
  reconnects = 0;
  readonly hist = new Histogram();
  readonly conns: HttpConn[] = [];
  constructor(
    readonly port: number,
    readonly request: Buffer,
    readonly tls: { ca: string } | null = null,
  ) {}
}

class HttpConn {
  sock: net.Socket;
  pending: Buffer | null = null;
  bodyLeft = -1; // -1: reading a head
  status = 0;
  sentAt = 0;
  connected = false;
  lastError: string | null = null;

  constructor(
    readonly run: HttpRun,
    onConnect: (c: HttpConn) => void,
  ) {
    this.sock = this.open(onConnect);
  }

  open(onConnect: (c: HttpConn) => void): net.Socket {
    const t = this.run.tls;
    const sock = t === null ? net.connect({ host: HOST, port: this.run.port, noDelay: true }) : tls.connect({ host: HOST, port: this.run.port, ca: t.ca }).setNoDelay(true);
    sock.on(t === null ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      onConnect(this);
    });
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (err) => {
      this.lastError ??= `http socket: ${err.message}`;
    });
    sock.on('close', () => this.onClose(sock));
    return sock;
  }

  send(): void {
    this.sentAt = performance.now();
    this.sock.write(this.run.request);
  }

  onClose(sock: net.Socket): void {
    const run = this.run;
    if (sock !== this.sock || !run.open) return;
    fail(run, this.lastError ?? 'connection closed by the server');
    if (run.reconnects++ >= MAX_RECONNECTS) return;
    this.lastError = null;
    this.pending = null;
    this.bodyLeft = -1;
    this.sock = this.open((c) => c.send());
  }

  onData(chunk: Buffer): void {
    const run = this.run;
    if (!run.open) return;
    let buf = chunk;
    let off = 0;
    while (off < buf.length) {
      if (this.bodyLeft < 0) {
        if (this.pending !== null) {
          buf = Buffer.concat([this.pending, buf.subarray(off)]);
          off = 0;
          this.pending = null;
        }
        const end = buf.indexOf(CRLFCRLF, off);
        if (end < 0) {
          if (buf.length - off > MAX_HEAD_BYTES) return this.broken('response head too large');
          this.pending = Buffer.from(buf.subarray(off));
          return;
        }
        this.status = statusOf(buf, off);
        const length = contentLength(buf, off, end);
        if (length < 0) return this.broken(length === -1 ? 'response without Content-Length' : 'bad Content-Length');
        this.bodyLeft = length;
        off = end + 4;
      }
      const avail = buf.length - off;
      if (avail < this.bodyLeft) {
        this.bodyLeft -= avail;
        run.bodyBytes += avail;
        return;
      }
      off += this.bodyLeft;
      run.bodyBytes += this.bodyLeft;
      this.bodyLeft = -1;
      this.complete();
      if (!run.open) return;
    }
  }

  complete(): void {
    const run = this.run;
    const now = performance.now();
    run.requests++;
    if (this.status < 200 || this.status > 299) run.non2xx++;
    run.hist.record((now - this.sentAt) * 1000);
    this.sentAt = now;
    this.sock.write(run.request);
  }

  /** Counted once, in onClose. */
  broken(why: string): void {
    this.lastError ??= why;
    this.sock.destroy();
  }
}

/** The side client of an http job: see SideJob. Bounded by the request list and by `open()`. */
function runSide(side: SideJob, port: number, open: () => boolean): { result: SideResult; stop: () => void } {
  const result: SideResult = { started: 0, ok: 0, non2xx: 0, errors: 0, unfinished: 0, latenciesUs: [], firstError: null };
  const live = new Set<net.Socket>();
  let timer: NodeJS.Timeout | null = null;
  const failSide = (why: string) => {
    result.errors++;
    result.firstError ??= why;
  };
  const once = (request: Buffer) => {
    result.started++;
    const t0 = performance.now();
    let acc: Buffer | null = null;
    let done = false;
    let why: string | null = null;
    const sock = net.connect({ host: HOST, port, noDelay: true });
    live.add(sock);
    sock.setTimeout(SOCKET_IDLE_MS);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      acc = acc === null ? chunk : Buffer.concat([acc, chunk]);
      const end = acc.indexOf(CRLFCRLF);
      if (end < 0) {
        if (acc.length > MAX_HEAD_BYTES) {
          why ??= 'side: response head too large';
          sock.destroy();
        }
        return;
      }
      const length = contentLength(acc, 0, end);
      if (length < 0) {
        why ??= 'side: response without a usable Content-Length';
        return void sock.destroy();
      }
      if (acc.length - (end + 4) < length) return;
      done = true;
      const status = statusOf(acc, 0);
      result.latenciesUs.push((performance.now() - t0) * 1000);
      if (status >= 200 && status <= 299) result.ok++;
      else {
        result.non2xx++;
        result.firstError ??= `side: status ${status}`;
      }
      sock.destroy();
    });
    sock.on('timeout', () => {
      why ??= 'side: timed out';
      sock.destroy();
    });
    sock.on('error', (err) => {
      why ??= `side socket: ${err.message}`;
    });
    sock.on('close', () => {
      live.delete(sock);
      if (!done && open()) failSide(why ?? 'side: closed before the response');
    });
  };
  let next = 0;
  const tick = () => {
    timer = null;
    if (!open() || next >= side.requests.length) return;
    once(Buffer.from(side.requests[next++]!, 'latin1'));
    timer = setTimeout(tick, side.intervalMs);
  };
  timer = setTimeout(tick, side.intervalMs);
  return {
    result,
    stop: () => {
      if (timer !== null) clearTimeout(timer);
      result.unfinished = live.size;
      for (const s of live) s.destroy();
    },
  };
}

async function runHttp(job: Extract<Job, { kind: 'http' }>): Promise<HttpResult> {
  const run = new HttpRun(job.port, Buffer.from(job.request, 'latin1'), job.tls ?? null);
  await new Promise<void>((resolve) => {
    let connected = 0;
    const timer = setTimeout(resolve, CONNECT_PHASE_MS);
    for (let i = 0; i < job.conns; i++) {
      run.conns.push(
        new HttpConn(run, () => {
          if (++connected === job.conns) {
            clearTimeout(timer);
            resolve();
          }
        }),
      );
    }
  });
  run.open = true;
  const t0 = performance.now();
  for (const c of run.conns) if (c.connected) c.send();
  const side = job.side === undefined ? null : runSide(job.side, job.port, () => run.open);
  await new Promise((r) => setTimeout(r, job.seconds * 1000));
  run.open = false;
  const seconds = (performance.now() - t0) / 1000;
  for (const c of run.conns) c.sock.destroy();
  side?.stop();
  return {
    kind: 'http',
    requests: run.requests,
    seconds,
    bodyBytes: run.bodyBytes,
    errors: run.errors,
    non2xx: run.non2xx,
    p50Us: run.hist.quantile(0.5),
    p99Us: run.hist.quantile(0.99),
    p999Us: run.hist.quantile(0.999),
    maxUs: run.hist.quantile(1),
    firstError: run.firstError,
    ...(side !== null ? { side: side.result } : {}),
  };
}

// ------------------------------------------------------------ tunnel helpers
const connectRequest = (authority: string) => Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 'latin1');

/**
 * Reads a CONNECT reply head. Returns the bytes after the head when it is a
 * 2xx, null while incomplete; throws on a non-2xx or an oversized head.
 */
function takeConnectReply(acc: { buf: Buffer | null }, chunk: Buffer): Buffer | null {
  const buf = acc.buf === null ? chunk : Buffer.concat([acc.buf, chunk]);
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) {
    if (buf.length > MAX_HEAD_BYTES) throw new Error('CONNECT reply head too large');
    acc.buf = buf;
    return null;
  }
  acc.buf = null;
  const status = statusOf(buf, 0);
  if (status < 200 || status > 299) throw new Error(`CONNECT answered ${buf.subarray(0, Math.min(end, 80)).toString('latin1')}`);
  return buf.subarray(end + 4);
}

// ---------------------------------------------------------------- bulk job
function runBulk(job: Extract<Job, { kind: 'bulk' }>): Promise<BulkResult> {
  return new Promise((resolve) => {
    const run: Run & { bytes: number } = { open: false, errors: 0, firstError: null, bytes: 0 };
    const acc = { buf: null as Buffer | null };
    let t0 = 0;
    let handshake = job.connect !== null;
    let finished = false;
    const sock = net.connect({ host: HOST, port: job.port, noDelay: true });
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(guard);
      run.open = false;
      const seconds = t0 > 0 ? (performance.now() - t0) / 1000 : 0;
      sock.destroy();
      resolve({ kind: 'bulk', bytes: run.bytes, seconds, errors: run.errors, firstError: run.firstError });
    };
    const start = () => {
      run.open = true;
      t0 = performance.now();
      setTimeout(finish, job.seconds * 1000);
    };
    const guard = setTimeout(() => {
      if (!run.open) {
        fail(run, 'tunnel not established in time');
        finish();
      }
    }, CONNECT_PHASE_MS);
    sock.on('connect', () => {
      if (job.connect !== null) sock.write(connectRequest(job.connect));
      else start();
    });
    sock.on('data', (chunk: Buffer) => {
      if (handshake) {
        let rest: Buffer | null;
        try {
          rest = takeConnectReply(acc, chunk);
        } catch (err) {
          fail(run, (err as Error).message);
          return finish();
        }
        if (rest === null) return;
        handshake = false;
        start();
        run.bytes += rest.length;
        return;
      }
      if (run.open) run.bytes += chunk.length;
    });
    let why: string | null = null;
    sock.on('error', (err) => {
      why ??= `bulk socket: ${err.message}`;
    });
    sock.on('close', () => {
      if (!finished) fail(run, why ?? (run.open ? 'stream closed early' : 'closed before the tunnel was up'));
      finish();
    });
  });
}

// --------------------------------------------------------------- setup job
function runSetup(job: Extract<Job, { kind: 'setup' }>): Promise<SetupResult> {
  return new Promise((resolve) => {
    const run: Run & { ok: number } = { open: true, errors: 0, firstError: null, ok: 0 };
    const request = job.connect !== null ? connectRequest(job.connect) : null;
    const live = new Set<net.Socket>();
    const byte = job.payload !== undefined ? Buffer.from(job.payload, 'base64') : Buffer.from('x', 'latin1');
    const t0 = performance.now();

    const once = () => {
      if (!run.open) return;
      const acc = { buf: null as Buffer | null };
      let stage = request !== null ? 0 : 1; // 0 CONNECT reply, 1 echo, 2 EOF, 3 done
      let why: string | null = null; // counted once, on close
      const sock = net.connect({ host: HOST, port: job.port, noDelay: true });
      live.add(sock);
      sock.setTimeout(SOCKET_IDLE_MS);
      sock.on('connect', () => sock.write(request ?? byte));
      sock.on('data', (chunk: Buffer) => {
        if (stage === 0) {
          let rest: Buffer | null;
          try {
            rest = takeConnectReply(acc, chunk);
          } catch (err) {
            why ??= (err as Error).message;
            return void sock.destroy();
          }
          if (rest === null) return;
          if (rest.length > 0) {
            why ??= 'bytes before the echo';
            return void sock.destroy();
          }
          stage = 1;
          sock.write(byte);
        } else if (stage === 1) stage = 2;
      });
      sock.on('end', () => {
        if (stage === 2) stage = 3;
      });
      sock.on('timeout', () => {
        why ??= 'setup timed out';
        sock.destroy();
      });
      sock.on('error', (err) => {
        why ??= `setup socket: ${err.message}`;
      });
      sock.on('close', () => {
        live.delete(sock);
        if (!run.open) return;
        if (stage === 3) run.ok++;
        else fail(run, why ?? `closed at stage ${stage}`);
        if (run.errors < 100_000) setImmediate(once);
      });
    };

    for (let i = 0; i < job.conns; i++) once();
    setTimeout(() => {
      run.open = false;
      const seconds = (performance.now() - t0) / 1000;
      for (const s of live) s.destroy();
      resolve({ kind: 'setup', ok: run.ok, errors: run.errors, seconds, firstError: run.firstError });
    }, job.seconds * 1000);
  });
}

// -------------------------------------------------------------------- main
function runJob(job: Job): Promise<JobResult> {
  switch (job.kind) {
    case 'http':
      return runHttp(job);
    case 'bulk':
      return runBulk(job);
    case 'setup':
      return runSetup(job);
  }
}

if (process.send !== undefined) {
  setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (msg: { id: number; job: Job }) => {
    runJob(msg.job).then(
      (result) => process.send!({ id: msg.id, result }),
      (err: unknown) => process.send!({ id: msg.id, error: String(err) }),
    );
  });
  process.send({ kind: 'ready' });
}
