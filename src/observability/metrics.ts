/**
 * A small Prometheus registry and every dfp metric, declared once (createDfpMetrics).
 *
 * Hot path: a label set is resolved once to a handle (Counter / Gauge /
 * Histogram) and the data path only does `handle.inc()` or `observe()` on
 * numbers in preallocated objects; no strings are built per increment.
 * Gauges and counters owned elsewhere (the DNS cache) can be read at scrape
 * time with `track(fn)`. Exposition: text format 0.0.4.
 */

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class Counter {
  value = 0;
  source: (() => number) | null = null;
  inc(n = 1): void {
    this.value += n;
  }
  /** Read the value from `fn` at scrape time instead of counting here. */
  track(fn: () => number): void {
    this.source = fn;
  }
  read(): number {
    return this.source === null ? this.value : this.source();
  }
}

export class Gauge {
  value = 0;
  source: (() => number) | null = null;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
  track(fn: () => number): void {
    this.source = fn;
  }
  read(): number {
    return this.source === null ? this.value : this.source();
  }
}

export class Histogram {
  /** Upper bounds, ascending, without +Inf. */
  readonly bounds: Float64Array;
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(bounds: readonly number[]) {
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

type MetricType = 'counter' | 'gauge' | 'histogram';
type Child = Counter | Gauge | Histogram;

/** A metric name with its label names; `labels(...)` resolves (and caches) one child. */
export class Family<T extends Child> {
  private readonly byKey = new Map<string, T>();
  readonly entries: { values: readonly string[]; child: T }[] = [];
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly labelNames: readonly string[],
    private readonly make: () => T,
  ) {}

  /** The child for these label values. Resolve once and keep the handle on hot paths. */
  labels(...values: string[]): T {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    }
    const key = values.length === 1 ? values[0]! : values.join('\u0000');
    let child = this.byKey.get(key);
    if (child === undefined) {
      child = this.make();
      this.byKey.set(key, child);
      this.entries.push({ values: [...values], child });
    }
    return child;
  }
}

function isNameChar(c: number, first: boolean, colon: boolean): boolean {
  const f = c | 0x20;
  if (f >= 0x61 && f <= 0x7a) return true;
  if (c === 0x5f || (colon && c === 0x3a)) return true;
  return !first && c >= 0x30 && c <= 0x39;
}

function checkName(name: string, colon: boolean): void {
  if (name.length === 0) throw new Error('metric or label name must not be empty');
  for (let i = 0; i < name.length; i++) {
    if (!isNameChar(name.charCodeAt(i), i === 0, colon)) throw new Error(`invalid metric or label name "${name}"`);
  }
}

export class Registry {
  private readonly families: Family<Child>[] = [];
  private readonly names = new Set<string>();

  private declare<T extends Child>(name: string, help: string, type: MetricType, labelNames: readonly string[], make: () => T): Family<T> {
    checkName(name, true);
    for (const l of labelNames) {
      checkName(l, false);
      if (l.startsWith('__') || l === 'le') throw new Error(`reserved label name "${l}"`);
    }
    if (this.names.has(name)) throw new Error(`metric ${name} declared twice`);
    this.names.add(name);
    const family = new Family<T>(name, help, type, labelNames, make);
    this.families.push(family as unknown as Family<Child>);
    return family;
  }

  counter(name: string, help: string): Counter {
    return this.declare(name, help, 'counter', [], () => new Counter()).labels();
  }
  counterFamily(name: string, help: string, labelNames: readonly string[]): Family<Counter> {
    return this.declare(name, help, 'counter', labelNames, () => new Counter());
  }
  gauge(name: string, help: string): Gauge {
    return this.declare(name, help, 'gauge', [], () => new Gauge()).labels();
  }
  gaugeFamily(name: string, help: string, labelNames: readonly string[]): Family<Gauge> {
    return this.declare(name, help, 'gauge', labelNames, () => new Gauge());
  }
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.histogramFamily(name, help, [], bounds).labels();
  }
  histogramFamily(name: string, help: string, labelNames: readonly string[], bounds: readonly number[]): Family<Histogram> {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`${name}: bucket bounds must increase`);
    }
    return this.declare(name, help, 'histogram', labelNames, () => new Histogram(bounds));
  }

  /** Text exposition format 0.0.4. */
  render(): string {
    let out = '';
    for (const f of this.families) {
      out += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
      for (const { values, child } of f.entries) {
        const labels = formatLabels(f.labelNames, values);
        if (child instanceof Histogram) out += renderHistogram(f.name, labels, child);
        else out += `${f.name}${labels === '' ? '' : `{${labels}}`} ${formatValue(child.read())}\n`;
      }
    }
    return out;
  }
}

function renderHistogram(name: string, labels: string, h: Histogram): string {
  const sep = labels === '' ? '' : ',';
  let out = '';
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i]!;
    out += `${name}_bucket{${labels}${sep}le="${formatValue(h.bounds[i]!)}"} ${formatValue(cumulative)}\n`;
  }
  cumulative += h.counts[h.bounds.length]!;
  out += `${name}_bucket{${labels}${sep}le="+Inf"} ${formatValue(cumulative)}\n`;
  const braces = labels === '' ? '' : `{${labels}}`;
  out += `${name}_sum${braces} ${formatValue(h.sum)}\n${name}_count${braces} ${formatValue(h.count)}\n`;
  return out;
}

