import { describe, expect, it } from 'vitest';
import { BODY_CHUNKED, BODY_EOF, BODY_LENGTH, BODY_NONE, BodyParser, ERROR } from '../../../src/http/index.js';
import { bytes, piecesOf } from './helpers.js';

interface Run { end: number; done: boolean; error: string | null; errorStatus: number; data: string;
  chunks: Array<[number, string]>; trailers: Array<[string, string]>; forwarded: string }

/** Feed body bytes in pieces; stop at done or error. `end` is the offset in the whole input just past the body. */
function runBody(kind: number, length: number, input: string, size: number, limits?: ConstructorParameters<typeof BodyParser>[0]): Run {
  const b = new BodyParser(limits);
  let data = '';
  let forwarded = '';
  const chunks: Array<[number, string]> = [];
  const trailers: Array<[string, string]> = [];
  b.onData = (buf, s, e) => { data += buf.toString('latin1', s, e); };
  b.onChunk = (n, ext) => { chunks.push([n, ext]); };
  b.onTrailer = (n, v) => { trailers.push([n, v]); };
  b.reset(kind, length);
  let offset = 0;
  let end = b.done ? 0 : -1;
  for (const piece of piecesOf(bytes(input), size)) {
    if (b.done) break;
    const r = b.execute(piece, 0, piece.length);
    if (r === ERROR) return { end: ERROR, done: false, error: b.error, errorStatus: b.errorStatus, data, chunks, trailers, forwarded };
    forwarded += piece.toString('latin1', 0, r);
    if (b.done) end = offset + r;
    offset += piece.length;
  }
  return { end, done: b.done, error: b.error, errorStatus: b.errorStatus, data, chunks, trailers, forwarded };
}

const SIZES = [1 << 20, 1, 2, 5];

describe('body framing', () => {
  it('BODY_NONE and Content-Length 0 are done at once', () => {
    for (const [kind, length] of [[BODY_NONE, 0], [BODY_LENGTH, 0]]) {
      const b = new BodyParser();
      b.reset(kind, length);
      expect(b.done).toBe(true);
      expect(b.execute(bytes('GET'), 0, 3)).toBe(0);
    }
  });

  it('Content-Length counts bytes and stops at the next message', () => {
    for (const size of SIZES) {
      const r = runBody(BODY_LENGTH, 5, 'helloGET / HTTP/1.1', size);
      expect([r.done, r.end, r.data, r.forwarded]).toEqual([true, 5, 'hello', 'hello']);
    }
  });

  it('Content-Length reports remaining bytes while it streams', () => {
    const b = new BodyParser();
    b.reset(BODY_LENGTH, 10);
    expect(b.execute(bytes('abcd'), 0, 4)).toBe(4);
    expect([b.remaining, b.done, b.finish()]).toEqual([6, false, false]);
  });

  it('a close-delimited body takes everything and completes at finish()', () => {
    const b = new BodyParser();
    b.reset(BODY_EOF, 0);
    expect(b.execute(bytes('anything at all'), 0, 15)).toBe(15);
    expect(b.done).toBe(false);
    expect(b.finish()).toBe(true);
    expect(b.done).toBe(true);
  });

  it('a chunked body is decoded, forwarded raw, and ends after the last CRLF', () => {
    const body = '5\r\nhello\r\n6;a=b;c="q;\\"x"\r\n world\r\n000\r\nVary: *\r\nX-T:  v \t\r\n\r\n';
    for (const size of SIZES) {
      const r = runBody(BODY_CHUNKED, 0, body + 'NEXT', size);
      expect(r.error).toBe(null);
      expect([r.done, r.end, r.data, r.forwarded]).toEqual([true, body.length, 'hello world', body]);
      expect(r.chunks).toEqual([[5, ''], [6, ';a=b;c="q;\\"x"'], [0, '']]);
      expect(r.trailers).toEqual([['Vary', '*'], ['X-T', 'v']]);
    }
  });

  it('accepts hex sizes in either case and a size of 2^53-1 (streamed as far as given)', () => {
    expect(runBody(BODY_CHUNKED, 0, 'A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n', 1).data).toBe('01234567890123456789');
    const big = runBody(BODY_CHUNKED, 0, '1fffffffffffff\r\nabc', 1 << 20);
    expect([big.error, big.done, big.chunks]).toEqual([null, false, [[2 ** 53 - 1, '']]]);
  });
});

