import { describe, expect, it } from 'vitest';
import {
  BODY_CHUNKED, BODY_EOF, BODY_LENGTH, BODY_NONE, ERROR, FORM_ABSOLUTE, FORM_ASTERISK, FORM_AUTHORITY, FORM_ORIGIN,
  H_CONNECTION, H_CONTENT_LENGTH, H_EXPECT, H_HOST, H_KEEP_ALIVE, H_OTHER, H_PROXY_AUTHENTICATE, H_PROXY_AUTHORIZATION,
  H_PROXY_CONNECTION, H_TE, H_TRAILER, H_TRANSFER_ENCODING, H_UPGRADE, H_VIA, HEADER_STRIDE, HeadParser,
  METHOD_CONNECT, METHOD_DELETE, METHOD_GET, METHOD_HEAD, METHOD_OPTIONS, METHOD_OTHER, METHOD_PATCH, METHOD_POST,
  METHOD_PUT, METHOD_TRACE, NEED_MORE,
} from '../../../src/http/index.js';
import { bytes } from './helpers.js';

/** Parse one head fed in pieces of `size` bytes (0 = whole); returns the parser and the end index in the last piece. */
function parseHead(kind: 'request' | 'response', input: string, size = 0, setup?: (p: HeadParser) => void): { p: HeadParser; r: number } {
  const p = new HeadParser(kind);
  setup?.(p);
  const raw = bytes(input);
  if (size === 0) return { p, r: p.execute(raw, 0, raw.length) };
  let r = NEED_MORE;
  for (let i = 0; i < raw.length && r === NEED_MORE; i += size) {
    const piece = Buffer.from(raw.subarray(i, Math.min(raw.length, i + size)));
    r = p.execute(piece, 0, piece.length);
  }
  return { p, r };
}

function headersOf(p: HeadParser): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let k = 0; k < p.headerCount; k++) out.push([p.headerName(k), p.headerValue(k)]);
  return out;
}

describe('request line', () => {
  const METHODS: Array<[string, number]> = [
    ['GET', METHOD_GET], ['HEAD', METHOD_HEAD], ['POST', METHOD_POST], ['PUT', METHOD_PUT], ['DELETE', METHOD_DELETE],
    ['OPTIONS', METHOD_OPTIONS], ['TRACE', METHOD_TRACE], ['PATCH', METHOD_PATCH], ['PROPFIND', METHOD_OTHER],
    ['MKCOLA', METHOD_OTHER], ['get', METHOD_OTHER], ['QUERY', METHOD_OTHER],
  ];
  it.each(METHODS)('method %s is identified as %i (extension methods are METHOD_OTHER)', (name, id) => {
    const { p, r } = parseHead('request', `${name} /x HTTP/1.1\r\n\r\n`);
    expect(r).toBeGreaterThan(0);
    expect(p.method).toBe(id);
    expect(p.methodName()).toBe(name);
  });

  const FORMS: Array<[string, string, string, number]> = [
    ['origin-form', 'GET', '/a/b?c=d', FORM_ORIGIN],
    ['origin-form with a fragment and visible ASCII llhttp accepts', 'GET', '/a"|{}^`\\#frag', FORM_ORIGIN],
    ['absolute-form http', 'GET', 'http://example.com/x', FORM_ABSOLUTE],
    ['absolute-form https with port and query', 'GET', 'https://example.com:8443?q', FORM_ABSOLUTE],
    ['absolute-form with an uppercase scheme', 'GET', 'HTTP://Example.COM/', FORM_ABSOLUTE],
    ['absolute-form with userinfo', 'GET', 'http://u:p@example.com/', FORM_ABSOLUTE],
    ['authority-form with CONNECT', 'CONNECT', 'example.com:443', FORM_AUTHORITY],
    ['authority-form with an IPv4 address', 'CONNECT', '10.0.0.1:8080', FORM_AUTHORITY],
    ['authority-form with an IPv6 literal', 'CONNECT', '[2001:db8::1]:443', FORM_AUTHORITY],
    ['authority-form with an underscore', 'CONNECT', 'home_0.example.com:443', FORM_AUTHORITY],
    ['asterisk-form with OPTIONS', 'OPTIONS', '*', FORM_ASTERISK],
  ];
  it.each(FORMS)('%s', (_t, method, target, form) => {
    for (const size of [0, 1]) {
      const { p, r } = parseHead('request', `${method} ${target} HTTP/1.1\r\nHost: h\r\n\r\n`, size);
      expect(r).toBeGreaterThan(0);
      expect(p.targetForm).toBe(form);
      expect(p.target()).toBe(target);
    }
  });

  it('HTTP/1.0 and HTTP/1.1 set versionMinor', () => {
    expect(parseHead('request', 'GET / HTTP/1.0\r\n\r\n').p.versionMinor).toBe(0);
    expect(parseHead('request', 'GET / HTTP/1.1\r\n\r\n').p.versionMinor).toBe(1);
  });

  it('skips empty lines before the request line (RFC 9112 §2.2) and headStart points at the method', () => {
    const { p, r } = parseHead('request', '\r\n\r\nGET / HTTP/1.1\r\n\r\n');
    expect(r).toBe(22);
    expect(p.headStart).toBe(4);
    expect(p.methodStart).toBe(4);
  });
});

