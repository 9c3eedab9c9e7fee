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
import { acceptConnection, listenerRuntime } from './listener.js';
import { buildSnapshot } from './snapshot.js';
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
   * Stop accepting, close idle connections, let exchanges and tunnels finish up
   * to drainTimeout, then destroy what is left. Resolves when all are closed.
   */
  close(): Promise<void>;
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
    refused: new Set(),
    spareParsers: [],
    draining: false,
  };

  const servers: net.Server[] = [];
  try {
    for (const listenerConfig of config.listeners) {
      if (listenerConfig.proxyProtocol) {
        throw new Error(`listener ${listenerConfig.address.host}:${listenerConfig.address.port}: proxyProtocol is not supported yet`);
      }
      // Certificate and key are read once, at start: a bad file stops dfp here, naming it.
      const listener = listenerRuntime(listenerConfig);
      const server = net.createServer({ allowHalfOpen: true, noDelay: true });
      await listen(server, listenerConfig.address);
      // After listen, errors come from accept() (EMFILE, ENFILE, ENOBUFS): the listener keeps
      // going and the connection waits in the backlog; without a handler they would crash dfp.
      server.on('error', onAcceptError);
      // Accepted connections are RawConns where that layer is available (src/io/conn.ts),
      // net.Sockets through the 'connection' event otherwise, and always for a TLS listener (TLS wraps a stream).
      if (listener.secureContext !== null || !acceptRaw(server, (conn) => acceptConnection(ctx, listener, conn), onAcceptError)) {
        server.on('connection', (socket: net.Socket) => acceptConnection(ctx, listener, adoptNetSocket(socket)));
      }
      servers.push(server);
      const bound = server.address() as net.AddressInfo;
      ctx.listenAddresses.push({ host: bound.address, port: bound.port });
      addLoopAddress(ctx, { host: bound.address, port: bound.port });
    }
    // The admin port is part of this proxy too: a request must not reach /config through it.
    if (config.admin !== null && config.admin.port !== 0) addLoopAddress(ctx, config.admin);
    if (options.dns === undefined) await dns.start();
  } catch (err) {
    for (const s of servers) s.close();
    if (options.dns === undefined) dns.close();
    ctx.pool.close();
    throw err;
  }

  let closing: Promise<void> | null = null;
  return {
    context: ctx,
    addresses: ctx.listenAddresses,
    get isDraining() {
      return ctx.draining;
    },
    addLoopAddress(address: HostPort) {
      addLoopAddress(ctx, address);
    },
    close() {
      closing ??= shutdown(ctx, servers, options.dns === undefined);
      return closing;
    },
  };
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
  await Promise.all(closed);
  ctx.accessLog?.flush();
  if (ownsDns) ctx.dns.close();
}
