import { parseStream, type ParseResult, type ParseStreamOptions } from '../../../src/http/index.js';

export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Split raw into pieces of `size` bytes (1 = byte by byte). */
export function piecesOf(raw: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < raw.length; i += size) out.push(raw.subarray(i, Math.min(raw.length, i + size)));
  return out;
}

/** Parse whole, byte by byte and at every two-chunk split; assert every way gives the same result; return it. */
export function parseAllWays(kind: 'request' | 'response', raw: Buffer | string, options?: ParseStreamOptions): ParseResult {
  const buf = typeof raw === 'string' ? bytes(raw) : raw;
  const whole = parseStream(kind, [buf], options);
  const expected = JSON.stringify(whole);
  const check = (chunks: Buffer[], how: string): void => {
    const got = JSON.stringify(parseStream(kind, chunks, options));
    if (got !== expected) throw new Error(`${how}: result differs from whole input\nwhole: ${expected}\n  got: ${got}`);
  };
  check(piecesOf(buf, 1), 'byte by byte');
  for (let k = 1; k < buf.length; k++) check([buf.subarray(0, k), buf.subarray(k)], `split at ${k}`);
  return whole;
}
