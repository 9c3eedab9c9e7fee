/**
 * `npm run bench -- auth [--iterations N]`
 *
 * What a Proxy-Authorization check costs in BasicAuth.checkNow (src/policy/auth.ts), ns/op, against a
 * baseline measured in the same run: one HMAC-SHA256 of the header value with a KeyObject, the floor of
 * the cache key. Subjects: a cached success (the common case: HMAC + LRU lookup), a cached failure, an
 * inline user with the cache off (parse + base64 + HMAC + timingSafeEqual), a missing header. Then one
 * bcrypt verification through check() at costs 5 and 10 (ms/op, and the longest event-loop turn meanwhile),
 * which the cache exists to avoid.
 * Last line: `auth cached-success/hmac ratio: X.XX`.
 */
import { execFileSync } from 'node:child_process';
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { BasicAuth } from '../src/policy/auth.js';
import { parseHtpasswd } from '../src/policy/htpasswd.js';

const ROUNDS = 7;

function argNumber(flag: string, fallback: number, max: number): number {
  const i = process.argv.indexOf(flag);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  return Number.isFinite(value) && value > 0 ? Math.min(value, max) : fallback;
}

const ITERATIONS = argNumber('--iterations', 200_000, 5_000_000);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

type Body = (n: number) => unknown;
let sink: unknown;

function timeRun(iterations: number, body: Body): number {
  const t0 = process.hrtime.bigint();
  sink = body(iterations);
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/** Baseline and subject alternately, ROUNDS times each, after a warm-up; the median per-round ratio. */
function compare(baseline: Body, subject: Body): { baselineNs: number; subjectNs: number; ratio: number } {
  timeRun(Math.min(ITERATIONS, 50_000), baseline);
  timeRun(Math.min(ITERATIONS, 50_000), subject);
  const base: number[] = [];
  const subj: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    base.push(timeRun(ITERATIONS, baseline));
    subj.push(timeRun(ITERATIONS, subject));
    ratios.push(subj[r]! / base[r]!);
  }
  return { baselineNs: median(base), subjectNs: median(subj), ratio: median(ratios) };
}

const basic = (user: string, password: string) => 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');

function bcryptEntry(user: string, password: string, cost: number) {
  const line = execFileSync('htpasswd', ['-nbB', '-C', String(cost), user, password], { encoding: 'utf8' });
  return parseHtpasswd(line, `htpasswd -B -C ${cost}`);
}

const key = createSecretKey(randomBytes(32));
const users = [{ username: 'bob', password: 'b-secret-of-some-length' }];
const bobHeader = basic('bob', 'b-secret-of-some-length');
const wrongHeader = basic('bob', 'not-it');
const hmacBaseline: Body = (n) => {
  let last = '';
  for (let i = 0; i < n; i++) last = createHmac('sha256', key).update(bobHeader, 'utf8').digest('base64');
  return last;
};

const cached = new BasicAuth({ realm: 'dfp', users, entries: [] });
cached.checkNow(bobHeader);
cached.checkNow(wrongHeader);
const uncached = new BasicAuth({ realm: 'dfp', users, entries: [], cacheSize: 0 });

const rows: [string, Body][] = [
  ['cached success', (n) => { let v; for (let i = 0; i < n; i++) v = cached.checkNow(bobHeader); return v; }],
  ['cached failure', (n) => { let v; for (let i = 0; i < n; i++) v = cached.checkNow(wrongHeader); return v; }],
  ['inline, cache off', (n) => { let v; for (let i = 0; i < n; i++) v = uncached.checkNow(bobHeader); return v; }],
  ['missing header', (n) => { let v; for (let i = 0; i < n; i++) v = cached.checkNow(null); return v; }],
];
process.stdout.write(`auth checkNow, ${ITERATIONS} iterations x ${ROUNDS} rounds, medians (baseline: one HMAC-SHA256 of the value)\n`);
let successRatio = 0;
for (const [name, body] of rows) {
  const c = compare(hmacBaseline, body);
  if (name === 'cached success') successRatio = c.ratio;
  process.stdout.write(`  ${name.padEnd(18)} ${c.subjectNs.toFixed(0).padStart(6)} ns/op  hmac ${c.baselineNs.toFixed(0).padStart(5)} ns/op  ratio ${c.ratio.toFixed(2)}\n`);
}

for (const cost of [5, 10]) {
  const auth = new BasicAuth({ realm: 'dfp', users: [], entries: bcryptEntry('alice', 'a-secret', cost), cacheSize: 0 });
  const times: number[] = [];
  let maxStallMs = 0;
  for (let r = 0; r < 5; r++) {
    // The longest event-loop turn while it runs: bcryptjs hashes in slices of up to ~100 ms.
    let last = performance.now();
    let ticking = true;
    const tick = () => {
      const now = performance.now();
      maxStallMs = Math.max(maxStallMs, now - last);
      last = now;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const t0 = process.hrtime.bigint();
    const v = await auth.check(basic('alice', 'a-secret'));
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    ticking = false;
    if (!v.ok) throw new Error('bcrypt bench: the right password was refused');
  }
  process.stdout.write(`  bcrypt cost ${String(cost).padStart(2)}     ${median(times).toFixed(2)} ms/op (check(), cache off, median of 5), longest loop turn ${maxStallMs.toFixed(1)} ms\n`);
}
if (sink === Symbol.for('never')) process.stdout.write('\n');
process.stdout.write(`auth cached-success/hmac ratio: ${successRatio.toFixed(2)}\n`);
