/**
 * The documented deviations (test/helpers/llhttp.ts) stay honest: each one's example is still accepted by dfp
 * and still rejected or read differently by llhttp (else the entry is obsolete and would hide a regression),
 * and after the deviation's rewrite the two agree.
 */
import { describe, expect, it } from 'vitest';
import { parseStream } from '../../src/http/index.js';
import { DFP_DIFFERS, DFP_MORE_PERMISSIVE, diffResults, judge, llhttpParse } from '../helpers/llhttp.js';

const entries = [...DFP_MORE_PERMISSIVE, ...DFP_DIFFERS].map((d) => [d.id, d] as const);

describe('documented deviations dfp ↔ llhttp', () => {
  it.each(entries)('%s: dfp accepts, llhttp differs, and the rewrite reconciles them', (_id, d) => {
    const bytes = Buffer.from(d.example.input, 'latin1');
    const dfp = parseStream(d.example.kind, [bytes]);
    expect(dfp.error).toBeNull();
    const raw = llhttpParse(d.example.kind, [bytes]);
    expect(raw.ok === false || diffResults(dfp, raw) !== null).toBe(true);
    const v = judge(d.example.kind, bytes, dfp);
    expect(v.disagreement, v.detail ?? '').toBeNull();
    expect(v.deviations).toContain(d.id);
  });
});
