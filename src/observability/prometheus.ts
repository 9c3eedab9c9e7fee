/**
 * A small Prometheus registry: counters, gauges and histograms, label sets
 * resolved once to handles, and the text exposition (format 0.0.4).
 * dfp's own metrics are declared in metrics.ts, from one table.
 *
 * Hot path: a label set is resolved once to a handle (Counter / Gauge /
 * Histogram) and the data path only does `handle.inc()` or `observe()` on
 * numbers in preallocated objects; no strings are built per increment.
 * Gauges and counters owned elsewhere (the DNS cache) can be read at scrape
 * time with `track(fn)`.
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

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Child = Counter | Gauge | Histogram;

/** One metric's declaration: a row of a definition table. */
export interface MetricDef {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Label names, in exposition order; [] for a single series. */
  readonly labels: readonly string[];
  /** Histograms only: upper bounds in ascending order, without +Inf. */
  readonly buckets?: readonly number[];
}

/** The child type a metric of type T hands out. */
export type ChildOf<T extends MetricType> = T extends 'counter' ? Counter : T extends 'gauge' ? Gauge : Histogram;

/** What declaring D gives: its one series when it has no labels, else the family to resolve label sets on. */
export type HandleOf<D extends MetricDef> = D['labels'] extends readonly [] ? ChildOf<D['type']> : Family<ChildOf<D['type']>>;

/** The handles of a whole definition table, under the table's keys. */
export type HandlesOf<T extends Record<string, MetricDef>> = { readonly [K in keyof T]: HandleOf<T[K]> };

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

  /** Declare one table row: its family, or its one series when it has no labels. */
  define<D extends MetricDef>(def: D): HandleOf<D> {
    let family: Family<Child>;
    if (def.type === 'histogram') {
      if (def.buckets === undefined) throw new Error(`${def.name}: a histogram needs buckets`);
      family = this.histogramFamily(def.name, def.help, def.labels, def.buckets);
    } else {
      if (def.buckets !== undefined) throw new Error(`${def.name}: only histograms have buckets`);
      family = def.type === 'counter' ? this.counterFamily(def.name, def.help, def.labels) : this.gaugeFamily(def.name, def.help, def.labels);
    }
    return (def.labels.length === 0 ? family.labels() : family) as HandleOf<D>;
  }

  /** Declare every row of a table, in its order (the exposition's order); the handles under the same keys. */
  defineAll<T extends Record<string, MetricDef>>(table: T): HandlesOf<T> {
    const handles: Record<string, unknown> = {};
    for (const key of Object.keys(table)) handles[key] = this.define(table[key]!);
    return handles as HandlesOf<T>;
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
