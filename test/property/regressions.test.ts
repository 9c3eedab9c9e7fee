/**
 * Fixed regression cases from the property tests and the fuzzer (fuzz/run.ts), and a replay of every
 * fuzz/findings/*.json. Most cases here pinned bugs in the differential harness (oracle or deviation table); the
 * scanner findings are kept as plain cases once src/http fixed them (an open one would be `it.fails`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStream } from '../../src/http/index.js';
import { allSplits, checkInput, replayFinding, type FindingFile } from '../../fuzz/check.js';

const b = (s: string) => Buffer.from(s, 'latin1');

interface Case { name: string; kind: 'request' | 'response'; input: string; eof?: boolean; requestMethods?: number[] }

/** No disagreement with llhttp (after documented deviations), whole and at every split point. */
const AGREE: Case[] = [
  { name: 'trailers of a chunked message still in progress are not compared (llhttp reports them at its end)', kind: 'request',
    input: 'OPTIONS * HTTP/1.1\r\n~:\r\nTransfer-Encoding:chunked\r\n\r\n2\r\nab\r\n0\r\n4:\r\n' },
  { name: 'upgrade flag of an upgrade request whose body is still arriving is not compared', kind: 'request',
    input: 'T / HTTP/1.1\r\nConnection:upgrade\r\nContent-Length:9\r\nUpgrade:s\r\n\r\n' },
  { name: 'extension method: a lone pending token after a message (llhttp rejects "c" at once)', kind: 'request',
    input: 'T / HTTP/1.1\r\nh:\r\n\r\nc' },
  { name: 'extension method after a body that ends in tchars', kind: 'request',
    input: 'GET http://0.0.0.0 HTTP/1.1\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n\x00A / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
  { name: 'two extension-method messages in one stream', kind: 'request',
    input: 'A / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nA / HTTP/1.1\r\n\r\n' },
  { name: 'RTSP method name over HTTP (ANNOUNCE) is an extension method for dfp', kind: 'request', input: 'ANNOUNCE / HTTP/1.0\r' },
  { name: 'identical repeated Content-Length (RFC 9110 §8.6)', kind: 'response',
    input: 'HTTP/1.1 404 \r\nContent-Length:0\r\nr:\r\nContent-Length:0\r\n\r\nHTTP/1.1 392 \r' },
  { name: 'identical Content-Length repeated 55 times (one rewrite round for all)', kind: 'response',
    input: `HTTP/1.1 200 OK\r\nX-: 3\r\n${'Content-Length: 003\r\n'.repeat(55)}\r\nabcHTTP/1.1 204 No Content\r\n\r\n` },
  { name: 'identical Content-Length list', kind: 'response', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc' },
  { name: 'a Transfer-Encoding trailer does not make llhttp\'s connection close-delimited for dfp', kind: 'response',
    input: 'HTTP/1.1 404\r\nb:\r\nTransfer-Encoding:Chunked\r\n\r\n0\r\ne:\r\nTransfer-Encoding:c\r\n\r\nHTTP/1.0 200 \r\n\r\n' },
  { name: 'a Connection: close trailer', kind: 'request',
    input: 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n' },
  { name: 'a Content-Length trailer in an upgrade request', kind: 'request',
    input: 'S HTTP://[1]/ HTTP/1.1\r\n*:\r\nTransfer-Encoding:chunked\r\nt:\r\nConnection:upgrade\r\nUpgrade:e.\r\n\r\n0\r\n4k:\r\nContent-Length: 5\r\nj6:D\r\n\r\nD' },
  { name: 'body text that looks like a framing trailer after a non-chunked coding ("dchunked") is body, not a trailer', kind: 'response',
    input: 'HTTP/1.1 200 \r\nt:\r\nTransfer-Encoding:dchunked\r\n\r\n2\r\nOK\r\n0\r\nTransfer-Encoding:' },
  { name: 'empty list members in a response\'s Transfer-Encoding (llhttp would read to EOF)', kind: 'response', requestMethods: [1, 1],
    input: 'HTTP/1.1 387 \r\nTransfer-Encoding:Chunked\r\n\r\n0\r\ns:\r\n\r\nHTTP/1.1 200\r\nTransfer-Encoding:chunked,\r\n\r\n6' },
  { name: 'body text that looks like a framing trailer when a later Transfer-Encoding line ends in another coding', kind: 'response',
    input: 'HTTP/1.1 200 \r\nTransfer-Encoding:chunked\r\nTransfer-Encoding:p\r\n\r\n7\r\n^abcdef\r\n0\r\n:\r\nContent-Length:' },
  { name: 'a Transfer-Encoding trailer in a message llhttp reaches only after an extension-method rewrite', kind: 'request', eof: true,
    input: 'H / HTTP/1.1\r\nr:\r\n\r\nO / HTTP/1.1\r\nConnection:Upgrade\r\nUpgrade:]\r\nTransfer-Encoding:chunked\r\n\r\n4\r\nZabc\r\n0\r\n9:\r\nTransfer-Encoding: de\r\n\r\nh8' },
  { name: 'empty list members in Transfer-Encoding ("chunked,")', kind: 'request',
    input: 'PATCH / HTTP/1.1\r\nTransfer-Encoding:chunked,\r\n\r\n0\r\n\r\n' },
  { name: 'a 1xx response has no body even with Content-Length', kind: 'response', input: 'HTTP/1.1 104 \r\nContent-Length:1\r\n\r\n' },
  { name: 'a 1xx response with Content-Length before a final response', kind: 'response',
    input: 'HTTP/1.0 104 \r\nContent-Length:7\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'HTAB after chunked (response: llhttp would read to EOF)', kind: 'response', eof: true,
    input: 'HTTP/1.1 282 \r\nContent-Length:0\r\n\r\nHTTP/1.1 270 \r\nTransfer-Encoding:Chunked\t\r\n\r\n7\r\n?abcdef\r\n0\r\ng:\r\n\r\n' },
  { name: 'HTAB after chunked (request)', kind: 'request', input: 'T / HTTP/1.1\r\nTransfer-Encoding:chunked\t\r\n\r\nA\r\n' },
  { name: 'HTAB after keep-alive in HTTP/1.0', kind: 'request',
    input: 'OPTIONS * HTTP/1.0\r\ne:\r\nConnection:keep-alive\t\r\nI:\r\n\r\nH / HTTP/1.1' },
  { name: 'HTAB around Content-Length', kind: 'request', input: 'POST / HTTP/1.1\r\nContent-Length:\t3\t\r\n\r\nabc' },
  { name: 'dfp decides a pending absolute-form target when the line ends (deferred)', kind: 'request', input: 'T http://" HTTP/1.1\r\na:\r' },
  { name: 'dfp decides a pending Transfer-Encoding line when the head ends (deferred)', kind: 'request',
    input: 'E / HTTP/1.1\r\nd:\r\nTransfer-Encoding:chunked\r\nr:\r\nTransfer-Encoding:x' },
  { name: 'dfp decides a pending Content-Length when the head ends (deferred)', kind: 'request', input: 'T http://& HTTP/1.1\r\n$:\r\nContent-Length:,' },
  { name: 'a response to HEAD has no body; CONNECT 2xx tunnels', kind: 'response', requestMethods: [2, 6],
    input: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n\r\nxyz' },
];

describe('regressions: the differential harness', () => {
  it.each(AGREE.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const bytes = b(c.input);
    const r = checkInput(c.kind, bytes, allSplits(bytes.length), { eof: c.eof, requestMethods: c.requestMethods });
    expect(r.finding, r.detail ?? '').toBeNull();
  });
});

describe('regressions: dfp scanner findings of the fuzzer (fixed in src/http 2d3f217, 8be01cd)', () => {
  // RFC 3986 §3.2.1: userinfo = *( unreserved / pct-encoded / sub-delims / ":" ). dfp takes everything before the
  // last "@" as userinfo, so `http://a\@b/` routes to b while WHATWG URL parsers (browsers, undici, many
  // filters) read host a: the classic URL-confusion of SSRF filters. llhttp rejects these. RFC 9110 §4.2.4 also
  // says a recipient SHOULD treat userinfo in an http(s) URI as an error.
  it.each([
    'GET http://a\\@b/ HTTP/1.1\r\n\r\n',
    'GET http://`@o/ HTTP/1.1\r\n\r\n',
    'GET http://a"@b/ HTTP/1.1\r\n\r\n',
    'GET http://a{@b/ HTTP/1.1\r\n\r\n',
    'GET http://a|@b/ HTTP/1.1\r\n\r\n',
    'GET http://a@b@c/ HTTP/1.1\r\n\r\n',
    'T http://h# HTTP/1.1\r\n\r\n',
    'GET http://h:80#x HTTP/1.1\r\n\r\n',
  ])('rejects invalid userinfo, or a fragment right after the authority, in an absolute-form target: %j', (input) => {
    expect(parseStream('request', [b(input)]).error).toBe('INVALID_TARGET');
  });
});

const findingsDir = new URL('../../fuzz/findings/', import.meta.url);
const files = existsSync(findingsDir) ? readdirSync(findingsDir).filter((f) => f.endsWith('.json')) : [];

describe('regressions: fuzz/findings/*.json replay', () => {
  it('has replayable files or none', () => expect(Array.isArray(files)).toBe(true));
  it.each(files)('%s', (file) => {
    const f = JSON.parse(readFileSync(new URL(file, findingsDir), 'utf8')) as FindingFile;
    const r = replayFinding(f);
    expect(r.finding, `${f.finding} was: ${f.detail}; now: ${r.detail}`).toBeNull();
  });
});
