/**
 * Binds the data path's metric hooks (proxy/metrics-hooks.ts) to the
 * Prometheus handles of metrics.ts: counter handles are resolved once, DNS
 * figures are read at scrape time.
 */
import type { DnsStats } from '../dns/cache.js';
import type { QueryKind } from '../dns/resolver.js';
import type { DenyReason, ProxyMetrics, ProxyMode } from '../proxy/metrics-hooks.js';
import { createDfpMetrics, type DfpMetrics } from './metrics.js';

/** What attach() reads: the DNS cache's figures (a ProxyContext has one). */
export interface MetricsSources {
  readonly dns: { stats(): DnsStats };
}

export interface BoundMetrics {
  readonly dfp: DfpMetrics;
  readonly hooks: ProxyMetrics;
  /** Read DNS cache figures from this proxy (its ProxyContext) at scrape time. */
  attach(sources: MetricsSources): void;
  render(): string;
}

/** dfp_dns_queries_total{result} series, in exposition order: every QueryKind. */
const DNS_RESULTS = ['success', 'nxdomain', 'nodata', 'timeout', 'error'] as const satisfies readonly QueryKind[];
// A QueryKind added to the resolver without a series here fails to compile.
const DNS_RESULTS_COVER_QUERY_KINDS: Exclude<QueryKind, (typeof DNS_RESULTS)[number]> extends never ? true : false = true;
void DNS_RESULTS_COVER_QUERY_KINDS;

export function createMetrics(): BoundMetrics {
  const m = createDfpMetrics();
  const hooks: ProxyMetrics = {
    connectionOpened: () => m.connectionsActive.inc(),
    connectionClosed: () => m.connectionsActive.dec(),
    requestDone(mode: ProxyMode, status: number, durationMs: number) {
      m.requestCounter(mode, status).inc();
      m.requestDuration(mode).observe(durationMs / 1000);
    },
    upstreamConnected: (connectMs: number) => m.upstreamConnectDurationSeconds.observe(connectMs / 1000),
    tunnelOpened: () => m.tunnelsActive.inc(),
    tunnelClosed(bytesUp: number, bytesDown: number) {
      m.tunnelsActive.dec();
      m.tunnelBytesUpstream.inc(bytesUp);
      m.tunnelBytesDownstream.inc(bytesDown);
    },
    denied: (reason: DenyReason) => m.deniedCounter(reason).inc(),
    wouldDeny: (reason: DenyReason) => m.wouldDenyTotal.labels(reason).inc(),
    rateLimited: () => m.rateLimitedTotal.inc(),
    proxyProtocolRejected: (reason: string) => m.proxyProtocolRejectedTotal.labels(reason).inc(),
    sniRejected: (code: string) => m.sniRejectedTotal.labels(code).inc(),
    tlsHandshake: (side: 'client' | 'upstream', ok: boolean) => m.tlsHandshakesTotal.labels(side, ok ? 'ok' : 'error').inc(),
  };
  return {
    dfp: m,
    hooks,
    attach(sources: MetricsSources) {
      // Read through the context each scrape: a reload may replace the DNS cache. Counters are per cache,
      // so a replaced cache starts again from 0 (as after a restart; Prometheus rate() handles resets).
      m.dnsCacheHitsTotal.track(() => sources.dns.stats().hits);
      m.dnsCacheHosts.track(() => sources.dns.stats().hosts);
      for (const result of DNS_RESULTS) m.dnsQueriesTotal.labels(result).track(() => sources.dns.stats().queries[result]);
    },
    render: () => m.render(),
  };
}
