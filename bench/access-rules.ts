/**
 * `npx tsx bench/access-rules.ts [--rounds N]`: the cost of one access-rule lookup against 1,000 mixed rules
 * (exact names, `*.` suffixes, IPv4 and IPv6 blocks of many prefix lengths, some with ports), compiled by
 * AccessRuleSet, against a baseline measured in the same run: a linear walk over the parsed rules that
 * stops at the first match (string compare / endsWith / cidrContains).
 *
 * Query sets (1,024 each, fixed seed): name hits (exact names, names below suffixes), name misses (names
 * under no rule, of the same depths), address hits (IPv4, IPv6, IPv4-mapped inside blocks), address misses.
 * Every query is checked once against the baseline before timing, so both sides answer the same thing.
 * Each round times both sides back to back; the table shows medians of the rounds (default 7).
 * No sockets, no files; every loop is bounded by an iteration count. Last line:
 * `access-rules address-miss ratio linear/compiled: X.X`.
 */
import { AccessRuleSet, parseAccessRule, type ParsedAccessRule } from '../src/policy/access-rules.js';
import { cidrContains } from '../src/policy/cidr.js';
import { formatIPv6 } from '../src/policy/ip.js';

const RULES = 1_000;
const QUERIES = 1_024;

function argRounds(): number {
  const i = process.argv.indexOf('--rounds');
  const n = i >= 0 ? Number(process.argv[i + 1]) : 7;
  return Number.isFinite(n) && n >= 1 ? Math.min(n | 0, 31) : 7;
}
const ROUNDS = argRounds();

