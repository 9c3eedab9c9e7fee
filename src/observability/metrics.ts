/**
 * Every dfp metric, declared once: DFP_METRICS is the one table (name, type,
 * help, label names, buckets). The exposition's HELP/TYPE lines, METRIC_NAMES
 * and the typed handles of createDfpMetrics() are all derived from it; a
 * metric name appears nowhere else in the source.
 *
 * Hot path: handles are resolved when the registry is made (or on first use,
 * then kept in an indexed slot); the data path does `inc()` / `observe()`.
 */
import type { DenyReason } from '../policy/deny-reasons.js';
import { PROXY_MODES, type ProxyMode } from '../proxy/mode.js';
import { Counter, Histogram, Registry, type HandlesOf, type MetricDef } from './prometheus.js';

export { CONTENT_TYPE, Counter, Family, formatValue, Gauge, Histogram, Registry } from './prometheus.js';
export type { MetricDef, MetricType } from './prometheus.js';

/** The request modes, as they appear in the `mode` label (declared in proxy/mode.ts). */
export const MODES = PROXY_MODES;
export type Mode = ProxyMode;

/** Seconds: 1 ms … 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/**
 * The table. Keys name the handles; the order is the exposition's order.
 * Add rows at the end; never rename a metric, a label or a label value
 * (DESIGN.md's admin port lists the names users rely on).
 */
export const DFP_METRICS = {
  requestsTotal: {
    name: 'dfp_requests_total',
    type: 'counter',
    help: 'Requests and tunnels answered, by mode and status code.',
    labels: ['mode', 'code'],
  },
  requestDurationSeconds: {
    name: 'dfp_request_duration_seconds',
    type: 'histogram',
    help: 'Time from request head to the end of the response, by mode.',
    labels: ['mode'],
    buckets: LATENCY_BUCKETS,
  },
  tunnelsActive: { name: 'dfp_tunnels_active', type: 'gauge', help: 'Open CONNECT and SNI tunnels.', labels: [] },
  tunnelBytesTotal: {
    name: 'dfp_tunnel_bytes_total',
    type: 'counter',
    help: 'Bytes relayed through tunnels; upstream = client to origin.',
    labels: ['direction'],
  },
  upstreamConnectDurationSeconds: {
    name: 'dfp_upstream_connect_duration_seconds',
    type: 'histogram',
    help: 'Time to establish upstream TCP connections.',
    labels: [],
    buckets: LATENCY_BUCKETS,
  },
  dnsQueriesTotal: { name: 'dfp_dns_queries_total', type: 'counter', help: 'DNS queries sent, by result.', labels: ['result'] },
  dnsCacheHitsTotal: { name: 'dfp_dns_cache_hits_total', type: 'counter', help: 'Lookups answered from the DNS cache.', labels: [] },
  dnsCacheHosts: { name: 'dfp_dns_cache_hosts', type: 'gauge', help: 'Hosts in the DNS cache.', labels: [] },
  deniedTotal: { name: 'dfp_denied_total', type: 'counter', help: 'Requests denied by policy, by reason.', labels: ['reason'] },
  connectionsActive: { name: 'dfp_connections_active', type: 'gauge', help: 'Open client connections.', labels: [] },
  sniRejectedTotal: { name: 'dfp_sni_rejected_total', type: 'counter', help: 'SNI passthrough connections closed without a tunnel, by reason.', labels: ['reason'] },
  proxyProtocolRejectedTotal: { name: 'dfp_proxy_protocol_rejected_total', type: 'counter', help: 'Connections on a proxyProtocol listener closed without a valid PROXY header, by reason.', labels: ['reason'] },
  configReloadsTotal: { name: 'dfp_config_reloads_total', type: 'counter', help: 'Config reloads (SIGHUP, --watch), by result: ok, or error (the running config kept).', labels: ['result'] },
  wouldDenyTotal: { name: 'dfp_would_deny_total', type: 'counter', help: 'Requests access rules would have denied in report mode (let through), by reason.', labels: ['reason'] },
  rateLimitedTotal: { name: 'dfp_rate_limited_total', type: 'counter', help: 'Requests and tunnels refused by rateLimit (429).', labels: [] },
  tlsHandshakesTotal: { name: 'dfp_tls_handshakes_total', type: 'counter', help: 'TLS handshakes, by side (client: an HTTPS listener; upstream: origination) and result.', labels: ['side', 'result'] },
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof DFP_METRICS;
export type MetricName = (typeof DFP_METRICS)[MetricKey]['name'];

/** Every dfp metric name, in exposition order. */
export const METRIC_NAMES: readonly MetricName[] = Object.values(DFP_METRICS).map((d) => d.name);

/** One handle per table row, plus the label sets the data path uses, resolved once. */
export interface DfpMetrics extends HandlesOf<typeof DFP_METRICS> {
  readonly registry: Registry;
  /** dfp_tunnel_bytes_total{direction="upstream"}: client → origin. */
  readonly tunnelBytesUpstream: Counter;
  /** dfp_tunnel_bytes_total{direction="downstream"}: origin → client. */
  readonly tunnelBytesDownstream: Counter;
  /** dfp_requests_total{mode,code} handle, cached per (mode, status): no strings after the first use. */
  requestCounter(mode: Mode, status: number): Counter;
  /** dfp_request_duration_seconds{mode} handle (preallocated). */
  requestDuration(mode: Mode): Histogram;
  /** dfp_denied_total{reason} handle, made on the first denial of that reason (no series before). */
  deniedCounter(reason: DenyReason): Counter;
  render(): string;
}

/** A mode's slot in MODES; compares, not a keyed lookup, as it runs once per request. */
function modeIndex(mode: Mode): number {
  return mode === 'forward' ? 0 : mode === 'connect' ? 1 : mode === 'gateway' ? 2 : 3;
}
for (let i = 0; i < MODES.length; i++) {
  if (modeIndex(MODES[i]!) !== i) throw new Error(`metrics: modeIndex does not follow PROXY_MODES at ${MODES[i]}`);
}

/** A fresh registry with every dfp metric declared (one per proxy process). */
export function createDfpMetrics(): DfpMetrics {
  const registry = new Registry();
  const h = registry.defineAll(DFP_METRICS);

  const durations = MODES.map((m) => h.requestDurationSeconds.labels(m));
  // [mode][status - 100] → Counter, filled on first use; index 500 holds out-of-range codes.
  const byStatus: (Counter | undefined)[][] = MODES.map(() => new Array<Counter | undefined>(501));
  // Filled on first use, so a reason has no series until it happens (as before the table).
  const denied: Partial<Record<DenyReason, Counter>> = {};

  return {
    ...h,
    registry,
    tunnelBytesUpstream: h.tunnelBytesTotal.labels('upstream'),
    tunnelBytesDownstream: h.tunnelBytesTotal.labels('downstream'),
    requestCounter(mode: Mode, status: number): Counter {
      const row = byStatus[modeIndex(mode)]!;
      const slot = status >= 100 && status <= 599 ? status - 100 : 500;
      return row[slot] ?? (row[slot] = h.requestsTotal.labels(mode, slot === 500 ? 'other' : String(status)));
    },
    requestDuration(mode: Mode): Histogram {
      return durations[modeIndex(mode)]!;
    },
    deniedCounter(reason: DenyReason): Counter {
      return denied[reason] ?? (denied[reason] = h.deniedTotal.labels(reason));
    },
    render: () => registry.render(),
  };
}
