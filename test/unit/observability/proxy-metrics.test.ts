import { describe, expect, it } from 'vitest';
import type { DnsStats } from '../../../src/dns/cache.js';
import { createMetrics } from '../../../src/observability/proxy-metrics.js';
import { denyReasonForAddress } from '../../../src/policy/deny-reasons.js';

function dnsSource(stats: DnsStats) {
  return { dns: { stats: () => stats } };
}

describe('proxy metric hooks', () => {
  it('turn data-path events into the DESIGN.md series', () => {
    const b = createMetrics();
    const h = b.hooks;
    h.connectionOpened();
    h.connectionOpened();
    h.connectionClosed();
    h.requestDone('forward', 200, 3.2);
    h.requestDone('connect', 403, 0.4);
    h.requestDone('sni', 999, 40_000);
    h.upstreamConnected(12);
    h.tunnelOpened();
    h.tunnelClosed(7, 10);
    h.denied('connect_port');
    h.denied('connect_port');
    h.denied('no_route');
    const text = b.render();
    expect(text).toContain('dfp_connections_active 1\n');
    expect(text).toContain('dfp_requests_total{mode="forward",code="200"} 1\n');
    expect(text).toContain('dfp_requests_total{mode="connect",code="403"} 1\n');
    expect(text).toContain('dfp_requests_total{mode="sni",code="other"} 1\n');
    expect(text).toContain('dfp_request_duration_seconds_bucket{mode="forward",le="0.005"} 1\n');
    expect(text).toContain('dfp_request_duration_seconds_bucket{mode="sni",le="30"} 0\n');
    expect(text).toContain('dfp_request_duration_seconds_bucket{mode="sni",le="+Inf"} 1\n');
    expect(text).toContain('dfp_upstream_connect_duration_seconds_bucket{le="0.025"} 1\n');
    expect(text).toContain('dfp_tunnels_active 0\n');
    expect(text).toContain('dfp_tunnel_bytes_total{direction="upstream"} 7\n');
    expect(text).toContain('dfp_tunnel_bytes_total{direction="downstream"} 10\n');
    expect(text).toContain('dfp_denied_total{reason="connect_port"} 2\n');
    expect(text).toContain('dfp_denied_total{reason="no_route"} 1\n');
  });

  it('read the DNS cache figures at scrape time once attached', () => {
    const b = createMetrics();
    expect(b.render()).not.toContain('dfp_dns_queries_total{');
    const stats: DnsStats = {
      hits: 4,
      misses: 1,
      queries: { success: 3, nxdomain: 1, nodata: 0, timeout: 2, error: 0 },
      refreshFailures: 0,
      hosts: 2,
      pending: 0,
    };
    b.attach(dnsSource(stats));
    stats.hits = 5;
    const text = b.render();
    expect(text).toContain(
      [
        'dfp_dns_queries_total{result="success"} 3',
        'dfp_dns_queries_total{result="nxdomain"} 1',
        'dfp_dns_queries_total{result="nodata"} 0',
        'dfp_dns_queries_total{result="timeout"} 2',
        'dfp_dns_queries_total{result="error"} 0',
        '# HELP dfp_dns_cache_hits_total Lookups answered from the DNS cache.',
        '# TYPE dfp_dns_cache_hits_total counter',
        'dfp_dns_cache_hits_total 5',
        '# HELP dfp_dns_cache_hosts Hosts in the DNS cache.',
        '# TYPE dfp_dns_cache_hosts gauge',
        'dfp_dns_cache_hosts 2',
      ].join('\n'),
    );
  });
});

describe('denyReasonForAddress', () => {
  it.each([
    ['metadata', 'metadata_destination'],
    ['loopback', 'private_destination'],
    ['private', 'private_destination'],
    ['unspecified', 'private_destination'],
    ['invalid', 'private_destination'],
  ] as const)('%s → %s', (cls, reason) => {
    expect(denyReasonForAddress(cls)).toBe(reason);
  });
});
