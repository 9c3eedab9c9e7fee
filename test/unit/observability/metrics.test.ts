import { describe, expect, it } from 'vitest';
import { createDfpMetrics, DFP_METRICS, METRIC_NAMES, Registry, type MetricDef } from '../../../src/observability/metrics.js';
import { DENY_REASONS } from '../../../src/policy/deny-reasons.js';

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

  it('declares a table row as its one series when unlabelled, else as a family', () => {
    const r = new Registry();
    const one = r.define({ name: 'd_total', type: 'counter', help: 'h', labels: [] } as const);
    const fam = r.define({ name: 'd_seconds', type: 'histogram', help: 'h', labels: ['k'], buckets: [1] } as const);
    one.inc();
    fam.labels('a').observe(2);
    expect(r.render()).toContain('d_total 1\n');
    expect(r.render()).toContain('d_seconds_bucket{k="a",le="+Inf"} 1\n');
    expect(() => r.define({ name: 'e_seconds', type: 'histogram', help: 'h', labels: [] })).toThrow('a histogram needs buckets');
    expect(() => r.define({ name: 'e_total', type: 'counter', help: 'h', labels: [], buckets: [1] })).toThrow('only histograms have buckets');
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
    m.deniedCounter('no_route').inc();
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
    expect(text).toContain('dfp_denied_total{reason="no_route"} 1\n');
    expect(text).toContain('dfp_dns_cache_hosts 3\n');
    expect(text).toContain('dfp_connections_active 0\n');
  });

  it('keeps registries independent', () => {
    const a = createDfpMetrics();
    const b = createDfpMetrics();
    a.connectionsActive.inc();
    expect(b.render()).toContain('dfp_connections_active 0\n');
  });

  it('keeps the HELP and TYPE lines users scrape, byte for byte', () => {
    const meta = createDfpMetrics()
      .render()
      .split('\n')
      .filter((l) => l.startsWith('#'));
    expect(meta).toEqual([
      '# HELP dfp_requests_total Requests and tunnels answered, by mode and status code.',
      '# TYPE dfp_requests_total counter',
      '# HELP dfp_request_duration_seconds Time from request head to the end of the response, by mode.',
      '# TYPE dfp_request_duration_seconds histogram',
      '# HELP dfp_tunnels_active Open CONNECT and SNI tunnels.',
      '# TYPE dfp_tunnels_active gauge',
      '# HELP dfp_tunnel_bytes_total Bytes relayed through tunnels; upstream = client to origin.',
      '# TYPE dfp_tunnel_bytes_total counter',
      '# HELP dfp_upstream_connect_duration_seconds Time to establish upstream TCP connections.',
      '# TYPE dfp_upstream_connect_duration_seconds histogram',
      '# HELP dfp_dns_queries_total DNS queries sent, by result.',
      '# TYPE dfp_dns_queries_total counter',
      '# HELP dfp_dns_cache_hits_total Lookups answered from the DNS cache.',
      '# TYPE dfp_dns_cache_hits_total counter',
      '# HELP dfp_dns_cache_hosts Hosts in the DNS cache.',
      '# TYPE dfp_dns_cache_hosts gauge',
      '# HELP dfp_denied_total Requests denied by policy, by reason.',
      '# TYPE dfp_denied_total counter',
      '# HELP dfp_connections_active Open client connections.',
      '# TYPE dfp_connections_active gauge',
      '# HELP dfp_sni_rejected_total SNI passthrough connections closed without a tunnel, by reason.',
      '# TYPE dfp_sni_rejected_total counter',
      '# HELP dfp_proxy_protocol_rejected_total Connections on a proxyProtocol listener closed without a valid PROXY header, by reason.',
      '# TYPE dfp_proxy_protocol_rejected_total counter',
      '# HELP dfp_config_reloads_total Config reloads (SIGHUP, --watch), by result: ok, or error (the running config kept).',
      '# TYPE dfp_config_reloads_total counter',
      '# HELP dfp_would_deny_total Requests access rules would have denied in report mode (let through), by reason.',
      '# TYPE dfp_would_deny_total counter',
      '# HELP dfp_rate_limited_total Requests and tunnels refused by rateLimit (429).',
      '# TYPE dfp_rate_limited_total counter',
      '# HELP dfp_tls_handshakes_total TLS handshakes, by side (client: an HTTPS listener; upstream: origination) and result.',
      '# TYPE dfp_tls_handshakes_total counter',
    ]);
  });

  it('emits every table row with its HELP and TYPE, and no series the table does not declare', () => {
    const m = createDfpMetrics();
    // Touch every series the data path can make.
    for (const mode of ['forward', 'connect', 'gateway', 'sni'] as const) {
      m.requestCounter(mode, 200).inc();
      m.requestCounter(mode, 42).inc();
      m.requestDuration(mode).observe(0.2);
    }
    for (const reason of DENY_REASONS) m.deniedCounter(reason).inc();
    m.dnsQueriesTotal.labels('success').inc();
    m.upstreamConnectDurationSeconds.observe(0.01);
    const text = m.render();
    const lines = text.split('\n').filter((l) => l !== '');
    const defs = new Map<string, MetricDef>(Object.values(DFP_METRICS).map((d) => [d.name, d]));
    expect(METRIC_NAMES).toEqual([...defs.keys()]);

    for (const d of defs.values()) {
      expect(lines.filter((l) => l === `# HELP ${d.name} ${d.help}`)).toHaveLength(1);
      expect(lines.filter((l) => l === `# TYPE ${d.name} ${d.type}`)).toHaveLength(1);
    }
    let current: MetricDef | undefined;
    for (const line of lines) {
      if (line.startsWith('# ')) {
        current = defs.get(line.split(' ')[2]!);
        expect(current, line).toBeDefined();
        continue;
      }
      const sample = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      expect(sample, line).not.toBeNull();
      const [, series, labelText = '', value] = sample!;
      const d = current!;
      const suffixes = d.type === 'histogram' ? ['_bucket', '_sum', '_count'] : [''];
      const suffix = suffixes.find((x) => series === d.name + x);
      expect(suffix, `${series} under # TYPE ${d.name}`).toBeDefined();
      const labelNames = labelText === '' ? [] : labelText.split(',').map((kv) => kv.slice(0, kv.indexOf('=')));
      expect(labelNames, line).toEqual(suffix === '_bucket' ? [...d.labels, 'le'] : [...d.labels]);
      if (suffix === '_bucket' && !labelText.endsWith('le="+Inf"')) {
        const le = Number(/le="([^"]+)"/.exec(labelText)![1]);
        expect(d.buckets, line).toContain(le);
      }
      expect(Number.isNaN(Number(value)), line).toBe(false);
    }
  });
});

describe('dfp_denied_total reasons', () => {
  it('keeps the spelling of the reasons counted before the enum', () => {
    expect(DENY_REASONS).toEqual(expect.arrayContaining(['connect_port', 'private_destination', 'connection_limit']));
    expect(new Set(DENY_REASONS).size).toBe(DENY_REASONS.length);
    for (const r of DENY_REASONS) expect(r).toMatch(/^[a-z][a-z_]*$/);
  });

  it('makes a reason series on its first denial only, and reuses its handle', () => {
    const m = createDfpMetrics();
    expect(m.render()).not.toContain('dfp_denied_total{');
    const h = m.deniedCounter('connect_port');
    expect(m.deniedCounter('connect_port')).toBe(h);
    h.inc();
    expect(m.render()).toContain('dfp_denied_total{reason="connect_port"} 1\n');
    expect(m.render()).not.toContain('reason="no_route"');
  });
});
