/**
 * `dfp check` and admin GET /config: the effective configuration, in the file's
 * own shape (durations as "5s", addresses as "host:port"), passwords redacted.
 * Without secrets, the output loads back to the same Config.
 */
import { stringify } from 'yaml';
import { formatDuration } from '../config/duration.js';
import type { AccessEntry, BackendConfig, Config, TrustConfig, UpstreamTlsConfig } from '../config/types.js';
import { formatHostPort } from '../policy/host-port.js';

export const REDACTED = '<redacted>';

/** The effective config as YAML, secrets redacted. */
export function runCheck(config: Config): string {
  return stringify(toRawShape(config), { lineWidth: 0 });
}

function formatAccessEntry(e: AccessEntry): string | { rule: string; name: string } {
  return e.name === null ? e.rule : { rule: e.rule, name: e.name };
}

/** Config → the file shape (plain data; no secrets). */
export function toRawShape(config: Config): Record<string, unknown> {
  const d = config.dns;
  const l = config.limits;
  return {
    listeners: config.listeners.map((x) => ({
      address: formatHostPort(x.address),
      mode: x.mode,
      ...(x.tls ? { tls: { certFile: x.tls.certFile, keyFile: x.tls.keyFile } } : {}),
      proxyProtocol: x.proxyProtocol,
      ...(x.mode === 'sni' ? { upstreamPort: x.upstreamPort } : {}),
    })),
    admin: { address: config.admin ? formatHostPort(config.admin) : 'off' },
    dns: {
      servers: [...d.servers],
      lookupFamily: d.lookupFamily,
      minTtl: formatDuration(d.minTtlMs),
      maxTtl: formatDuration(d.maxTtlMs),
      negativeTtl: formatDuration(d.negativeTtlMs),
      queryTimeout: formatDuration(d.queryTimeoutMs),
      retries: d.retries,
      hostTtl: formatDuration(d.hostTtlMs),
      maxHosts: d.maxHosts,
      maxPendingLookups: d.maxPendingLookups,
      preresolve: [...d.preresolve],
    },
    access: {
      mode: config.access.mode,
      allowPrivateDestinations: config.access.allowPrivateDestinations,
      allow: config.access.allow.map(formatAccessEntry),
      deny: config.access.deny.map(formatAccessEntry),
      connectPorts: [...config.access.connectPorts],
      upgrades: [...config.access.upgrades],
      connectSni: config.access.connectSni,
    },
    auth: config.auth.basic
      ? {
          basic: {
            realm: config.auth.basic.realm,
            users: config.auth.basic.users.map((u) => ({ username: u.username, password: REDACTED })),
            ...(config.auth.basic.passwordFile !== null ? { passwordFile: config.auth.basic.passwordFile } : {}),
          },
        }
      : {},
    rateLimit: {
      ...(config.rateLimit.perClient ? { perClient: { ...config.rateLimit.perClient } } : {}),
      store: config.rateLimit.store === 'memory' ? 'memory' : `redis://${formatHostPort(config.rateLimit.store.redis)}`,
    },
    limits: {
      maxHeaderBytes: l.maxHeaderBytes,
      maxConnections: l.maxConnections,
      maxConnectionsPerClient: l.maxConnectionsPerClient,
      headerTimeout: formatDuration(l.headerTimeoutMs),
      responseTimeout: formatDuration(l.responseTimeoutMs),
      idleTimeout: formatDuration(l.idleTimeoutMs),
      connectTimeout: formatDuration(l.connectTimeoutMs),
      drainTimeout: formatDuration(l.drainTimeoutMs),
    },
    upstream: { maxIdlePerHost: config.upstream.maxIdlePerHost, tls: { ca: formatTrust(config.upstream.tls.trust) } },
    routes: config.routes.map((r) => ({
      match: { hosts: [...r.match.hosts], pathPrefix: r.match.pathPrefix, headers: { ...r.match.headers } },
      backend: formatBackend(r.backend),
    })),
    workers: config.workers,
    log: { format: config.log.format, level: config.log.level, accessFile: config.log.accessFile },
    ...(config.pac !== null ? { pac: { proxy: config.pac.proxy, direct: [...config.pac.direct] } } : {}),
  };
}

function formatTrust(trust: TrustConfig): string | string[] {
  const list = [...(trust.system ? ['system'] : []), ...trust.caFiles, ...trust.caPems.map((p) => `inline: ${p.source}`)];
  return list.length === 1 ? list[0]! : list;
}

function formatTls(tls: UpstreamTlsConfig | null): Record<string, unknown> {
  if (tls === null) return {};
  return { tls: { enabled: tls.enabled, ...(tls.trust !== null ? { ca: formatTrust(tls.trust) } : {}), sni: tls.sni, verifyHostname: tls.verifyHostname } };
}

function formatBackend(b: BackendConfig): Record<string, unknown> {
  if (b.type === 'Static') return { type: b.type, endpoints: b.endpoints.map(formatHostPort), ...formatTls(b.tls) };
  return { type: b.type, ...(b.hostRewriteHeader !== null ? { hostRewriteHeader: b.hostRewriteHeader } : {}), ...formatTls(b.tls) };
}
