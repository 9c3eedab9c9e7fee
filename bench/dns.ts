/**
 * `npm run bench -- dns [--seconds S] [--connections C]`
 *
 * 1. The cost of a DNS cache hit, ns/op: DnsCache.peek and DnsCache.resolve on
 *    a cached name (1,000 hosts cached), against baselines measured in the same
 *    run (Map.get plus a time compare; an awaited resolved promise), and
 *    normalizeHost for the request's host string.
 * 2. Proxied throughput through startProxy: keep-alive clients asking for a
 *    cached name vs the same origin by IP literal, in short interleaved pairs;
 *    the ratio is the median of the per-pair ratios. Last line: `dns cached-name/ip-literal throughput ratio: X.XX`.
 *
 * Traffic stays on 127.0.0.1 (the project's test DNS server and a raw origin).
 * Every loop is bounded by an iteration count or a deadline.
 */
import net from 'node:net';
import { defaultConfig } from '../src/config/defaults.js';
import type { DnsConfig } from '../src/config/types.js';
import { DnsCache } from '../src/dns/cache.js';
import { normalizeHost } from '../src/dns/name.js';
import { startProxy } from '../src/proxy/server.js';
import { startDnsServer, type TestDnsServer } from '../test/helpers/dns-server.js';

const HOSTS = 1_000;
const ROUNDS = 7;
const PAIRS = 10;

function argNumber(flag: string, fallback: number, max: number): number {
  const i = process.argv.indexOf(flag);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? Math.min(value, max) : fallback;
}

const SECONDS_PER_ROUND = argNumber('--seconds', 3, 20);
const CONNECTIONS = argNumber('--connections', 8, 64);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Comparison {
  baselineNs: number;
  subjectNs: number;
  /** Median of the per-round subject/baseline ratios (each round runs both, back to back). */
  ratio: number;
}

type Body = (n: number) => unknown;

/** ns/op of one run of `body(iterations)` (awaited when it returns a promise). */
async function timeRun(iterations: number, body: Body): Promise<number> {
  const t0 = process.hrtime.bigint();
  await body(iterations);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/** Baseline and subject alternately, ROUNDS times each, after a warm-up of both. */
async function compare(iterations: number, baseline: Body, subject: Body): Promise<Comparison> {
  await timeRun(Math.min(iterations, 100_000), baseline);
  await timeRun(Math.min(iterations, 100_000), subject);
  const base: number[] = [];
  const subj: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    base.push(await timeRun(iterations, baseline));
    subj.push(await timeRun(iterations, subject));
    ratios.push(subj[r]! / base[r]!);
  }
  return { baselineNs: median(base), subjectNs: median(subj), ratio: median(ratios) };
}

function benchDnsConfig(dns: TestDnsServer): DnsConfig {
  return { ...defaultConfig().dns, servers: [dns.address], maxHosts: 10_000, maxPendingLookups: 2_048 };
}

async function cacheHitCost(dns: TestDnsServer): Promise<void> {
  const names: string[] = [];
  for (let k = 0; k < HOSTS; k++) {
    names.push(`h${k}.bench.test`);
    dns.set(names[k]!, { a: ['127.0.0.1'], ttl: 300 });
  }
  const cache = new DnsCache(benchDnsConfig(dns));
  for (let k = 0; k < HOSTS; k += 100) await Promise.all(names.slice(k, k + 100).map((n) => cache.resolve(n)));
  const baseline = new Map(names.map((n) => [n, { serveUntilMs: Number.POSITIVE_INFINITY, addresses: [n] }]));
  let sink = 0;

  const peek = await compare(
    5_000_000,
    (n) => {
      const now = performance.now();
      for (let i = 0, k = 0; i < n; i++, k = k + 1 === HOSTS ? 0 : k + 1) {
        const e = baseline.get(names[k]!);
        if (e !== undefined && now < e.serveUntilMs) sink += e.addresses.length;
      }
    },
    (n) => {
      for (let i = 0, k = 0; i < n; i++, k = k + 1 === HOSTS ? 0 : k + 1) {
        sink += cache.peek(names[k]!)?.length ?? 0;
      }
    },
  );
  const resolved = await compare(
    1_000_000,
    async (n) => {
      for (let i = 0, k = 0; i < n; i++, k = k + 1 === HOSTS ? 0 : k + 1) {
        sink += (await Promise.resolve(baseline.get(names[k]!)!.addresses)).length;
      }
    },
    async (n) => {
      for (let i = 0, k = 0; i < n; i++, k = k + 1 === HOSTS ? 0 : k + 1) {
        sink += (await cache.resolve(names[k]!)).length;
      }
    },
  );
  const hosts = ['bench.example.com', 'Bench.Example.COM', 'xn--bcher-kva.example', '127.0.0.1'];
  const normalize = await compare(
    2_000_000,
    (n) => {
      for (let i = 0; i < n; i++) sink += hosts[i & 3]!.length; // loop and load only
    },
    (n) => {
      for (let i = 0; i < n; i++) sink += normalizeHost(hosts[i & 3]!).kind.length;
    },
  );
  cache.close();
  if (sink === 42) process.stdout.write(''); // keep the loops observable

  const queries = dns.totalQueries();
  const line = (label: string, ns: number, extra = ''): void => {
    process.stdout.write(`  ${label.padEnd(36)}${ns.toFixed(1).padStart(7)} ns/op${extra}\n`);
  };
  process.stdout.write(`dns cache hit cost (${HOSTS} hosts cached, ${queries} queries to fill it; medians of ${ROUNDS} alternating rounds):\n`);
  line('baseline: Map.get + time compare', peek.baselineNs);
  line('DnsCache.peek (hit)', peek.subjectNs, `  (${peek.ratio.toFixed(2)}x baseline)`);
  line('baseline: Map.get + await resolved', resolved.baselineNs);
  line('await DnsCache.resolve (cached)', resolved.subjectNs, `  (${resolved.ratio.toFixed(2)}x baseline)`);
  line('normalizeHost (4 mixed hosts)', normalize.subjectNs, `  (loop alone ${normalize.baselineNs.toFixed(1)} ns/op)`);
}

