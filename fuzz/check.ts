/**
 * One differential check of one input: dfp's parseStream fed whole and in the given chunkings, against llhttp
 * (test/helpers/llhttp.ts, after the documented deviations). Shared by the fuzzer (fuzz/run.ts), the property
 * tests and the regression test that replays fuzz/findings/*.json.
 */
import { parseStream, type ParseResult } from '../src/http/index.js';
import { copyChunks, splitAt } from '../test/helpers/http-gen.js';
import { diffResults, judge, type Verdict } from '../test/helpers/llhttp.js';

export type FindingKind =
  | 'dfp-accepts-llhttp-rejects'
  | 'both-accept-differ'
  | 'chunking-dependent'
  | 'dfp-throws';

export interface CheckOptions {
  eof?: boolean;
  requestMethods?: number[];
}

export interface CheckResult {
  finding: FindingKind | null;
  detail: string | null;
  /** the chunking (cut points) that showed the finding, for chunking-dependent / dfp-throws */
  cuts: number[] | null;
  verdict: Verdict | null;
  dfp: ParseResult | null;
}

/** A replayable finding as written to fuzz/findings/*.json. */
export interface FindingFile {
  kind: 'request' | 'response';
  bytes_base64: string;
  /** latin1 view, for reading only */
  bytes_latin1: string;
  eof: boolean;
  requestMethods: number[] | null;
  /** the chunkings tried (cut points); [] = whole */
  chunkings: number[][];
  finding: FindingKind;
  detail: string | null;
  source: string;
  mutations: string[];
  seed: number | null;
}

function runDfp(kind: 'request' | 'response', chunks: Buffer[], opts: CheckOptions): ParseResult | Error {
  try {
    return parseStream(kind, chunks, { eof: opts.eof, requestMethods: opts.requestMethods });
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/**
 * Check `bytes` as a `kind` stream: dfp must not throw, must give the same result for every chunking (each a list
 * of cut points), and must not disagree with llhttp outside the documented deviations.
 */
export function checkInput(
  kind: 'request' | 'response', bytes: Buffer, chunkings: number[][], opts: CheckOptions = {},
): CheckResult {
  const whole = runDfp(kind, [bytes], opts);
  if (whole instanceof Error) {
    return { finding: 'dfp-throws', detail: `${whole.name}: ${whole.message}`, cuts: [], verdict: null, dfp: null };
  }
  for (const cuts of chunkings) {
    const parts = runDfp(kind, copyChunks(splitAt(bytes, cuts)), opts);
    if (parts instanceof Error) {
      return { finding: 'dfp-throws', detail: `${parts.name}: ${parts.message}`, cuts, verdict: null, dfp: whole };
    }
    const d = diffResults(whole, parts);
    if (d) return { finding: 'chunking-dependent', detail: `whole vs chunked: ${d}`, cuts, verdict: null, dfp: whole };
  }
  const rerun = (more: Buffer): ParseResult => {
    const r = runDfp(kind, [more], opts);
    if (r instanceof Error) throw r;
    return r;
  };
  let verdict: Verdict;
  try {
    verdict = judge(kind, bytes, whole, { eof: opts.eof, requestMethods: opts.requestMethods }, rerun);
  } catch (e) {
    return { finding: 'dfp-throws', detail: `on completed input: ${String(e)}`, cuts: [], verdict: null, dfp: whole };
  }
  return { finding: verdict.disagreement, detail: verdict.detail, cuts: null, verdict, dfp: whole };
}

/** Every cut point 1..len-1 as separate one-cut chunkings, plus byte-by-byte (for short inputs). */
export function allSplits(len: number, max = 400): number[][] {
  const out: number[][] = [];
  if (len > max) return out;
  for (let i = 1; i < len; i++) out.push([i]);
  const bytewise: number[] = [];
  for (let i = 1; i < len; i++) bytewise.push(i);
  if (bytewise.length) out.push(bytewise);
  return out;
}

/** Replay a finding file: the same check with the recorded chunkings. */
export function replayFinding(f: FindingFile): CheckResult {
  const bytes = Buffer.from(f.bytes_base64, 'base64');
  return checkInput(f.kind, bytes, f.chunkings, { eof: f.eof, requestMethods: f.requestMethods ?? undefined });
}
