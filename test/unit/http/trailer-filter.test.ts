/**
 * BodyParser.filterTrailers: the caller forwards buf[start, forwardEnd) of every execute() and, once done,
 * takeTrailerSection(); together that is the body as received less the trailer fields that frame, route or
 * authenticate (RFC 9110 §6.5.1), whatever the chunking. With filterTrailers off, forwardEnd is execute()'s result.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from '../../helpers/property.js';
import { BODY_CHUNKED, BODY_EOF, BODY_LENGTH, BodyParser, ERROR } from '../../../src/http/index.js';
import { bytes } from './helpers.js';

const DROPPED = [
  'Content-Length', 'Transfer-Encoding', 'Host', 'Connection', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer',
  'Upgrade', 'Proxy-Authorization', 'Proxy-Authenticate', 'Via',
];
const KEPT = ['X-Sum', 'Vary', 'Server-Timing', 'Hostname', 'X-Host', 'Via-X', 'TEE', 'T', 'Content-Lengths', 'Expect', 'Digest'];
const isDropped = (name: string): boolean => DROPPED.some((d) => d.toLowerCase() === name.toLowerCase());

/** What follows the body in the stream (the next message): never forwarded as body, never held. */
const NEXT = 'GET / HTTP/1.1\r\n\r\n';

interface Forwarded {
  /** the forwarded ranges, then the trailer section, then the bytes after the body */
  out: string;
  error: string | null;
  done: boolean;
  /** execute() results: with filtering on they must equal the ones with it off */
  results: number[];
  trailers: Array<[string, string]>;
}

/** A failed invariant inside the split loops (expect() per piece would cost seconds over ~40000 splittings). */
function check(ok: boolean, what: string, pieces: string[]): void {
  if (!ok) throw new Error(`${what}; pieces ${JSON.stringify(pieces)}`);
}

/**
 * Feed `pieces` as the proxy does: forward piece[0, forwardEnd), then the trailer section when done, then keep the
 * bytes after the body. Each piece is a fresh copy overwritten right after execute(), as a reused read buffer is.
 */
function forward(pieces: string[], filter: boolean, kind = BODY_CHUNKED, length = 0): Forwarded {
  const b = new BodyParser();
  b.filterTrailers = filter;
  const trailers: Array<[string, string]> = [];
  b.onTrailer = (n, v) => { trailers.push([n, v]); };
  b.reset(kind, length);
  let out = '';
  const results: number[] = [];
  for (const text of pieces) {
    const piece = bytes(text);
    if (b.done) {
      out += text;
      continue;
    }
    const r = b.execute(piece, 0, piece.length);
    results.push(r);
    check(filter || b.forwardEnd === r, `forwardEnd ${b.forwardEnd} !== ${r} without filterTrailers`, pieces);
    if (r === ERROR) {
      check(b.forwardEnd === ERROR, `forwardEnd ${b.forwardEnd} after ERROR`, pieces);
      return { out, error: b.error, done: false, results, trailers };
    }
    check(b.forwardEnd >= 0 && b.forwardEnd <= r, `forwardEnd ${b.forwardEnd} outside [0, ${r}]`, pieces);
    out += piece.toString('latin1', 0, b.forwardEnd);
    piece.fill(0x5a); // the caller's buffer is reused: held trailer bytes must be copies
    if (b.done) {
      const section = b.takeTrailerSection();
      if (section !== null) out += section.toString('latin1');
      check(b.takeTrailerSection() === null, 'a second takeTrailerSection() is not null', pieces);
      out += text.slice(r);
    }
  }
  return { out, error: b.error, done: b.done, results, trailers };
}

function twoPieces(s: string): string[][] {
  const out: string[][] = [];
  for (let k = 1; k < s.length; k++) out.push([s.slice(0, k), s.slice(k)]);
  return out;
}

function threePieces(s: string): string[][] {
  const out: string[][] = [];
  for (let a = 1; a < s.length; a++) for (let b = a + 1; b < s.length; b++) out.push([s.slice(0, a), s.slice(a, b), s.slice(b)]);
  return out;
}

const everySplit = (s: string): string[][] => [[s], s.split(''), ...twoPieces(s), ...threePieces(s)];

/** A chunked body with the given trailer lines, and what forwarding must give (dropped lines removed). */
function bodyWith(lines: string[]): { input: string; expected: string } {
  const head = '5\r\nhello\r\n0\r\n';
  const kept = lines.filter((l) => !isDropped(l.slice(0, l.indexOf(':'))));
  return { input: head + lines.join('') + '\r\n' + NEXT, expected: head + kept.join('') + '\r\n' + NEXT };
}