/** A minimal keep-alive origin: `200 ok` for every request head (GET, no body). */
async function startOrigin(): Promise<{ port: number; close(): Promise<void> }> {
  const reply = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    let tail = '';
    socket.on('data', (chunk) => {
      const text = tail + chunk.toString('latin1');
      let from = 0;
      for (let at = text.indexOf('\r\n\r\n', from); at >= 0; at = text.indexOf('\r\n\r\n', from)) {
        socket.write(reply);
        from = at + 4;
      }
      tail = text.slice(from);
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One keep-alive client: sequential requests until the deadline; returns responses completed. */
function runClient(proxyPort: number, request: Buffer, deadline: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true });
    let done = 0;
    let pending = '';
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      if (!pending.endsWith('\r\n\r\nok')) return;
      if (!pending.startsWith('HTTP/1.1 200')) {
        socket.destroy();
        reject(new Error(`unexpected response: ${pending.slice(0, 200)}`));
        return;
      }
      pending = '';
      done++;
      if (performance.now() < deadline) socket.write(request);
      else socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(done));
  });
}

async function throughput(proxyPort: number, request: Buffer, seconds: number): Promise<number> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const counts = await Promise.all(Array.from({ length: CONNECTIONS }, () => runClient(proxyPort, request, deadline)));
  const elapsedS = (performance.now() - started) / 1000;
  return counts.reduce((a, b) => a + b, 0) / elapsedS;
}

async function proxiedThroughput(dns: TestDnsServer): Promise<number> {
  const origin = await startOrigin();
  dns.set('origin.bench.test', { a: ['127.0.0.1'], ttl: 300 });
  const config = defaultConfig();
  config.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }];
  config.admin = null;
  config.dns = { ...benchDnsConfig(dns), preresolve: ['origin.bench.test'] };
  config.access.allowPrivateDestinations = true; // the origin is on loopback
  const proxy = await startProxy(config, { accessLog: null });
  const port = proxy.addresses[0]!.port;
  const byName = Buffer.from(`GET http://origin.bench.test:${origin.port}/ HTTP/1.1\r\nHost: origin.bench.test:${origin.port}\r\n\r\n`);
  const byIp = Buffer.from(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
  try {
    await throughput(port, byName, 0.3); // warm up both paths (pool, JIT)
    await throughput(port, byIp, 0.3);
    // Short interleaved rounds, ratio per adjacent pair, median: robust to load that shifts mid-run.
    const ratios: number[] = [];
    let ipRate = 0;
    let nameRate = 0;
    for (let round = 0; round < PAIRS; round++) {
      const seconds = SECONDS_PER_ROUND / PAIRS;
      const ipFirst = round % 2 === 0; // alternate the order: no bias for going first
      const ip = ipFirst ? await throughput(port, byIp, seconds) : 0;
      const name = await throughput(port, byName, seconds);
      const ipAfter = ipFirst ? ip : await throughput(port, byIp, seconds);
      ipRate += ipAfter / PAIRS;
      nameRate += name / PAIRS;
      ratios.push(name / ipAfter);
    }
    const stats = proxy.context.dns.stats();
    process.stdout.write(`proxied GET, ${CONNECTIONS} keep-alive connections, ${SECONDS_PER_ROUND}s per mode in ${PAIRS} interleaved pairs:\n`);
    process.stdout.write(`  IP literal      ${ipRate.toFixed(0)} req/s (mean)\n`);
    process.stdout.write(`  cached name     ${nameRate.toFixed(0)} req/s (mean; dns hits ${stats.hits}, misses ${stats.misses}, queries ${dns.queries('origin.bench.test')})\n`);
    process.stdout.write(`  per-pair ratios ${ratios.map((r) => r.toFixed(2)).join(' ')}\n`);
    return median(ratios);
  } finally {
    await proxy.close();
    await origin.close();
  }
}

const dns = await startDnsServer();
try {
  await cacheHitCost(dns);
  const ratio = await proxiedThroughput(dns);
  process.stdout.write(`dns cached-name/ip-literal throughput ratio: ${ratio.toFixed(2)}\n`);
} finally {
  await dns.close();
}