describe('status line', () => {
  it('parses status and reason, including an empty reason and a missing one', () => {
    const a = parseHead('response', 'HTTP/1.1 404 Not Found\r\n\r\n').p;
    expect([a.statusCode, a.reason(), a.versionMinor]).toEqual([404, 'Not Found', 1]);
    expect(parseHead('response', 'HTTP/1.0 200 \r\n\r\n').p.reason()).toBe('');
    expect(parseHead('response', 'HTTP/1.1 301\r\n\r\n').p.reason()).toBe('');
  });
  it('keeps obs-text in the reason phrase', () => {
    expect(parseHead('response', 'HTTP/1.1 500 Ori\u00ebntatie\r\n\r\n').p.reason()).toBe('Ori\u00ebntatie');
  });
});

describe('header fields', () => {
  it('records offsets (stride 5), excluding leading and trailing OWS, lines contiguous', () => {
    const input = 'GET / HTTP/1.1\r\nA:  x y \t\r\nB:\r\nC:\tz\r\n\r\n';
    const { p, r } = parseHead('request', input);
    expect(r).toBe(input.length);
    expect(headersOf(p)).toEqual([['A', 'x y'], ['B', ''], ['C', 'z']]);
    const h = p.headers;
    expect(h[0]).toBe(16);
    expect(h[4]).toBe(h[HEADER_STRIDE]);
    expect(h[2 * HEADER_STRIDE + 4]).toBe(input.length - 2);
  });

  it('accepts obs-text in values (RFC 9110 §5.5)', () => {
    expect(headersOf(parseHead('request', 'GET / HTTP/1.1\r\nT: D\u00fcsseldorf\u00ff\r\n\r\n').p)).toEqual([['T', 'D\u00fcsseldorf\u00ff']]);
  });

  it('identifies known headers case-insensitively by length and folded bytes', () => {
    const names = ['host', 'CONTENT-LENGTH', 'Transfer-Encoding', 'connection', 'Proxy-Connection',
      'proxy-authorization', 'Upgrade', 'expect', 'Keep-Alive', 'TE', 'Trailer', 'via', 'Proxy-Authenticate', 'X-Other', 'Hosts'];
    const values: Record<string, string> = { 'CONTENT-LENGTH': '0', 'Transfer-Encoding': 'chunked' };
    const lines = names.filter((n) => n !== 'Transfer-Encoding').map((n) => `${n}: ${values[n] ?? 'v'}\r\n`).join('');
    const { p, r } = parseHead('request', `GET / HTTP/1.1\r\n${lines}\r\n`);
    expect(r).toBeGreaterThan(0);
    expect(Array.from(p.headerIds.subarray(0, p.headerCount))).toEqual([H_HOST, H_CONTENT_LENGTH, H_CONNECTION,
      H_PROXY_CONNECTION, H_PROXY_AUTHORIZATION, H_UPGRADE, H_EXPECT, H_KEEP_ALIVE, H_TE, H_TRAILER, H_VIA,
      H_PROXY_AUTHENTICATE, H_OTHER, H_OTHER]);
    expect(p.findHeader(H_TRANSFER_ENCODING)).toBe(-1);
    expect(p.findHeader(H_OTHER)).toBe(12);
    expect(p.findHeader(H_OTHER, 13)).toBe(13);
    expect(p.hostIndex).toBe(0);
  });

  it('marks hop-by-hop headers, including names listed in Connection', () => {
    const { p } = parseHead('request', 'GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Foo, keep-alive\r\nx-foo: 1\r\nX-Bar: 2\r\n' +
      'Keep-Alive: 5\r\nTE: trailers\r\nTrailer: t\r\nUpgrade: ws\r\nProxy-Authorization: b\r\nProxy-Connection: c\r\n\r\n');
    // Trailer is end-to-end (RFC 9110 §6.6.2): it announces the trailer fields that travel with the body.
    expect(Array.from(p.hopByHop.subarray(0, p.headerCount))).toEqual([0, 1, 1, 0, 1, 1, 0, 1, 1, 1]);
  });

  it('never lets Connection name away a field that frames or routes the message (both directions)', () => {
    const named = 'Connection: Content-Length, HOST, transfer-encoding, Via, Trailer, Expect, HTTP2-Settings, x-a\r\n';
    const req = parseHead('request', `POST / HTTP/1.1\r\nHost: h\r\n${named}Content-Length: 3\r\nVia: 1.1 a\r\n` +
      'Trailer: x-t\r\nExpect: 100-continue\r\nHTTP2-Settings: AAA\r\nX-A: 1\r\nX-B: 2\r\n\r\n').p;
    expect(req.bodyKind).toBe(BODY_LENGTH);
    // Host, Connection, Content-Length, Via, Trailer, Expect stay as they are; HTTP2-Settings is always hop-by-hop;
    // X-A is named, X-B is not.
    expect(Array.from(req.hopByHop.subarray(0, req.headerCount))).toEqual([0, 1, 0, 0, 0, 0, 1, 1, 0]);
    const res = parseHead('response', `HTTP/1.1 200 OK\r\n${named}Transfer-Encoding: chunked\r\nX-A: 1\r\n\r\n`).p;
    expect(res.bodyKind).toBe(BODY_CHUNKED);
    expect(Array.from(res.hopByHop.subarray(0, res.headerCount))).toEqual([1, 0, 1]);
  });

  it('never forwards a field named Close, which `Connection: close` names (a reserved name, RFC 9110 §16.3.1)', () => {
    for (const conn of ['close', 'keep-alive', 'close, x-a']) {
      const { p } = parseHead('request', `GET / HTTP/1.1\r\nHost: h\r\nClose: 1\r\nConnection: ${conn}\r\n\r\n`);
      expect(p.hopByHop[1]).toBe(1);
    }
  });

  it('marks every field a long list of connection options names, whatever its case, and no other', () => {
    const options: string[] = [];
    let fields = '';
    for (let i = 0; i < 60; i++) {
      options.push(i % 2 === 0 ? `X-Opt-${i}` : `x-OPT-${i}`);
      fields += `x-opt-${i}: v\r\nX-Keep-${i}: v\r\n`;
    }
    // repeated names are all marked
    fields += 'X-OPT-0: again\r\n';
    const { p } = parseHead('request', `GET / HTTP/1.1\r\nHost: h\r\nConnection: ${options.reverse().join(' ,, ')}, unknown\r\n${fields}\r\n`);
    const marked: string[] = [];
    for (let k = 0; k < p.headerCount; k++) if (p.hopByHop[k] === 1 && p.headerIds[k] !== H_CONNECTION) marked.push(p.headerName(k).toLowerCase());
    expect(marked.length).toBe(61);
    expect(marked.every((n) => n.startsWith('x-opt-'))).toBe(true);
  });
});