describe('filterTrailers: forwarded ranges + takeTrailerSection() = the body less the dropped trailer fields', () => {
  const VARIANTS: Array<[string, string[]]> = [
    ['kept and dropped fields mixed', ['X-Sum: 1\r\n', 'Content-Length: 9\r\n', 'host: evil\r\n', 'X-B: 2\r\n']],
    ['no trailer fields', []],
    ['only dropped fields (the final CRLF is still sent)', ['Transfer-Encoding: chunked\r\n', 'Via: 1.1 evil\r\n']],
    ['only kept fields (the section is passed on as received)', ['X-Sum: 1\r\n', 'Vary:*\r\n']],
    ['dropped names in lower case', ['connection: close\r\n', 'x-a: 1\r\n', 'proxy-authorization: Basic eA==\r\n', 'te: trailers\r\n']],
    ['dropped names in upper case', ['KEEP-ALIVE: 5\r\n', 'X-A: 1\r\n', 'PROXY-CONNECTION: close\r\n', 'UPGRADE: h2c\r\n']],
    ['dropped names in mixed case, empty and OWS-padded values', ['tRaIlEr:\r\n', 'X-E:\r\n', 'Proxy-Authenticate: \t Basic \t\r\n', 'X-F: \t v \t\r\n']],
    ['names that only start or end like a dropped one are kept', KEPT.map((n, k) => `${n}: ${k}\r\n`)],
  ];
  it.each(VARIANTS)('%s, at every split into one, two and three pieces and byte by byte', (_t, lines) => {
    const { input, expected } = bodyWith(lines);
    const whole = forward([input], false);
    for (const pieces of everySplit(input)) {
      const on = forward(pieces, true);
      const off = forward(pieces, false);
      if (on.out !== expected || off.out !== input || on.error !== null || off.error !== null || !on.done || !off.done
        || on.results.join() !== off.results.join() || JSON.stringify(on.trailers) !== JSON.stringify(whole.trailers)) {
        expect({ pieces, on, off }).toEqual({ pieces, on: { ...on, out: expected, error: null, done: true }, off: { ...off, out: input } });
        expect(on.results).toEqual(off.results);
        expect(on.trailers).toEqual(whole.trailers);
      }
    }
  });

  it('onTrailer still reports every field, the dropped ones included', () => {
    const { input } = bodyWith(['X-Sum: 1\r\n', 'Content-Length: 9\r\n', 'host: evil\r\n', 'X-B: 2\r\n']);
    expect(forward([input], true).trailers).toEqual([['X-Sum', '1'], ['Content-Length', '9'], ['host', 'evil'], ['X-B', '2']]);
  });

  it('forwardEnd is where the first trailer field starts, then the start of each later call until done', () => {
    const b = new BodyParser();
    b.filterTrailers = true;
    b.reset(BODY_CHUNKED, 0);
    const first = bytes('3\r\nabc\r\n0\r\nX-A: 1\r\nHo');
    expect([b.execute(first, 0, first.length), b.forwardEnd]).toEqual([first.length, first.indexOf('X-A')]);
    const second = bytes('st: evil\r\n\r\nNEXT');
    expect([b.execute(second, 0, second.length), b.forwardEnd, b.done]).toEqual([second.length - 4, 0, true]);
    expect(b.takeTrailerSection()?.toString('latin1')).toBe('X-A: 1\r\n\r\n');
  });

  it('a section of only the final CRLF is not held: forwardEnd is the result and there is no section', () => {
    for (const pieces of everySplit('0\r\n\r\nNEXT')) {
      const b = new BodyParser();
      b.filterTrailers = true;
      b.reset(BODY_CHUNKED, 0);
      for (const p of pieces) {
        if (b.done) break;
        const r = b.execute(bytes(p), 0, p.length);
        expect(b.forwardEnd).toBe(r);
      }
      expect([b.done, b.takeTrailerSection()]).toEqual([true, null]);
    }
  });

  it('filterTrailers is kept by reset(); a section not taken is dropped by reset()', () => {
    const b = new BodyParser();
    b.filterTrailers = true;
    const body = bytes('0\r\nVia: x\r\nX-A: 1\r\n\r\n');
    b.reset(BODY_CHUNKED, 0);
    b.execute(body, 0, body.length);
    expect(b.done).toBe(true);
    b.reset(BODY_CHUNKED, 0);
    expect([b.filterTrailers, b.takeTrailerSection()]).toEqual([true, null]);
    expect([b.execute(body, 0, body.length), b.forwardEnd]).toEqual([body.length, 3]);
    expect(b.takeTrailerSection()?.toString('latin1')).toBe('X-A: 1\r\n\r\n');
  });

  it('Content-Length and close-delimited bodies: forwardEnd is the result, no section', () => {
    for (const filter of [false, true]) {
      const cl = forward(['hel', 'lo', NEXT], filter, BODY_LENGTH, 5);
      expect([cl.done, cl.out]).toEqual([true, 'hello' + NEXT]);
      const b = new BodyParser();
      b.filterTrailers = filter;
      b.reset(BODY_EOF, 0);
      expect([b.execute(bytes('0\r\nVia: x\r\n\r\n'), 0, 13), b.forwardEnd, b.takeTrailerSection()]).toEqual([13, 13, null]);
    }
  });
});

