/**
 * Binds the data path's metric hooks to the Prometheus registry: counter
 * handles are resolved once, DNS and pool figures are read at scrape time.
 */
import type { ProxyContext } from '../proxy/context.js';
import type { ProxyMetrics, ProxyMode } from '../proxy/metrics-hooks.js';
import { createDfpMetrics, type DfpMetrics } from './metrics.js';

export interface BoundMetrics {
  readonly dfp: DfpMetrics;
  readonly hooks: ProxyMetrics;
  /** Read DNS cache figures from this proxy at scrape time. */
  attach(ctx: ProxyContext): void;
  render(): string;
}

const DNS_RESULTS = ['success', 'nxdomain', 'nodata', 'timeout', 'error'] as const;

export function createMetrics(): BoundMetrics {
  const m = createDfpMetrics();
  const deniedHandles = new Map<string, ReturnType<typeof m.deniedTotal.labels>>();
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
    denied(reason: string) {
      let handle = deniedHandles.get(reason);
      if (handle === undefined) {
        handle = m.deniedTotal.labels(reason);
        deniedHandles.set(reason, handle);
      }
      handle.inc();
    },
  };
  return {
    dfp: m,
    hooks,
    attach(ctx: ProxyContext) {
      const dns = ctx.dns;
      m.dnsCacheHitsTotal.track(() => dns.stats().hits);
      m.dnsCacheHosts.track(() => dns.stats().hosts);
      for (const result of DNS_RESULTS) m.dnsQueriesTotal.labels(result).track(() => dns.stats().queries[result]);
    },
    render: () => m.render(),
  };
}
