/**
 * Split invariance: a stream parses to the same result (verdict, messages, upgrade offset) whether it arrives
 * whole, cut at random points, or byte by byte. For valid generated streams and for mutated (mostly invalid)
 * ones: a verdict that depends on packet boundaries is a smuggling vector.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from '../helpers/property.js';
import { parseStream } from '../../src/http/index.js';
import {
  Rng, bytewise, copyChunks, loadCorpus, mutate, requestStreamArb, responseStreamArb, serializeStream, splitAt,
  type GenStream,
} from '../helpers/http-gen.js';
import { diffResults } from '../helpers/llhttp.js';


function checkSplits(kind: 'request' | 'response', bytes: Buffer, cuts: number[], opts: { eof?: boolean; requestMethods?: number[] }): void {
  const whole = parseStream(kind, [bytes], opts);
  const parts = parseStream(kind, copyChunks(splitAt(bytes, cuts.map((c) => c % Math.max(1, bytes.length)))), opts);
  expect(diffResults(whole, parts), JSON.stringify(bytes.toString('latin1'))).toBeNull();
}

const streams = { request: requestStreamArb(), response: responseStreamArb() };
const optsOf = (s: GenStream) => ({ eof: s.eof, requestMethods: s.requestMethods });

describe.each(['request', 'response'] as const)('split invariance (%s streams)', (kind) => {
  it('valid streams: random cut points parse like the whole', () => {
    checkProperty(
      fc.property(streams[kind], fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), (s, cuts) => {
        const bytes = serializeStream(s);
        const whole = parseStream(kind, [bytes], optsOf(s));
        expect(whole.error).toBeNull();
        checkSplits(kind, bytes, cuts, optsOf(s));
      }),
      { numRuns: 300, timeMs: 4000, floor: 100 },
    );
  });

  it('valid streams: byte by byte parses like the whole', () => {
    checkProperty(
      fc.property(streams[kind], (s) => {
        const bytes = serializeStream(s);
        const whole = parseStream(kind, [bytes], optsOf(s));
        const bytes1 = parseStream(kind, copyChunks(bytewise(bytes)), optsOf(s));
        expect(diffResults(whole, bytes1)).toBeNull();
      }),
      { numRuns: 150, timeMs: 3000, floor: 50 },
    );
  });

  it('mutated streams and corpus cases: the verdict does not depend on the chunking', () => {
    const corpus = loadCorpus(kind).map((c) => Buffer.from(c.raw_base64, 'base64'));
    checkProperty(
      fc.property(
        fc.oneof(streams[kind].map((s) => serializeStream(s)), fc.constantFrom(...corpus)),
        fc.integer(), fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), fc.boolean(),
        (input, seed, cuts, eof) => {
          const { bytes } = mutate(new Rng(seed), input, corpus);
          checkSplits(kind, bytes, cuts, { eof });
          const whole = parseStream(kind, [bytes], { eof });
          expect(diffResults(whole, parseStream(kind, copyChunks(bytewise(bytes)), { eof }))).toBeNull();
        },
      ),
      { numRuns: 400, timeMs: 5000, floor: 130 },
    );
  });
});