describe('framing facts of a request', () => {
  const CASES: Array<[string, string, number, number, boolean]> = [
    ['no body without Content-Length or Transfer-Encoding', '', BODY_NONE, -1, false],
    ['Content-Length', 'Content-Length: 12\r\n', BODY_LENGTH, 12, false],
    ['Content-Length with leading zeros', 'Content-Length: 003\r\n', BODY_LENGTH, 3, false],
    ['Content-Length 0', 'Content-Length: 0\r\n', BODY_LENGTH, 0, false],
    ['Content-Length of 2^53-1', 'Content-Length: 9007199254740991\r\n', BODY_LENGTH, 9007199254740991, false],
    ['chunked', 'Transfer-Encoding: chunked\r\n', BODY_CHUNKED, -1, true],
    ['chunked in uppercase', 'Transfer-Encoding: CHUNKED\r\n', BODY_CHUNKED, -1, true],
    ['an unknown coding before chunked (forwarded as is)', 'Transfer-Encoding: gzip, chunked\r\n', BODY_CHUNKED, -1, true],
    ['codings across fields ending in chunked', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', BODY_CHUNKED, -1, true],
    ['OWS around list members', 'Transfer-Encoding: gzip\t,  chunked \r\n', BODY_CHUNKED, -1, true],
  ];
  it.each(CASES)('%s', (_t, fields, kind, length, chunked) => {
    const { p, r } = parseHead('request', `POST / HTTP/1.1\r\n${fields}\r\n`);
    expect(r).toBeGreaterThan(0);
    expect([p.bodyKind, p.contentLength, p.chunked]).toEqual([kind, length, chunked]);
  });

  it('CONNECT has no body even with Content-Length: tunnel data starts at headEnd', () => {
    const input = 'CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 10\r\n\r\n';
    const { p, r } = parseHead('request', input + 'tunnel');
    expect(r).toBe(input.length);
    expect(p.headEnd).toBe(input.length);
    expect(p.bodyKind).toBe(BODY_NONE);
    expect(p.method).toBe(METHOD_CONNECT);
  });
});

describe('keep-alive, upgrade and expect', () => {
  const KEEP: Array<[string, string, boolean]> = [
    ['HTTP/1.1 by default', 'GET / HTTP/1.1\r\n\r\n', true],
    ['HTTP/1.1 with Connection: close', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n', false],
    ['HTTP/1.1 with close among other tokens', 'GET / HTTP/1.1\r\nConnection: foo, CLOSE\r\n\r\n', false],
    ['HTTP/1.0 by default', 'GET / HTTP/1.0\r\n\r\n', false],
    ['HTTP/1.0 with Connection: keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', true],
    ['HTTP/1.0 with keep-alive and close', 'GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n', false],
    ['close followed by a tab', 'GET / HTTP/1.1\r\nConnection: close\t\r\n\r\n', false],
    ['HTTP/1.1 with Proxy-Connection: close', 'GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n', false],
    ['HTTP/1.0 with Proxy-Connection: keep-alive', 'GET / HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n', true],
  ];
  it.each(KEEP)('request keepAlive: %s', (_t, input, keep) => {
    expect(parseHead('request', input).p.keepAlive).toBe(keep);
  });

  it('a request upgrades only with an Upgrade header and Connection: upgrade', () => {
    expect(parseHead('request', 'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n').p.upgrade).toBe(true);
    expect(parseHead('request', 'GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n').p.upgrade).toBe(false);
    expect(parseHead('request', 'GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n').p.upgrade).toBe(false);
    expect(parseHead('request', 'GET / HTTP/1.1\r\nProxy-Connection: upgrade\r\nUpgrade: ws\r\n\r\n').p.upgrade).toBe(false);
  });

  it('expectContinue is set by Expect: 100-continue in any case', () => {
    expect(parseHead('request', 'PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n').p.expectContinue).toBe(true);
    expect(parseHead('request', 'PUT / HTTP/1.1\r\nExpect: 100-continues\r\n\r\n').p.expectContinue).toBe(false);
  });
});

describe('response body kind', () => {
  const CASES: Array<[string, string, number, number, boolean]> = [
    ['1xx has no body', 'HTTP/1.1 100 Continue\r\n\r\n', METHOD_GET, BODY_NONE, true],
    ['204 has no body even with Content-Length', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', METHOD_GET, BODY_NONE, true],
    ['304 has no body even with Transfer-Encoding', 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n', METHOD_GET, BODY_NONE, true],
    ['a response to HEAD has no body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', METHOD_HEAD, BODY_NONE, true],
    ['2xx to CONNECT has no body', 'HTTP/1.1 200 Connection established\r\n\r\n', METHOD_CONNECT, BODY_NONE, true],
    ['407 to CONNECT has a body', 'HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\n', METHOD_CONNECT, BODY_LENGTH, true],
    ['Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', METHOD_GET, BODY_LENGTH, true],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', METHOD_GET, BODY_CHUNKED, true],
    ['chunked not final means close-delimited', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', METHOD_GET, BODY_EOF, false],
    ['neither means close-delimited', 'HTTP/1.1 200 OK\r\n\r\n', METHOD_GET, BODY_EOF, false],
  ];
  it.each(CASES)('%s', (_t, input, requestMethod, kind, keepAlive) => {
    for (const size of [0, 1]) {
      const { p, r } = parseHead('response', input, size, (q) => { q.requestMethod = requestMethod; });
      expect(r).toBeGreaterThan(0);
      expect(p.bodyKind).toBe(kind);
      expect(p.keepAlive).toBe(keepAlive);
    }
  });

  it('101 is an upgrade', () => {
    const { p } = parseHead('response', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n');
    expect([p.upgrade, p.bodyKind]).toEqual([true, BODY_NONE]);
  });
});

describe('incremental scanning', () => {
  const HEAD = 'POST http://example.com/upload?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\nAccept: */*  \r\n\r\n';

  it('gives the same head at every split point and byte by byte', () => {
    const whole = parseHead('request', HEAD).p;
    const expected = JSON.stringify([headersOf(whole), whole.target(), whole.bodyKind, whole.contentLength,
      Array.from(whole.hopByHop.subarray(0, whole.headerCount))]);
    for (const size of [1, 2, 3, 7, 64]) {
      const { p, r } = parseHead('request', HEAD, size);
      expect(r).toBeGreaterThan(0);
      expect(JSON.stringify([headersOf(p), p.target(), p.bodyKind, p.contentLength,
        Array.from(p.hopByHop.subarray(0, p.headerCount))])).toBe(expected);
    }
  });

  it('is zero-copy for a head in one chunk and returns the index after the head', () => {
    const raw = bytes(HEAD + 'hello');
    const p = new HeadParser('request');
    expect(p.execute(raw, 0, raw.length)).toBe(HEAD.length);
    expect(p.buf).toBe(raw);
    expect(p.headEnd).toBe(HEAD.length);
  });

  it('copies a head that spans chunks into its own buffer; the caller may reuse its buffer', () => {
    const raw = bytes(HEAD + 'hello');
    const p = new HeadParser('request');
    const first = Buffer.from(raw.subarray(0, 30));
    expect(p.execute(first, 0, first.length)).toBe(NEED_MORE);
    first.fill(0x21);
    const second = raw.subarray(30);
    const r = p.execute(second, 0, second.length);
    expect(r).toBe(HEAD.length - 30);
    expect(p.buf).not.toBe(second);
    expect(p.target()).toBe('http://example.com/upload?x=1');
    expect(p.headerValue(1)).toBe('5');
  });

  it('honours start and end within the caller buffer', () => {
    const raw = bytes('garbage' + HEAD + 'tail');
    const p = new HeadParser('request');
    expect(p.execute(raw, 7, 7 + HEAD.length)).toBe(7 + HEAD.length);
    expect(p.headerValue(0)).toBe('example.com');
  });

  it('parses pipelined heads from one chunk one after another, reusing the arrays', () => {
    const raw = bytes('GET /a HTTP/1.1\r\nA: 1\r\n\r\nGET /b HTTP/1.1\r\nB: 2\r\n\r\n');
    const p = new HeadParser('request');
    const headers = p.headers;
    const r1 = p.execute(raw, 0, raw.length);
    expect(p.target()).toBe('/a');
    p.reset();
    const r2 = p.execute(raw, r1, raw.length);
    expect(r2).toBe(raw.length);
    expect([p.target(), p.headerName(0)]).toEqual(['/b', 'B']);
    expect(p.headers).toBe(headers);
  });

  it('grows the header arrays past 32 fields and keeps them after reset', () => {
    const lines = Array.from({ length: 100 }, (_, k) => `X-${k}: ${k}\r\n`).join('');
    const { p } = parseHead('request', `GET / HTTP/1.1\r\n${lines}\r\n`, 5);
    expect(p.headerCount).toBe(100);
    expect(p.headerValue(99)).toBe('99');
  });

  it('stays failed until reset()', () => {
    const p = new HeadParser('request');
    const bad = bytes('GET / HTTP/1.1\r\nA : b\r\n\r\n');
    expect(p.execute(bad, 0, bad.length)).toBe(ERROR);
    const good = bytes('GET / HTTP/1.1\r\n\r\n');
    expect(p.execute(good, 0, good.length)).toBe(ERROR);
    p.reset();
    expect(p.execute(good, 0, good.length)).toBe(good.length);
    expect(p.error).toBe(null);
  });

  it('scans a 64 KiB head fed one byte at a time in linear time', () => {
    const line = `X-Filler: ${'a'.repeat(500)}\r\n`;
    const lines = line.repeat(Math.floor((65536 - 200) / line.length));
    const raw = bytes(`GET / HTTP/1.1\r\nHost: h\r\n${lines}\r\n`);
    expect(raw.length).toBeLessThanOrEqual(65536);
    const p = new HeadParser('request');
    const t0 = performance.now();
    let r = NEED_MORE;
    for (let i = 0; i < raw.length; i++) r = p.execute(raw, i, i + 1);
    const ms = performance.now() - t0;
    expect(r).toBe(raw.length);
    expect(p.headerCount).toBe(1 + lines.length / line.length);
    expect(ms).toBeLessThan(500); // ~10 ms on a laptop; quadratic rescanning would take seconds
  });
});

describe('limits', () => {
  const limited = (kind: 'request' | 'response', input: string, size: number, limits: ConstructorParameters<typeof HeadParser>[1]) => {
    const p = new HeadParser(kind, limits);
    const raw = bytes(input);
    let r = NEED_MORE;
    for (let i = 0; i < raw.length && r === NEED_MORE; i += size) r = p.execute(raw, i, Math.min(raw.length, i + size));
    return { p, r };
  };
  const CASES: Array<[string, 'request' | 'response', string, ConstructorParameters<typeof HeadParser>[1], string, number]> = [
    ['a head above maxHeadBytes', 'request', `GET / HTTP/1.1\r\nA: ${'x'.repeat(200)}\r\n\r\n`, { maxHeadBytes: 100 }, 'HEAD_TOO_LARGE', 431],
    ['a head that never ends', 'request', `GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(40)}`, { maxHeadBytes: 100 }, 'HEAD_TOO_LARGE', 431],
    ['a request line above maxStartLineBytes', 'request', `GET /${'a'.repeat(100)} HTTP/1.1\r\n\r\n`, { maxStartLineBytes: 50 }, 'URI_TOO_LONG', 414],
    ['an unfinished request line above maxStartLineBytes', 'request', `GET /${'a'.repeat(100)}`, { maxStartLineBytes: 50 }, 'URI_TOO_LONG', 414],
    ['a status line above maxStartLineBytes', 'response', `HTTP/1.1 200 ${'O'.repeat(100)}\r\n\r\n`, { maxStartLineBytes: 50 }, 'STATUS_LINE_TOO_LONG', 400],
    ['more than maxHeaders fields', 'request', `GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(5)}\r\n`, { maxHeaders: 4 }, 'TOO_MANY_HEADERS', 431],
  ];
  it.each(CASES)('%s is rejected whole and byte by byte', (_t, kind, input, limits, code, status) => {
    for (const size of [1 << 20, 1, 7]) {
      const { p, r } = limited(kind, input, size, limits);
      expect(r).toBe(ERROR);
      expect([p.error, p.errorStatus]).toEqual([code, status]);
    }
  });

  it('accepts a head of exactly maxHeadBytes and maxHeaders fields', () => {
    const input = `GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(4)}\r\n`;
    for (const size of [1 << 20, 1]) {
      const { p, r } = limited('request', input, size, { maxHeadBytes: input.length, maxHeaders: 4 });
      expect(p.error).toBe(null);
      expect(r).toBeGreaterThan(0);
    }
  });
});