describe('chunked bodies are rejected with a stable reason', () => {
  const CASES: Array<[string, string, string, number, ConstructorParameters<typeof BodyParser>[0]?]> = [
    ['a missing chunk size', '\r\nabc\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a non-hex chunk size', 'g\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a space after the chunk size', 'a \r\n0123456789\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a signed chunk size', '-1\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a missing last-chunk', '3\r\nfoo\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a bare LF after the chunk size', '3\nfoo\r\n0\r\n\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a bare CR after the chunk size', '5\r\r;ABCD\r\n', 'INVALID_CHUNK_SIZE', 400],
    ['a chunk size above 2^53-1', '20000000000000\r\n', 'CHUNK_SIZE_OVERFLOW', 400],
    ['a chunk size of 17 hex digits', 'fffffffffffffffff\r\n', 'CHUNK_SIZE_OVERFLOW', 400],
    ['a chunk size of 17 hex digits, 16 of them leading zeros', '0000000000000000a\r\n0123456789\r\n0\r\n\r\n', 'CHUNK_SIZE_TOO_LONG', 400],
    ['a last-chunk of 17 zeros', '00000000000000000\r\n\r\n', 'CHUNK_SIZE_TOO_LONG', 400],
    ['a chunk size of 17 digits that is 2^53-1 once its zeros are gone', '0001fffffffffffff\r\n', 'CHUNK_SIZE_TOO_LONG', 400],
    ['an empty extension after ";"', '2;\r\naa\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['an extension with an empty value', '2;a=\r\naa\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['an unterminated quoted extension', '5;a="abc\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['a control byte in a quoted extension', '5;a="a\u0001"\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['whitespace around an extension', '5; a=b\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['bytes after a quoted extension value', '5;a="b"c\r\nhello\r\n0\r\n\r\n', 'INVALID_CHUNK_EXTENSION', 400],
    ['chunk extensions above the limit', `5;${'a'.repeat(40)}\r\nhello\r\n0\r\n\r\n`, 'CHUNK_EXTENSION_TOO_LARGE', 400, { maxChunkExtBytes: 32 }],
    ['chunk data longer than its size', '5\r\nhello!\r\n0\r\n\r\n', 'CHUNK_MISSING_CRLF', 400],
    ['chunk data followed by a bare LF', '5\r\nhello\n0\r\n\r\n', 'CHUNK_MISSING_CRLF', 400],
    ['chunk data followed by CR and no LF', '5\r\nhello\rx', 'CHUNK_MISSING_CRLF', 400],
    ['a trailer with a space before the colon', '0\r\nVary : *\r\n\r\n', 'INVALID_TRAILER', 400],
    ['a trailer without a colon', '0\r\nVary\r\n\r\n', 'INVALID_TRAILER', 400],
    ['an obs-folded trailer', '0\r\nA: b\r\n c\r\n\r\n', 'INVALID_TRAILER', 400],
    ['a trailer line ending in a bare LF', '0\r\nA: b\n\r\n', 'INVALID_TRAILER', 400],
    ['a NUL in a trailer value', '0\r\nA: b\u0000\r\n\r\n', 'INVALID_TRAILER', 400],
    ['a bare LF ending the trailer section', '0\r\n\n', 'INVALID_TRAILER', 400],
    ['a bare CR ending the trailer section', '0\r\n\rx', 'INVALID_TRAILER', 400],
    ['a trailer section above the limit', `0\r\nA: ${'b'.repeat(100)}\r\n\r\n`, 'TRAILER_TOO_LARGE', 431, { maxTrailerBytes: 64 }],
  ];
  it.each(CASES)('%s', (_t, input, code, status, limits) => {
    for (const size of SIZES) {
      const r = runBody(BODY_CHUNKED, 0, input, size, limits);
      expect([r.end, r.error, r.errorStatus]).toEqual([ERROR, code, status]);
    }
  });

  it('a chunk size is bounded at 16 hex digits, leading zeros included: 16 pass, 17 fail, at every split', () => {
    const body = (size: string): string => `${size}\r\n0123456789\r\n0\r\n\r\n`;
    const feed = (input: string, k: number): [string | null, boolean, string] => {
      const b = new BodyParser();
      let data = '';
      b.onData = (buf, s, e) => { data += buf.toString('latin1', s, e); };
      b.reset(BODY_CHUNKED, 0);
      for (const piece of [bytes(input.slice(0, k)), bytes(input.slice(k))]) {
        const r = b.execute(piece, 0, piece.length);
        if (r === ERROR) break;
        expect(r).toBe(piece.length);
      }
      return [b.error, b.done, data];
    };
    const ok = body('000000000000000a');
    for (let k = 0; k <= ok.length; k++) expect(feed(ok, k)).toEqual([null, true, '0123456789']);
    const bad = body('0000000000000000a');
    for (let k = 0; k <= bad.length; k++) expect(feed(bad, k)).toEqual(['CHUNK_SIZE_TOO_LONG', false, '']);
  });

  it('thousands of leading zeros in a chunk size fail at the 17th digit, not at the end of the line', () => {
    const b = new BodyParser();
    b.reset(BODY_CHUNKED, 0);
    const zeros = bytes(`${'0'.repeat(5000)}1\r\nx\r\n0\r\n\r\n`);
    for (let i = 0; i < 16; i++) expect(b.execute(zeros, i, i + 1)).toBe(i + 1);
    expect([b.execute(zeros, 16, 17), b.error, b.errorStatus]).toEqual([ERROR, 'CHUNK_SIZE_TOO_LONG', 400]);
  });

  it('a truncated chunked body is not done at finish()', () => {
    const b = new BodyParser();
    b.reset(BODY_CHUNKED, 0);
    b.execute(bytes('5\r\nhel'), 0, 6);
    expect(b.finish()).toBe(false);
  });
});
