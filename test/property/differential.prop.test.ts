/**
 * Differential against Node's llhttp (strict), outside the documented deviations of test/helpers/llhttp.ts:
 * dfp never accepts what llhttp rejects, and where both accept they agree on method, target, version, headers,
 * trailers, body bytes (framing) and the upgrade point. dfp rejecting what llhttp accepts is allowed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from '../helpers/property.js';
import { parseStream } from '../../src/http/index.js';
import { checkInput } from '../../fuzz/check.js';
import {
  Rng, loadCorpus, mutate, randomChunks, requestStreamArb, responseStreamArb, serializeStream, splitAt,
  type GenStream,
} from '../helpers/http-gen.js';
import { judge } from '../helpers/llhttp.js';

const streams = { request: requestStreamArb(), response: responseStreamArb() };
const optsOf = (s: GenStream) => ({ eof: s.eof, requestMethods: s.requestMethods });

function cutsOf(rng: Rng, bytes: Buffer): number[] {
  const parts = randomChunks(rng, bytes);
  const cuts: number[] = [];
  let off = 0;
  for (const p of parts.slice(0, -1)) cuts.push((off += p.length));
  return cuts;
}

describe.each(['request', 'response'] as const)('differential vs llhttp (%s streams)', (kind) => {
  it('valid generated streams: both accept and agree field by field', () => {
    checkProperty(
      fc.property(streams[kind], (s) => {
        const bytes = serializeStream(s);
        const dfp = parseStream(kind, [bytes], optsOf(s));
        expect(dfp.error, JSON.stringify(bytes.toString('latin1'))).toBeNull();
        const v = judge(kind, bytes, dfp, optsOf(s));
        expect(v.outcome, `${v.detail} ${JSON.stringify(bytes.toString('latin1'))}`).toBe('agree');
      }),
      { numRuns: 300, timeMs: 4000, floor: 100 },
    );
  });

  it('mutated generated streams: no disagreement outside the documented deviations', () => {
    const corpus = loadCorpus(kind).map((c) => Buffer.from(c.raw_base64, 'base64'));
    checkProperty(
      fc.property(streams[kind], fc.integer(), (s, seed) => {
        const rng = new Rng(seed);
        const { bytes, ops } = mutate(rng, serializeStream(s), corpus);
        const r = checkInput(kind, bytes, [cutsOf(rng, bytes)], optsOf(s));
        expect(r.finding, `${r.detail} ${ops.join(' ')} ${JSON.stringify(bytes.toString('latin1'))}`).toBeNull();
      }),
      { numRuns: 500, timeMs: 5000, floor: 150 },
    );
  });

  it('mutated corpus cases: no disagreement outside the documented deviations', () => {
    const corpus = loadCorpus(kind).map((c) => Buffer.from(c.raw_base64, 'base64'));
    checkProperty(
      fc.property(fc.constantFrom(...corpus), fc.integer(), fc.boolean(), (input, seed, eof) => {
        const rng = new Rng(seed);
        const { bytes, ops } = mutate(rng, input, corpus);
        const r = checkInput(kind, bytes, [cutsOf(rng, bytes)], { eof: kind === 'response' && eof });
        expect(r.finding, `${r.detail} ${ops.join(' ')} ${JSON.stringify(bytes.toString('latin1'))}`).toBeNull();
      }),
      { numRuns: 500, timeMs: 5000, floor: 150 },
    );
  });

  it('strict corpus cases, whole and at every split point: no disagreement', () => {
    for (const c of loadCorpus(kind)) {
      const bytes = Buffer.from(c.raw_base64, 'base64');
      const cuts: number[][] = [];
      for (let i = 1; i < bytes.length; i++) cuts.push([i]);
      const opts = { requestMethods: c.skip_body && kind === 'response' ? [2, 2] : undefined };
      const r = checkInput(kind, bytes, cuts, opts);
      expect(r.finding, `${c.file}:${c.line} ${c.title}: ${r.detail}`).toBeNull();
      // every lenient case is a must-reject input for a strict parser
      if (c.mode === 'lenient') expect(parseStream(kind, splitAt(bytes, []), opts).ok, `${c.file}:${c.line} ${c.title}`).toBe(false);
    }
  });
});
