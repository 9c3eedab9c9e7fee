/**
 * Differential fuzzer: dfp's HTTP scanner (src/http) against Node's llhttp (strict).
 *
 *   npm run fuzz -- [--seconds N] [--max-cases N] [--seed S] [--out DIR] [--samples]
 *   npm run fuzz -- --replay fuzz/findings/FILE.json
 *
 * Inputs: llhttp corpus cases (/work/shared/corpus/llhttp, all modes) and generated valid streams
 * (test/helpers/http-gen.ts), mutated (bit flips, inserted CR/LF/NUL/SP, space before colon, obs-fold,
 * duplicate Content-Length, CL+TE, bad chunk sizes, splices of corpus cases). Each input is fed to dfp whole and
 * in random chunks, and to llhttp. A finding is: dfp accepts what llhttp rejects, both accept but differ, dfp's
 * result depends on the chunking, or dfp throws (outside the documented deviations of test/helpers/llhttp.ts).
 * Findings are written (minimised) as replayable JSON to fuzz/findings/ and the run exits 1.
 * Bounded by time and by case count; only local CPU, no network.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { checkInput, replayFinding, type CheckOptions, type FindingFile, type FindingKind } from './check.js';
import {
  M_HEAD, Rng, bytewise, mutate, randomChunks, requestStreamArb, responseStreamArb, serializeStream, type CorpusCase,
  type GenStream,
} from '../test/helpers/http-gen.js';

interface Args { seconds: number; maxCases: number; seed: number; out: string; replay: string | null; samples: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = {
    seconds: 60, maxCases: 50_000_000, seed: (Date.now() ^ (process.pid << 8)) >>> 0,
    out: fileURLToPath(new URL('./findings/', import.meta.url)), replay: null, samples: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--seconds' && v) (a.seconds = Number(v)), i++;
    else if (k === '--max-cases' && v) (a.maxCases = Number(v)), i++;
    else if (k === '--seed' && v) (a.seed = Number(v) >>> 0), i++;
    else if (k === '--out' && v) (a.out = v), i++;
    else if (k === '--replay' && v) (a.replay = v), i++;
    else if (k === '--samples') a.samples = true;
    else {
      process.stderr.write(`unknown argument ${k}\nusage: npm run fuzz -- [--seconds N] [--max-cases N] [--seed S] [--samples] [--replay FILE]\n`);
      process.exit(2);
    }
  }
  if (!(a.seconds > 0) || !(a.maxCases > 0)) {
    process.stderr.write('--seconds and --max-cases must be positive\n');
    process.exit(2);
  }
  return a;
}

function loadCorpusFile(kind: 'request' | 'response'): CorpusCase[] {
  const url = new URL(`../../shared/corpus/llhttp/${kind}s.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as CorpusCase[];
}

function replay(file: string): never {
  const f = JSON.parse(readFileSync(file, 'utf8')) as FindingFile;
  const r = replayFinding(f);
  const bytes = Buffer.from(f.bytes_base64, 'base64');
  process.stdout.write(`${file}: ${f.kind}, ${bytes.length} bytes, recorded ${f.finding}: ${f.detail}\n`);
  process.stdout.write(`input: ${JSON.stringify(bytes.toString('latin1'))}\n`);
  process.stdout.write(`dfp: ${r.dfp ? (r.dfp.ok ? `ok, ${r.dfp.messages.length} message(s)` : `${r.dfp.error} (${r.dfp.errorStatus})`) : 'n/a'}\n`);
  process.stdout.write(`now: ${r.finding ?? 'no disagreement'}${r.detail ? `: ${r.detail}` : ''}\n`);
  process.exit(r.finding ? 1 : 0);
}

interface Seed { kind: 'request' | 'response'; bytes: Buffer; opts: CheckOptions; source: string }

function corpusSeeds(): Seed[] {
  const seeds: Seed[] = [];
  for (const kind of ['request', 'response'] as const) {
    for (const c of loadCorpusFile(kind)) {
      seeds.push({
        kind, bytes: Buffer.from(c.raw_base64, 'base64'),
        opts: { requestMethods: c.skip_body && kind === 'response' ? [M_HEAD, M_HEAD] : undefined },
        source: `corpus ${c.file}:${c.line}`,
      });
    }
  }
  return seeds;
}

function generatedSeeds(seed: number, n: number): Seed[] {
  const streams: GenStream[] = [
    ...fc.sample(requestStreamArb(4), { numRuns: n, seed }),
    ...fc.sample(responseStreamArb(4), { numRuns: n, seed: seed ^ 0x5bd1e995 }),
  ];
  return streams.map((s) => ({
    kind: s.kind, bytes: serializeStream(s), opts: { eof: s.eof, requestMethods: s.requestMethods }, source: 'generated',
  }));
}

/** Delete bytes while the same finding persists (bounded). */
function minimise(seed: Seed, finding: FindingKind, chunkings: number[][], budget = 300): { bytes: Buffer; chunkings: number[][] } {
  let best = seed.bytes;
  let tries = 0;
  for (let width = Math.max(1, best.length >> 2); width >= 1 && tries < budget; width >>= 1) {
    for (let i = 0; i + width <= best.length && tries < budget; ) {
      const cand = Buffer.concat([best.subarray(0, i), best.subarray(i + width)]);
      tries++;
      const cuts = chunkings.map((c) => c.filter((x) => x < cand.length));
      if (checkInput(seed.kind, cand, cuts, seed.opts).finding === finding) best = cand;
      else i += width;
    }
  }
  return { bytes: best, chunkings: chunkings.map((c) => c.filter((x) => x < best.length)) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.replay) replay(args.replay);
  const rng = new Rng(args.seed);
  const corpus = corpusSeeds();
  const spliceBy = {
    request: corpus.filter((s) => s.kind === 'request').map((s) => s.bytes),
    response: corpus.filter((s) => s.kind === 'response').map((s) => s.bytes),
  };
  let generated = generatedSeeds(args.seed, 300);
  const start = Date.now();
  const deadline = start + args.seconds * 1000;
  let cases = 0;
  let execs = 0; // parser runs: dfp whole + each chunking + llhttp
  let lastReport = start;
  const outcomes = new Map<string, number>();
  const stricter = new Map<string, number>();
  const findings = new Map<string, number>();
  const samples = new Map<string, string>();
  let written = 0;
  process.stdout.write(`fuzz: seed ${args.seed}, ${args.seconds}s, corpus ${corpus.length} cases, out ${args.out}\n`);

  while (cases < args.maxCases && Date.now() < deadline) {
    if (cases > 0 && cases % 5000 === 0) generated = generatedSeeds((args.seed + cases) >>> 0, 300);
    const fromCorpus = rng.int(2) === 0;
    const base = fromCorpus ? rng.pick(corpus) : rng.pick(generated);
    const mutated = rng.int(10) === 0 ? { bytes: base.bytes, ops: [] } : mutate(rng, base.bytes, spliceBy[base.kind]);
    const opts: CheckOptions = { ...base.opts };
    if (rng.int(8) === 0) opts.eof = !opts.eof;
    const chunkings: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const parts = randomChunks(rng, mutated.bytes);
      const cuts: number[] = [];
      let off = 0;
      for (const p of parts.slice(0, -1)) cuts.push((off += p.length));
      chunkings.push(cuts);
    }
    if (mutated.bytes.length < 600 && rng.int(16) === 0) {
      chunkings.push(bytewise(mutated.bytes).map((_, i) => i + 1).slice(0, -1));
    }
    const seed: Seed = { ...base, bytes: mutated.bytes, opts };
    const r = checkInput(base.kind, mutated.bytes, chunkings, opts);
    cases++;
    execs += 2 + chunkings.length;
    const outcome = r.finding ? 'FINDING' : r.verdict?.outcome ?? 'n/a';
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    if (r.verdict?.outcome === 'dfp-stricter') {
      const why = r.dfp?.error ?? `deferred ${r.verdict.detail?.slice(10)}`;
      stricter.set(why, (stricter.get(why) ?? 0) + 1);
      if (args.samples && !samples.has(why)) samples.set(why, `${seed.kind}${opts.eof ? ' eof' : ''} ${JSON.stringify(mutated.bytes.toString('latin1')).slice(0, 240)}`);
    }
    for (const d of r.verdict?.deviations ?? []) outcomes.set(`deviation ${d}`, (outcomes.get(`deviation ${d}`) ?? 0) + 1);
    if (r.finding) {
      const key = `${r.finding} ${String(r.detail).replace(/[0-9]+/g, 'N').slice(0, 80)}`;
      const seen = findings.get(key) ?? 0;
      findings.set(key, seen + 1);
      if (seen === 0 && written < 50) {
        const min = minimise(seed, r.finding, r.cuts ? [r.cuts, ...chunkings] : chunkings);
        const again = checkInput(seed.kind, min.bytes, min.chunkings, opts);
        const file: FindingFile = {
          kind: seed.kind, bytes_base64: min.bytes.toString('base64'), bytes_latin1: min.bytes.toString('latin1'),
          eof: !!opts.eof, requestMethods: opts.requestMethods ?? null, chunkings: min.chunkings,
          finding: r.finding, detail: again.detail ?? r.detail, source: seed.source, mutations: mutated.ops, seed: args.seed,
        };
        mkdirSync(args.out, { recursive: true });
        const name = `${args.out}/${r.finding}-${args.seed}-${cases}.json`;
        writeFileSync(name, JSON.stringify(file, null, 2) + '\n');
        written++;
        process.stdout.write(`FINDING ${r.finding}: ${file.detail}\n  ${JSON.stringify(file.bytes_latin1).slice(0, 300)}\n  -> ${name}\n`);
      }
    }
    const now = Date.now();
    if ((cases & 1023) === 0) await new Promise((r) => setImmediate(r)); // let signals (Ctrl-C) through
    if (now - lastReport >= 10_000) {
      lastReport = now;
      const s = (now - start) / 1000;
      process.stdout.write(`  ${s.toFixed(0)}s: ${cases} cases, ${(cases / s).toFixed(0)} cases/s, ${(execs / s).toFixed(0)} exec/s, findings ${[...findings.values()].reduce((a, b) => a + b, 0)}\n`);
    }
  }
  const secs = (Date.now() - start) / 1000;
  const total = [...findings.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`\ncases tried: ${cases} in ${secs.toFixed(1)}s (${(cases / secs).toFixed(0)} cases/s)\n`);
  process.stdout.write(`executions: ${execs} (${(execs / secs).toFixed(0)} exec/s; an execution = one parser run: dfp whole, dfp per chunking, llhttp)\n`);
  process.stdout.write(`outcomes: ${[...outcomes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  process.stdout.write(`dfp stricter than llhttp, by dfp reason: ${[...stricter].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}\n`);
  if (args.samples) for (const [k, v] of samples) process.stdout.write(`  sample ${k}: ${v}\n`);
  if (total) {
    process.stdout.write(`FINDINGS: ${total} (${findings.size} distinct, ${written} written to ${args.out})\n`);
    for (const [k, v] of findings) process.stdout.write(`  ${v}× ${k}\n`);
    process.exit(1);
  }
  process.stdout.write('no disagreement\n');
}

await main();