/** mulberry32: a fixed-seed generator, so every run measures the same rules and queries. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(0x5eed);
const int = (n: number): number => Math.floor(rand() * n);
const u32 = (): number => (rand() * 4294967296) >>> 0;

function v4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}
function mask32(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}
function v6Random(prefixBytes: Uint8Array | null, prefix: number): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = int(256);
  if (prefixBytes !== null) {
    for (let bit = 0; bit < prefix; bit++) {
      const m = 0x80 >> (bit & 7);
      b[bit >> 3] = (b[bit >> 3]! & ~m) | (prefixBytes[bit >> 3]! & m);
    }
  }
  return b;
}
function maskedV6(b: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let bit = 0; bit < prefix; bit++) out[bit >> 3]! |= b[bit >> 3]! & (0x80 >> (bit & 7));
  return out;
}
const withPort = (text: string, bracket: boolean): string => {
  const r = rand();
  if (r < 0.8) return text;
  const port = r < 0.9 ? ':443' : ':8000-8999';
  return bracket ? `[${text}]${port}` : `${text}${port}`;
};

// ---------------------------------------------------------------- rules: 350 names, 250 suffixes, 200 IPv4, 200 IPv6

const texts: string[] = [];
const exactNames: string[] = [];
const suffixes: string[] = [];
const v4Blocks: { net: number; prefix: number }[] = [];
const v6Blocks: { bytes: Uint8Array; prefix: number }[] = [];
for (let i = 0; i < 350; i++) {
  const name = `h${i}.svc${i % 40}.example.com`;
  exactNames.push(name);
  texts.push(withPort(name, false));
}
for (let i = 0; i < 250; i++) {
  const suffix = i % 5 === 0 ? `tenant${i}.example.net` : `zone${i}.region${i % 7}.cloud.example`;
  suffixes.push(suffix);
  texts.push(withPort(`*.${suffix}`, false));
}
const V4_PREFIXES = [8, 12, 16, 20, 22, 24, 26, 28, 30, 32];
for (let i = 0; i < 200; i++) {
  const prefix = V4_PREFIXES[int(V4_PREFIXES.length)]!;
  // 10/8 and 172.16/12-ish space mostly, some anywhere: blocks overlap across prefix lengths.
  const top = [10, 172, 100, int(224)][int(4)]!;
  const net = (((top << 24) | (u32() & 0x00ffffff)) & mask32(prefix)) >>> 0;
  v4Blocks.push({ net, prefix });
  texts.push(withPort(prefix === 32 ? v4Text(net) : `${v4Text(net)}/${prefix}`, false));
}
const V6_PREFIXES = [32, 40, 48, 56, 64, 96, 112, 128];
const DOC = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
for (let i = 0; i < 200; i++) {
  const prefix = V6_PREFIXES[int(V6_PREFIXES.length)]!;
  const bytes = maskedV6(v6Random(prefix >= 32 && rand() < 0.7 ? DOC : null, 32), prefix);
  v6Blocks.push({ bytes, prefix });
  texts.push(withPort(`${formatIPv6(bytes)}/${prefix}`, true));
}
// Interleave kinds so indexes mix (a real list is not sorted by kind).
for (let i = texts.length - 1; i > 0; i--) {
  const j = int(i + 1);
  [texts[i], texts[j]] = [texts[j]!, texts[i]!];
}
if (texts.length !== RULES) throw new Error(`expected ${RULES} rules, made ${texts.length}`);

const set = new AccessRuleSet('deny', texts.map((text) => ({ text })));
const parsed: ParsedAccessRule[] = texts.map(parseAccessRule);

// ---------------------------------------------------------------- the baseline: a linear walk

function linearName(name: string, port: number): number {
  const n = name.charCodeAt(name.length - 1) === 0x2e ? name.slice(0, -1) : name;
  for (let i = 0; i < parsed.length; i++) {
    const r = parsed[i]!;
    if (port < r.portLo || port > r.portHi) continue;
    if (r.kind === 'any' || (r.kind === 'name' && n === r.name)) return i;
    if (r.kind === 'suffix' && n.length > r.name!.length && n.endsWith(r.name!) && n.charCodeAt(n.length - r.name!.length - 1) === 0x2e) return i;
  }
  return -1;
}

function linearAddress(address: string, port: number): number {
  for (let i = 0; i < parsed.length; i++) {
    const r = parsed[i]!;
    if (r.kind === 'address' && port >= r.portLo && port <= r.portHi && cidrContains(r.cidr!, address)) return i;
  }
  return -1;
}

// ---------------------------------------------------------------- queries

interface Q {
  text: string;
  port: number;
}
const PORTS = [443, 80, 8443];
const port = (): number => PORTS[int(PORTS.length)]!;

function fill(make: () => Q, wantHit: boolean, linear: (t: string, p: number) => number): Q[] {
  const out: Q[] = [];
  for (let tries = 0; out.length < QUERIES && tries < QUERIES * 50; tries++) {
    const q = make();
    if (linear(q.text, q.port) >= 0 === wantHit) out.push(q);
  }
  if (out.length < QUERIES) throw new Error(`could not make ${QUERIES} ${wantHit ? 'hits' : 'misses'}`);
  return out;
}

const nameHits = fill(() => {
  if (rand() < 0.5) return { text: exactNames[int(exactNames.length)]!, port: port() };
  return { text: `${['www', 'api.v2', 'a.b.c'][int(3)]}.${suffixes[int(suffixes.length)]!}`, port: port() };
}, true, linearName);
const nameMisses = fill(() => {
  const k = int(1000);
  const forms = [`h${k}.svc${k % 40}.example.org`, `www.zone${k}.region${k % 7}.cloud.example.org`, `cdn${k}.static.example.com`, `a.b.tenant${k}x.example.net`];
  return { text: forms[int(forms.length)]!, port: port() };
}, false, linearName);
const addressHits = fill(() => {
  if (rand() < 0.5) {
    const b = v4Blocks[int(v4Blocks.length)]!;
    const v = (b.net | (u32() & ~mask32(b.prefix))) >>> 0;
    return { text: rand() < 0.2 ? `::ffff:${v4Text(v)}` : v4Text(v), port: port() };
  }
  const b = v6Blocks[int(v6Blocks.length)]!;
  return { text: formatIPv6(v6Random(b.bytes, b.prefix)), port: port() };
}, true, linearAddress);
const addressMisses = fill(() => {
  if (rand() < 0.5) return { text: v4Text(u32()), port: port() };
  return { text: formatIPv6(v6Random(rand() < 0.5 ? DOC : null, 32)), port: port() };
}, false, linearAddress);

// The compiled set must give the same answers as the baseline on every query before anything is timed.
for (const [qs, compiled, linear] of [
  [nameHits, (q: Q) => set.matchName(q.text, q.port), linearName],
  [nameMisses, (q: Q) => set.matchName(q.text, q.port), linearName],
  [addressHits, (q: Q) => set.matchAddress(q.text, q.port), linearAddress],
  [addressMisses, (q: Q) => set.matchAddress(q.text, q.port), linearAddress],
] as const) {
  for (const q of qs) {
    const got = compiled(q)?.index ?? -1;
    const want = linear(q.text, q.port);
    if (got !== want) throw new Error(`${q.text}:${q.port}: compiled says ${got}, linear walk ${want}`);
  }
}

// ---------------------------------------------------------------- timing

let sink = 0;
type Lookup = (text: string, port: number) => unknown;

/** ns per lookup of `iterations` lookups cycling through `qs`. */
function time(qs: Q[], lookup: Lookup, iterations: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const q = qs[i & (QUERIES - 1)]!;
    if (lookup(q.text, q.port) !== null) sink++;
  }
  return Number(process.hrtime.bigint() - t0) / iterations;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const matchName: Lookup = (t, p) => set.matchName(t, p);
