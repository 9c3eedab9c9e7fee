/**
 * The generators themselves: every generated stream is valid for llhttp (strict) and llhttp parses it back to
 * the model. If this fails, the generator (not dfp) is wrong.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from '../helpers/property.js';
import { expectedMessage, requestStreamArb, responseStreamArb, serializeStream, type GenStream } from '../helpers/http-gen.js';
import { llhttpWithDeviations } from '../helpers/llhttp.js';

function checkWithLlhttp(s: GenStream): void {
  const bytes = serializeStream(s);
  const r = llhttpWithDeviations(s.kind, bytes, { eof: s.eof, requestMethods: s.requestMethods }).result;
  expect(r.error, bytes.toString('latin1')).toBeNull();
  expect(r.messages.length).toBe(s.messages.length);
  s.messages.forEach((m, i) => {
    const got = r.messages[i]!;
    const want = expectedMessage(m);
    expect({ ...got, body: got.body.toString('latin1') }).toEqual({ ...want, body: want.body.toString('latin1') });
  });
}

describe('generators produce streams llhttp accepts as modelled', () => {
  it('requests', () => {
    checkProperty(fc.property(requestStreamArb(), checkWithLlhttp), { numRuns: 300, timeMs: 3000, floor: 100 });
  });
  it('responses', () => {
    checkProperty(fc.property(responseStreamArb(), checkWithLlhttp), { numRuns: 300, timeMs: 3000, floor: 100 });
  });
});