function formatLabels(names: readonly string[], values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += `${names[i]}="${escapeLabelValue(values[i]!)}"`;
  }
  return out;
}

export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

function escapeHelp(text: string): string {
  let out = '';
  for (const ch of text) out += ch === '\\' ? '\\\\' : ch === '\n' ? '\\n' : ch;
  return out;
}

function escapeLabelValue(text: string): string {
  let out = '';
  for (const ch of text) out += ch === '\\' ? '\\\\' : ch === '\n' ? '\\n' : ch === '"' ? '\\"' : ch;
  return out;
}

// ---- every dfp metric ----

export const MODES = ['forward', 'connect', 'gateway', 'sni'] as const;
export type Mode = (typeof MODES)[number];

/** Seconds: 1 ms … 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface DfpMetrics {
  readonly registry: Registry;
  readonly requestsTotal: Family<Counter>;
  readonly requestDurationSeconds: Family<Histogram>;
  readonly tunnelsActive: Gauge;
  readonly tunnelBytesTotal: Family<Counter>;
  /** dfp_tunnel_bytes_total{direction="upstream"}: client → origin. */
  readonly tunnelBytesUpstream: Counter;
  /** dfp_tunnel_bytes_total{direction="downstream"}: origin → client. */
  readonly tunnelBytesDownstream: Counter;
  readonly upstreamConnectDurationSeconds: Histogram;
  readonly dnsQueriesTotal: Family<Counter>;
  readonly dnsCacheHitsTotal: Counter;
  readonly dnsCacheHosts: Gauge;
  readonly deniedTotal: Family<Counter>;
  readonly connectionsActive: Gauge;
  /** dfp_requests_total{mode,code} handle, cached per (mode, status): no strings after the first use. */
  requestCounter(mode: Mode, status: number): Counter;
  /** dfp_request_duration_seconds{mode} handle (preallocated). */
  requestDuration(mode: Mode): Histogram;
  render(): string;
}

export const METRIC_NAMES = [
  'dfp_requests_total',
  'dfp_request_duration_seconds',
  'dfp_tunnels_active',
  'dfp_tunnel_bytes_total',
  'dfp_upstream_connect_duration_seconds',
  'dfp_dns_queries_total',
  'dfp_dns_cache_hits_total',
  'dfp_dns_cache_hosts',
  'dfp_denied_total',
  'dfp_connections_active',
] as const;

/** A fresh registry with every dfp metric declared (one per proxy process). */
export function createDfpMetrics(): DfpMetrics {
  const r = new Registry();
  const requestsTotal = r.counterFamily('dfp_requests_total', 'Requests and tunnels answered, by mode and status code.', ['mode', 'code']);
  const requestDurationSeconds = r.histogramFamily('dfp_request_duration_seconds', 'Time from request head to the end of the response, by mode.', ['mode'], LATENCY_BUCKETS);
  const tunnelsActive = r.gauge('dfp_tunnels_active', 'Open CONNECT and SNI tunnels.');
  const tunnelBytesTotal = r.counterFamily('dfp_tunnel_bytes_total', 'Bytes relayed through tunnels; upstream = client to origin.', ['direction']);
  const upstreamConnectDurationSeconds = r.histogram('dfp_upstream_connect_duration_seconds', 'Time to establish upstream TCP connections.', LATENCY_BUCKETS);
  const dnsQueriesTotal = r.counterFamily('dfp_dns_queries_total', 'DNS queries sent, by result.', ['result']);
  const dnsCacheHitsTotal = r.counter('dfp_dns_cache_hits_total', 'Lookups answered from the DNS cache.');
  const dnsCacheHosts = r.gauge('dfp_dns_cache_hosts', 'Hosts in the DNS cache.');
  const deniedTotal = r.counterFamily('dfp_denied_total', 'Requests denied by policy, by reason.', ['reason']);
  const connectionsActive = r.gauge('dfp_connections_active', 'Open client connections.');

  const durations = MODES.map((m) => requestDurationSeconds.labels(m));
  // [mode][status - 100] → Counter, filled on first use; index 500 holds out-of-range codes.
  const byStatus: (Counter | undefined)[][] = MODES.map(() => new Array<Counter | undefined>(501));
  const modeIndex = (mode: Mode): number => (mode === 'forward' ? 0 : mode === 'connect' ? 1 : mode === 'gateway' ? 2 : 3);

  return {
    registry: r,
    requestsTotal,
    requestDurationSeconds,
    tunnelsActive,
    tunnelBytesTotal,
    tunnelBytesUpstream: tunnelBytesTotal.labels('upstream'),
    tunnelBytesDownstream: tunnelBytesTotal.labels('downstream'),
    upstreamConnectDurationSeconds,
    dnsQueriesTotal,
    dnsCacheHitsTotal,
    dnsCacheHosts,
    deniedTotal,
    connectionsActive,
    requestCounter(mode: Mode, status: number): Counter {
      const row = byStatus[modeIndex(mode)]!;
      const slot = status >= 100 && status <= 599 ? status - 100 : 500;
      return row[slot] ?? (row[slot] = requestsTotal.labels(mode, slot === 500 ? 'other' : String(status)));
    },
    requestDuration(mode: Mode): Histogram {
      return durations[modeIndex(mode)]!;
    },
    render: () => r.render(),
  };
}
