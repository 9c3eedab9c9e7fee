/**
 * A running proxy: the listeners, the shared context, and graceful shutdown.
 * `startProxy` is what the CLI, the tests and the benches start.
 */
import net from 'node:net';
import type { Config, HostPort } from '../config/types.js';
import { DnsCache, type ResolvedAddress } from '../dns/cache.js';
import type { AccessLogSink } from './access-record.js';
import { acceptRaw, adoptNetSocket } from '../io/conn.js';
import { ProxyError, renderErrorReply, type ErrorCode } from '../errors.js';
import { UpstreamPool } from '../upstream/pool.js';
import { TlsSessions } from '../upstream/tls.js';
import type { ProxyContext } from './context.js';
import { acceptConnection, listenerRuntime, type ListenerRuntime } from './listener.js';
import { buildSnapshot } from './snapshot.js';
import { RedisRateLimiter } from '../policy/rate-limit-redis.js';
import { NO_METRICS, type ProxyMetrics } from './metrics-hooks.js';
import type { UpstreamConn } from './upstream-conn.js';

export interface ProxyOptions {
  accessLog?: AccessLogSink | null;
  metrics?: ProxyMetrics;
  /** Via received-by name (default "dfp"). */
  pseudonym?: string;
  /** Use this DNS cache instead of making one from config.dns (shared between tests). */
  dns?: DnsCache;
}

export interface ProxyServer {
  readonly context: ProxyContext;
  /** Bound addresses of the listeners, in config order. */
  readonly addresses: HostPort[];
  readonly isDraining: boolean;
  /**
   * Count `address` as this proxy for loop detection: a request whose destination
   * is it gets 508. For sockets of the same process bound after startProxy, such
   * as an admin port on port 0 (the admin address in the config is counted already).
   */
  addLoopAddress(address: HostPort): void;
  /**
   * Apply a new config without dropping a connection: its snapshot (rules, users, trust, certificates read
   * afresh) is swapped in whole — new connections and new requests use it, exchanges and tunnels in flight
   * finish on the one they started with; listeners whose address stays keep their socket (their TLS
   * certificate and mode are re-read), new addresses are opened, removed ones closed (their connections
   * go on); a changed `dns` section gets a new DNS cache. Rejects, changing nothing, when the config
   * cannot be used (a file that cannot be read, an address that cannot be bound).
   */
  reload(config: Config): Promise<void>;
  /** Swap the access-log sink (a reload that changed log.*); the old one is returned for the caller to close. */
  setAccessLog(sink: AccessLogSink | null): AccessLogSink | null;
  /**
   * Stop accepting, close idle connections, let exchanges and tunnels finish up
   * to drainTimeout, then destroy what is left. Resolves when all are closed.
   */
  close(): Promise<void>;
}

/** One listening socket and the listener it serves (replaced in place by a reload). */
interface ListenerEntry {
  readonly server: net.Server;
  /** `host:port` as configured: what a reload matches listeners by. */
  readonly key: string;
  /** TLS or not decides how connections are accepted: a change of it reopens the socket. */
  readonly tls: boolean;
  runtime: ListenerRuntime;
}