const matchAddress: Lookup = (t, p) => set.matchAddress(t, p);
const linearNameL: Lookup = (t, p) => (linearName(t, p) >= 0 ? 1 : null);
const linearAddressL: Lookup = (t, p) => (linearAddress(t, p) >= 0 ? 1 : null);

const CASES: [string, Q[], Lookup, Lookup][] = [
  ['matchName hit', nameHits, matchName, linearNameL],
  ['matchName miss', nameMisses, matchName, linearNameL],
  ['matchAddress hit', addressHits, matchAddress, linearAddressL],
  ['matchAddress miss', addressMisses, matchAddress, linearAddressL],
];
const COMPILED_ITERATIONS = 400_000;
const LINEAR_ITERATIONS = 4_000;

// Warm-up: both sides of every case, so the JIT has seen all shapes before the first round.
for (const [, qs, compiled, linear] of CASES) {
  time(qs, compiled, COMPILED_ITERATIONS / 4);
  time(qs, linear, LINEAR_ITERATIONS / 4);
}

const rows: string[] = [];
let lastRatio = 0;
for (const [label, qs, compiled, linear] of CASES) {
  const c: number[] = [];
  const l: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    c.push(time(qs, compiled, COMPILED_ITERATIONS));
    l.push(time(qs, linear, LINEAR_ITERATIONS));
  }
  const cm = median(c);
  const lm = median(l);
  lastRatio = lm / cm;
  rows.push(`| ${label} | ${cm.toFixed(0)} | ${Math.min(...c).toFixed(0)}–${Math.max(...c).toFixed(0)} | ${lm.toFixed(0)} | ${lastRatio.toFixed(1)} |`);
}

const counts = { name: 0, suffix: 0, any: 0, v4: 0, v6: 0 };
for (const p of parsed) {
  if (p.kind === 'address') counts[p.cidr!.family === 4 ? 'v4' : 'v6']++;
  else counts[p.kind]++;
}
process.stdout.write(
  `access rules: ${RULES} (${counts.name} names, ${counts.suffix} suffixes, ${counts.v4} IPv4 blocks, ${counts.v6} IPv6 blocks), ` +
    `${QUERIES} queries per case, ${ROUNDS} rounds, Node ${process.version}\n\n` +
    `| case | compiled ns/op (median) | compiled range | linear walk ns/op | linear/compiled |\n|---|---|---|---|---|\n` +
    rows.join('\n') +
    `\n\n(sink ${sink})\naccess-rules address-miss ratio linear/compiled: ${lastRatio.toFixed(1)}\n`,
);
