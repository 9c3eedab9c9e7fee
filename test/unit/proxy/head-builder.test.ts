import { describe, expect, it } from 'vitest';
import { HeadBuilder } from '../../../src/proxy/head-builder.js';

describe('HeadBuilder', () => {
  it('joins slices (short and long) in order, then the tail, and starts empty again', () => {
    const out = new HeadBuilder();
    const src = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n' + 'X-Long: ' + 'v'.repeat(100) + '\r\n');
    out.add(src, 0, 17);
    out.addAll(Buffer.from('Via: 1.1 dfp\r\n'));
    out.add(src, 26, src.length);
    out.add(src, 5, 5); // empty: ignored
    const body = Buffer.from('xxHELLOyy');
    const built = out.build(body, 2, 7);
    expect(built.toString()).toBe('GET /a HTTP/1.1\r\nVia: 1.1 dfp\r\nX-Long: ' + 'v'.repeat(100) + '\r\nHELLO');
    expect(out.length).toBe(0);
    expect(out.build(null, 0, 0).length).toBe(0);
  });

  it('grows past its initial segment table', () => {
    const out = new HeadBuilder();
    const letters = Buffer.from('abcdefghijklmnopqrstuvwxyz');
    let expected = '';
    for (let i = 0; i < 200; i++) {
      out.add(letters, i % 26, (i % 26) + 1);
      expected += letters.toString('latin1', i % 26, (i % 26) + 1);
    }
    expect(out.build(null, 0, 0).toString()).toBe(expected);
  });
});