export async function startProxy(config: Config, options: ProxyOptions = {}): Promise<ProxyServer> {
  const pseudonym = options.pseudonym ?? 'dfp';
  const dns = options.dns ?? new DnsCache(config.dns);
  const ctx: ProxyContext = {
    snapshot: buildSnapshot(config, pseudonym),
    dns,
    pool: new UpstreamPool<UpstreamConn>(config.upstream.maxIdlePerHost, Math.min(config.limits.idleTimeoutMs || 60_000, 60_000)),
    tlsSessions: new TlsSessions(),
    accessLog: options.accessLog ?? null,
    metrics: options.metrics ?? NO_METRICS,
    listenAddresses: [],
    loopAddresses: [],
    connections: new Set(),
    perClient: new Map(),
    chainWaits: new Set(),
    refused: new Set(),
    spareParsers: [],
    draining: false,
  };

  let entries: ListenerEntry[] = [];
  try {
    // Certificates and keys are read now: a bad file stops dfp here, naming it.
    for (const listenerConfig of config.listeners) entries.push(await openListener(ctx, listenerRuntime(listenerConfig)));
    // The admin port is part of this proxy too: a request must not reach /config through it.
    if (options.dns === undefined) await dns.start();
  } catch (err) {
    for (const e of entries) e.server.close();
    if (options.dns === undefined) dns.close();
    ctx.pool.close();
    throw err;
  }
  /** Addresses the owner named as this proxy (an admin port bound on port 0). */
  const added: HostPort[] = [];
  refreshAddresses(ctx, entries, config, added);

  let ownsDns = options.dns === undefined;
  let closing: Promise<void> | null = null;
  let reloading: Promise<void> = Promise.resolve();
  const reload = async (next: Config): Promise<void> => {
    if (closing !== null) throw new Error('the proxy is shutting down');
    // Everything that can fail is made first; only then is anything swapped or closed.
    const snapshot = buildSnapshot(next, pseudonym, ctx.snapshot);
    const runtimes = next.listeners.map((l) => listenerRuntime(l));
    const kept = new Map(entries.map((e) => [e.key, e]));
    const opened: ListenerEntry[] = [];
    const reopen: { entry: ListenerEntry; runtime: ListenerRuntime }[] = [];
    try {
      for (const runtime of runtimes) {
        const old = kept.get(listenerKey(runtime.config.address));
        if (old !== undefined && old.tls === (runtime.secureContext !== null)) continue;
        if (old !== undefined) reopen.push({ entry: old, runtime }); // same address, TLS switched on or off
        else opened.push(await openListener(ctx, runtime));
      }
    } catch (err) {
      for (const e of opened) e.server.close();
      throw err;
    }
    let newDns: DnsCache | null = null;
    if (ownsDns && JSON.stringify(next.dns) !== JSON.stringify(ctx.snapshot.config.dns)) {
      newDns = new DnsCache(next.dns);
      try {
        await newDns.start();
      } catch (err) {
        for (const e of opened) e.server.close();
        newDns.close();
        throw err;
      }
    }
    // Swap: from here on nothing fails.
    const previous = ctx.snapshot;
    ctx.snapshot = snapshot;
    if (previous.rateLimiter instanceof RedisRateLimiter && previous.rateLimiter !== snapshot.rateLimiter) void previous.rateLimiter.close();
    const nextEntries: ListenerEntry[] = [];
    const wanted = new Set(runtimes.map((r) => listenerKey(r.config.address)));
    for (const e of entries) {
      if (!wanted.has(e.key) || reopen.some((r) => r.entry === e)) e.server.close(); // its connections go on
    }
    for (const { runtime } of reopen) {
      await new Promise<void>((r) => setImmediate(r)); // let the closed socket release its port
      try {
        opened.push(await openListener(ctx, runtime));
      } catch (err) {
        process.stderr.write(`dfp: reload: listener ${listenerKey(runtime.config.address)} could not be reopened: ${(err as Error).message}\n`);
      }
    }
    for (const runtime of runtimes) {
      const key = listenerKey(runtime.config.address);
      const entry = opened.find((e) => e.key === key) ?? kept.get(key);
      if (entry === undefined || entry.server.listening === false) continue;
      entry.runtime = runtime;
      nextEntries.push(entry);
    }
    entries = nextEntries;
    refreshAddresses(ctx, entries, next, added);
    if (newDns !== null) {
      const old = ctx.dns;
      ctx.dns = newDns;
      // Lookups in flight on the old cache finish (or time out) before it is closed.
      setTimeout(() => old.close(), next.dns.queryTimeoutMs * (next.dns.retries + 1) + 1_000).unref();
    }
  };
  return {
    context: ctx,
    addresses: ctx.listenAddresses,
    get isDraining() {
      return ctx.draining;
    },
    addLoopAddress(address: HostPort) {
      added.push({ host: address.host, port: address.port });
      addLoopAddress(ctx, address);
    },
    reload(next: Config) {
      // One reload at a time, in the order asked.
      const run = reloading.then(() => reload(next));
      reloading = run.catch(() => {});
      return run;
    },
    setAccessLog(sink: AccessLogSink | null) {
      const old = ctx.accessLog;
      ctx.accessLog = sink;
      return old;
    },
    close() {
      closing ??= shutdown(ctx, entries.map((e) => e.server), ownsDns);
      ownsDns = false;
      return closing;
    },
  };
}

