import type { Config } from './types.js';

/** The embedded safe default: `dfp` with no arguments. */
export function defaultConfig(): Config {
  return {
    listeners: [{ address: { host: '127.0.0.1', port: 8080 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }],
    admin: { host: '127.0.0.1', port: 9901 },
    dns: {
      servers: [],
      lookupFamily: 'V4_PREFERRED',
      minTtlMs: 1_000,
      maxTtlMs: 300_000,
      negativeTtlMs: 5_000,
      queryTimeoutMs: 5_000,
      retries: 1,
      hostTtlMs: 300_000,
      maxHosts: 10_000,
      maxPendingLookups: 1_024,
      preresolve: [],
    },
    access: { mode: 'enforce', allowPrivateDestinations: false, allow: [], deny: [], connectPorts: [443], upgrades: ['websocket'], connectSni: 'off' },
    auth: { basic: null },
    rateLimit: { perClient: null, store: 'memory' },
    limits: {
      maxHeaderBytes: 65_536,
      maxConnections: 10_000,
      maxConnectionsPerClient: 256,
      headerTimeoutMs: 30_000,
      responseTimeoutMs: 60_000,
      idleTimeoutMs: 300_000,
      connectTimeoutMs: 10_000,
      drainTimeoutMs: 30_000,
    },
    upstream: { maxIdlePerHost: 128, tls: { trust: { system: true, caFiles: [], caPems: [] } } },
    routes: [
      {
        match: { hosts: [], pathPrefix: '/', headers: {} },
        backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null },
      },
    ],
    workers: 1,
    log: { format: 'json', level: 'info', accessFile: null },
    pac: null,
  };
}