describe('filterTrailers does not change what is rejected', () => {
  const INVALID: Array<[string, string, string]> = [
    ['a space before the colon of a dropped name', '0\r\nX-A: 1\r\nHost : a\r\n\r\n', 'INVALID_TRAILER'],
    ['an obs-folded dropped field', '0\r\nVia: a\r\n b\r\n\r\n', 'INVALID_TRAILER'],
    ['a bare LF after a kept field', '0\r\nX-A: 1\n\r\n', 'INVALID_TRAILER'],
    ['a NUL in a dropped value', '0\r\nTE: a\u0000\r\n\r\n', 'INVALID_TRAILER'],
    ['a bare CR ending the section after fields', '0\r\nX-A: 1\r\n\rx', 'INVALID_TRAILER'],
    ['a trailer section above the limit', `0\r\nX-A: ${'b'.repeat(16400)}\r\n\r\n`, 'TRAILER_TOO_LARGE'],
  ];
  it.each(INVALID)('%s: same code, forwardEnd is ERROR', (_t, input, code) => {
    const splits = input.length > 200 ? [[input], twoPieces(input)[100]!, twoPieces(input)[16000]!] : everySplit(input);
    for (const pieces of splits) {
      const on = forward(pieces, true);
      const off = forward(pieces, false);
      expect([on.error, off.error]).toEqual([code, code]);
      expect(on.results).toEqual(off.results);
    }
  });
});

describe('filterTrailers, property: random chunks, trailer names and split points', () => {
  const nameArb = fc.oneof(
    fc.constantFrom(...DROPPED),
    fc.constantFrom(...DROPPED).map((n) => n.toLowerCase()),
    fc.constantFrom(...DROPPED).map((n) => n.toUpperCase()),
    fc.constantFrom(...KEPT),
  );
  const lineArb = fc.tuple(nameArb, fc.constantFrom('', ' ', '\t'), fc.string({ unit: fc.constantFrom('a', '1', ' ', '=', '\t'), maxLength: 6 }))
    .map(([n, ows, v]) => ({ name: n, line: `${n}:${ows}${v}\r\n` }));
  const bodyArb = fc.record({
    chunks: fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 4 }),
    lines: fc.array(lineArb, { maxLength: 6 }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  });

  it('forwarded + section = input less dropped lines; execute() results as without filtering', () => {
    checkProperty(
      fc.property(bodyArb, ({ chunks, lines, cuts }) => {
        const data = chunks.map((n, k) => `${n.toString(16)}\r\n${String.fromCharCode(0x61 + k).repeat(n)}\r\n`).join('');
        const input = `${data}0\r\n${lines.map((l) => l.line).join('')}\r\n${NEXT}`;
        const expected = `${data}0\r\n${lines.filter((l) => !isDropped(l.name)).map((l) => l.line).join('')}\r\n${NEXT}`;
        const at = [...new Set(cuts.map((c) => c % input.length))].sort((a, b) => a - b);
        const pieces = [0, ...at].map((a, k, all) => input.slice(a, all[k + 1] ?? input.length)).filter((p) => p.length > 0);
        const on = forward(pieces, true);
        const off = forward(pieces, false);
        expect([on.error, on.done, on.out]).toEqual([null, true, expected]);
        expect(off.out).toBe(input);
        expect(on.results).toEqual(off.results);
      }),
      { numRuns: 200, timeMs: 4000, floor: 60 },
    );
  });
});