function listenerKey(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Bind a listener and accept into the chain through its entry (so a reload can replace the runtime). */
async function openListener(ctx: ProxyContext, runtime: ListenerRuntime): Promise<ListenerEntry> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  await listen(server, runtime.config.address);
  const entry: ListenerEntry = { server, key: listenerKey(runtime.config.address), tls: runtime.secureContext !== null, runtime };
  // After listen, errors come from accept() (EMFILE, ENFILE, ENOBUFS): the listener keeps
  // going and the connection waits in the backlog; without a handler they would crash dfp.
  server.on('error', onAcceptError);
  // Accepted connections are RawConns where that layer is available (src/io/conn.ts),
  // net.Sockets through the 'connection' event otherwise, and always for a TLS listener (TLS wraps a stream).
  if (entry.tls || !acceptRaw(server, (conn) => acceptConnection(ctx, entry.runtime, conn), onAcceptError)) {
    server.on('connection', (socket: net.Socket) => acceptConnection(ctx, entry.runtime, adoptNetSocket(socket)));
  }
  return entry;
}

/**
 * ctx.listenAddresses (in config order, the same array object) and the loop addresses, rebuilt from the
 * open listeners, the config's admin address and those the owner added: a listener a reload closed stops
 * counting as this proxy (its port may belong to someone else next).
 */
function refreshAddresses(ctx: ProxyContext, entries: readonly ListenerEntry[], config: Config, added: readonly HostPort[]): void {
  ctx.loopAddresses.length = 0;
  // The admin port is part of this proxy too: a request must not reach /config through it.
  if (config.admin !== null && config.admin.port !== 0) addLoopAddress(ctx, config.admin);
  for (const a of added) addLoopAddress(ctx, a);
  ctx.listenAddresses.length = 0;
  for (const e of entries) {
    const bound = e.server.address() as net.AddressInfo;
    ctx.listenAddresses.push({ host: bound.address, port: bound.port });
    addLoopAddress(ctx, { host: bound.address, port: bound.port });
  }
}


function addLoopAddress(ctx: ProxyContext, address: HostPort): void {
  for (const a of ctx.loopAddresses) if (a.host === address.host && a.port === address.port) return;
  ctx.loopAddresses.push({ host: address.host, port: address.port });
}

let lastAcceptErrorLog = 0;

function onAcceptError(err: NodeJS.ErrnoException): void {
  const now = Date.now();
  if (now - lastAcceptErrorLog < 1_000) return;
  lastAcceptErrorLog = now;
  process.stderr.write(`dfp: accept failed: ${err.code ?? err.message} (is the file descriptor limit too low?)\n`);
}

function listen(server: net.Server, address: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address.host, port: address.port, backlog: 1024 }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

async function shutdown(ctx: ProxyContext, servers: net.Server[], ownsDns: boolean): Promise<void> {
  ctx.draining = true;
  const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
  for (const conn of [...ctx.connections]) conn.drain();
  ctx.pool.close();
  const deadline = Date.now() + ctx.snapshot.config.limits.drainTimeoutMs;
  while (ctx.connections.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const conn of [...ctx.connections]) conn.destroy();
  for (const socket of [...ctx.refused]) socket.destroy();
  for (const socket of [...ctx.chainWaits]) socket.destroy();
  await Promise.all(closed);
  ctx.accessLog?.flush();
  if (ownsDns) ctx.dns.close();
  const limiter = ctx.snapshot.rateLimiter;
  if (limiter instanceof RedisRateLimiter) await limiter.close();
}
