import { describe, expect, it } from 'vitest';
import { createDfpMetrics, METRIC_NAMES, Registry } from '../../../src/observability/metrics.js';

describe('Registry exposition (text format 0.0.4)', () => {
  it('renders counters, gauges and histograms with HELP and TYPE in declaration order', () => {
    const r = new Registry();
    const c = r.counterFamily('x_total', 'Things.', ['kind']);
    c.labels('a').inc();
    c.labels('a').inc(2);
    c.labels('b').inc();
    const g = r.gauge('x_open', 'Open things.');
    g.inc();
    g.inc();
    g.dec();
    const h = r.histogram('x_seconds', 'Time.', [0.1, 1]);
    h.observe(0.05);
    h.observe(0.1); // on the bound: le is inclusive
    h.observe(0.5);
    h.observe(7);
    expect(r.render()).toBe(
      [
        '# HELP x_total Things.',
        '# TYPE x_total counter',
        'x_total{kind="a"} 3',
        'x_total{kind="b"} 1',
        '# HELP x_open Open things.',
        '# TYPE x_open gauge',
        'x_open 1',
        '# HELP x_seconds Time.',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{le="0.1"} 2',
        'x_seconds_bucket{le="1"} 3',
        'x_seconds_bucket{le="+Inf"} 4',
        'x_seconds_sum 7.65',
        'x_seconds_count 4',
        '',
      ].join('\n'),
    );
  });

  it('escapes label values and help text', () => {
    const r = new Registry();
    r.counterFamily('e_total', 'Back\\slash and\nnewline.', ['v']).labels('a"b\\c\nd').inc();
    expect(r.render()).toContain('# HELP e_total Back\\\\slash and\\nnewline.\n');
    expect(r.render()).toContain('e_total{v="a\\"b\\\\c\\nd"} 1\n');
  });

  it('returns the same handle for the same label values', () => {
    const r = new Registry();
    const f = r.counterFamily('h_total', 'h', ['a', 'b']);
    expect(f.labels('1', '2')).toBe(f.labels('1', '2'));
    expect(f.labels('1', '2')).not.toBe(f.labels('12', ''));
    expect(() => f.labels('1')).toThrow('expected 2 label values');
  });

  it('reads tracked gauges and counters at scrape time', () => {
    const r = new Registry();
    let n = 5;
    r.gauge('t_hosts', 'h').track(() => n);
    r.counter('t_hits_total', 'h').track(() => n * 2);
    expect(r.render()).toContain('t_hosts 5\n');
    n = 7;
    expect(r.render()).toContain('t_hosts 7\n');
    expect(r.render()).toContain('t_hits_total 14\n');
  });

  it('rejects duplicate and malformed names', () => {
    const r = new Registry();
    r.counter('dup_total', 'h');
    expect(() => r.counter('dup_total', 'h')).toThrow('declared twice');
    expect(() => r.counter('bad-name', 'h')).toThrow('invalid metric or label name');
    expect(() => r.counter('1abc', 'h')).toThrow('invalid metric or label name');
    expect(() => r.counterFamily('ok_total', 'h', ['le'])).toThrow('reserved label name');
    expect(() => r.counterFamily('ok2_total', 'h', ['__x'])).toThrow('reserved label name');
    expect(() => r.histogram('bad_seconds', 'h', [1, 1])).toThrow('bucket bounds must increase');
  });

  it('prints special values the way Prometheus parses them', () => {
    const r = new Registry();
    r.gauge('s_a', 'h').set(Infinity);
    r.gauge('s_b', 'h').set(-Infinity);
    r.gauge('s_c', 'h').set(NaN);
    const text = r.render();
    expect(text).toContain('s_a +Inf\n');
    expect(text).toContain('s_b -Inf\n');
    expect(text).toContain('s_c NaN\n');
  });
});

describe('createDfpMetrics', () => {
  it('declares every metric name of DESIGN.md exactly once', () => {
    const text = createDfpMetrics().render();
    for (const name of METRIC_NAMES) {
      expect(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `))).toHaveLength(1);
    }
  });

  it('counts requests by mode and code through cached handles', () => {
    const m = createDfpMetrics();
    const h = m.requestCounter('forward', 200);
    expect(m.requestCounter('forward', 200)).toBe(h);
    h.inc();
    m.requestCounter('forward', 200).inc();
    m.requestCounter('connect', 502).inc();
    m.requestCounter('sni', 999).inc();
    m.requestDuration('gateway').observe(0.003);
    m.tunnelBytesUpstream.inc(10);
    m.tunnelBytesDownstream.inc(20);
    m.deniedTotal.labels('private').inc();
    m.dnsCacheHosts.track(() => 3);
    const text = m.render();
    expect(text).toContain('dfp_requests_total{mode="forward",code="200"} 2\n');
    expect(text).toContain('dfp_requests_total{mode="connect",code="502"} 1\n');
    expect(text).toContain('dfp_requests_total{mode="sni",code="other"} 1\n');
    expect(text).toContain('dfp_request_duration_seconds_bucket{mode="gateway",le="0.005"} 1\n');
    expect(text).toContain('dfp_request_duration_seconds_count{mode="forward"} 0\n');
    expect(text).toContain('dfp_tunnel_bytes_total{direction="upstream"} 10\n');
    expect(text).toContain('dfp_tunnel_bytes_total{direction="downstream"} 20\n');
    expect(text).toContain('dfp_denied_total{reason="private"} 1\n');
    expect(text).toContain('dfp_dns_cache_hosts 3\n');
    expect(text).toContain('dfp_connections_active 0\n');
  });

  it('keeps registries independent', () => {
    const a = createDfpMetrics();
    const b = createDfpMetrics();
    a.connectionsActive.inc();
    expect(b.render()).toContain('dfp_connections_active 0\n');
  });
});
