import { describe, expect, it } from 'vitest';
import { DFP_STRICTER, judge } from '../../helpers/llhttp.js';
import { bytes, parseAllWays } from './helpers.js';

/** [behaviour, input, reason code, status] for requests. */
const REQUEST_REJECTIONS: Array<[string, string, string, number]> = [
  ['Content-Length together with Transfer-Encoding', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'CL_TE_CONFLICT', 400],
  ['Transfer-Encoding then Content-Length', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n', 'CL_TE_CONFLICT', 400],
  ['two different Content-Length values', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 'CL_MISMATCH', 400],
  ['a Content-Length list with different values', 'POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n', 'CL_MISMATCH', 400],
  ['a non-digit Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 3a\r\n\r\n', 'INVALID_CONTENT_LENGTH', 400],
  ['a signed Content-Length', 'POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n', 'INVALID_CONTENT_LENGTH', 400],
  ['an empty Content-Length', 'POST / HTTP/1.1\r\nContent-Length: \r\n\r\n', 'INVALID_CONTENT_LENGTH', 400],
  ['a Content-Length with inner space', 'POST / HTTP/1.1\r\nContent-Length: 4 2\r\n\r\n', 'INVALID_CONTENT_LENGTH', 400],
  ['a Content-Length list with an empty member', 'POST / HTTP/1.1\r\nContent-Length: 3,,3\r\n\r\n', 'INVALID_CONTENT_LENGTH', 400],
  ['a Content-Length above 2^53-1', 'POST / HTTP/1.1\r\nContent-Length: 9007199254740992\r\n\r\n', 'CONTENT_LENGTH_OVERFLOW', 400],
  ['a Content-Length of 22 digits', 'POST / HTTP/1.1\r\nContent-Length: 1000000000000000000000\r\n\r\n', 'CONTENT_LENGTH_OVERFLOW', 400],
  ['a request whose final coding is not chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', 'TE_NOT_CHUNKED', 400],
  ['a request with an unknown coding only', 'POST / HTTP/1.1\r\nTransfer-Encoding: pigeons\r\n\r\n', 'TE_NOT_CHUNKED', 400],
  ['an empty Transfer-Encoding', 'POST / HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['a trailing empty Transfer-Encoding member', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['a leading empty Transfer-Encoding member', 'POST / HTTP/1.1\r\nTransfer-Encoding: , chunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['an empty Transfer-Encoding member between codings', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip,,chunked\r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['"chunkedchunked" is not chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunkedchunked\r\n\r\n', 'TE_NOT_CHUNKED', 400],
  ['chunked in a later Transfer-Encoding field followed by another coding', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n', 'TE_NOT_CHUNKED', 400],
  ['chunked applied twice in one field', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 'CHUNKED_TWICE', 400],
  ['chunked applied twice across fields', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 'CHUNKED_TWICE', 400],
  ['a parameter on chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1\r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['a non-token coding', 'POST / HTTP/1.1\r\nTransfer-Encoding: "chunked"\r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['Transfer-Encoding in an HTTP/1.0 request', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'TE_IN_HTTP10', 400],
  ['a chunk size of 17 hex digits, leading zeros included (Go net/http bound)', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000a\r\n0123456789\r\n0\r\n\r\n', 'CHUNK_SIZE_TOO_LONG', 400],
  ['obs-fold', 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n', 'OBS_FOLD', 400],
  ['obs-fold with a tab', 'GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n', 'OBS_FOLD', 400],
  ['whitespace before the first field line', 'GET / HTTP/1.1\r\n Host: a\r\n\r\n', 'OBS_FOLD', 400],
  ['a space between field name and colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 'SPACE_BEFORE_COLON', 400],
  ['a tab between field name and colon', 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n', 'SPACE_BEFORE_COLON', 400],
  ['a bare CR inside a field value', 'GET / HTTP/1.1\r\nA: b\rc\r\n\r\n', 'BARE_CR', 400],
  ['a bare CR ending the start line', 'GET / HTTP/1.1\rA: b\r\n\r\n', 'BARE_CR', 400],
  ['a bare CR before the body', 'PUT / HTTP/1.1\r\nContent-Length: 3\r\n\rabc', 'BARE_CR', 400],
  ['a bare LF ending a field line', 'GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n', 'BARE_LF', 400],
  ['a bare LF ending the start line', 'GET / HTTP/1.1\nA: b\r\n\r\n', 'BARE_LF', 400],
  ['a bare LF ending the head', 'GET / HTTP/1.1\r\nA: b\r\n\n', 'BARE_LF', 400],
  ['a bare LF before the request line', '\nGET / HTTP/1.1\r\n\r\n', 'BARE_LF', 400],
  ['a NUL in a field value', 'GET / HTTP/1.1\r\nA: b\u0000c\r\n\r\n', 'INVALID_HEADER_VALUE', 400],
  ['a form feed in a field value', 'GET / HTTP/1.1\r\nA: b\fc\r\n\r\n', 'INVALID_HEADER_VALUE', 400],
  ['a DEL in a field value', 'GET / HTTP/1.1\r\nA: b\u007fc\r\n\r\n', 'INVALID_HEADER_VALUE', 400],
  ['an invalid byte in a field name', 'GET / HTTP/1.1\r\nFo@: x\r\n\r\n', 'INVALID_HEADER_NAME', 400],
  ['a field line without a colon', 'GET / HTTP/1.1\r\nName\r\n\r\n', 'INVALID_HEADER_NAME', 400],
  ['a field name starting with a non-token byte', 'GET / HTTP/1.1\r\n{x: y\r\n\r\n', 'INVALID_HEADER_NAME', 400],
  ['an empty field name', 'GET / HTTP/1.1\r\n: x\r\n\r\n', 'EMPTY_HEADER_NAME', 400],
  ['two Host fields', 'GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', 'DUPLICATE_HOST', 400],
  ['an invalid method byte', 'G@T / HTTP/1.1\r\n\r\n', 'INVALID_METHOD', 400],
  ['two spaces after the method', 'GET  / HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['a tab after the method', 'GET\t/ HTTP/1.1\r\n\r\n', 'INVALID_METHOD', 400],
  ['a space inside the target', 'GET /a b HTTP/1.1\r\n\r\n', 'INVALID_VERSION', 400],
  ['a byte >= 0x80 in the target', 'GET /\u00e9 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['a control byte in the target', 'GET /\u0001 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['a DEL in the target', 'GET /\u007f HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['a relative target', 'GET a/b HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['an absolute target with another scheme', 'GET ftp://a/b HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['an absolute target without authority', 'GET http:///b HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['asterisk-form with GET', 'GET * HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['PRI * (the h2 preface)', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'INVALID_TARGET', 400],
  ['CONNECT without a port', 'CONNECT example.com HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['CONNECT with port 0', 'CONNECT example.com:0 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['CONNECT with a port above 65535', 'CONNECT example.com:65536 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['CONNECT with origin-form', 'CONNECT / HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['CONNECT with userinfo', 'CONNECT u@example.com:443 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['CONNECT with an empty host', 'CONNECT :443 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['authority-form without CONNECT', 'GET example.com:443 HTTP/1.1\r\n\r\n', 'INVALID_TARGET', 400],
  ['HTTP/0.9 (no version)', 'GET /\r\n\r\n', 'INVALID_VERSION', 400],
  ['HTTP/2.0 on an HTTP/1 connection', 'GET / HTTP/2.0\r\n\r\n', 'INVALID_VERSION', 400],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\n\r\n', 'INVALID_VERSION', 400],
  ['a lowercase protocol name', 'GET / http/1.1\r\n\r\n', 'INVALID_VERSION', 400],
  ['RTSP', 'OPTIONS / RTSP/1.0\r\n\r\n', 'INVALID_VERSION', 400],
  ['ICE', 'SOURCE / ICE/1.0\r\n\r\n', 'INVALID_VERSION', 400],
  ['a space after the version', 'GET / HTTP/1.1 \r\n\r\n', 'INVALID_VERSION', 400],
  ['more than 8 empty lines before the request line', '\r\n'.repeat(9) + 'GET / HTTP/1.1\r\n\r\n', 'TOO_MANY_EMPTY_LINES', 400],
];

const RESPONSE_REJECTIONS: Array<[string, string, string, number]> = [
  ['Content-Length together with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 'CL_TE_CONFLICT', 400],
  ['chunked applied twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 'CHUNKED_TWICE', 400],
  ['a trailing empty Transfer-Encoding member', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked,\r\n\r\n', 'INVALID_TRANSFER_ENCODING', 400],
  ['a last-chunk of 17 zeros', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n00000000000000000\r\n\r\n', 'CHUNK_SIZE_TOO_LONG', 400],
  ['a one-digit status', 'HTTP/1.1 2 OK\r\n\r\n', 'INVALID_STATUS', 400],
  ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'INVALID_STATUS', 400],
  ['a status below 100', 'HTTP/1.1 099 OK\r\n\r\n', 'INVALID_STATUS', 400],
  ['two spaces before the status', 'HTTP/1.1  200 OK\r\n\r\n', 'INVALID_STATUS', 400],
  ['a tab after the version', 'HTTP/1.1\t200 OK\r\n\r\n', 'INVALID_VERSION', 400],
  ['HTTP/0.9', 'HTTP/0.9 200 OK\r\n\r\n', 'INVALID_VERSION', 400],
  ['RTSP', 'RTSP/1.1 200 OK\r\n\r\n', 'INVALID_VERSION', 400],
  ['an extra digit in the major version', 'HTTP/01.1 200 OK\r\n\r\n', 'INVALID_VERSION', 400],
  ['an extra digit in the minor version', 'HTTP/1.01 200 OK\r\n\r\n', 'INVALID_VERSION', 400],
  ['a control byte in the reason', 'HTTP/1.1 200 O\u0001K\r\n\r\n', 'INVALID_REASON', 400],
  ['a bare CR after the status line', 'HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n', 'BARE_CR', 400],
  ['a bare LF after the status line', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'BARE_LF', 400],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n', 'OBS_FOLD', 400],
  ['a space before the colon', 'HTTP/1.1 200 OK\r\nA : b\r\n\r\n', 'SPACE_BEFORE_COLON', 400],
];

describe('request heads are rejected with a stable reason and status', () => {
  it.each(REQUEST_REJECTIONS)('%s', (_title, input, code, status) => {
    const r = parseAllWays('request', input);
    expect(r.ok).toBe(false);
    expect(r.error).toBe(code);
    expect(r.errorStatus).toBe(status);
  });
});

describe('response heads are rejected with a stable reason and status', () => {
  it.each(RESPONSE_REJECTIONS)('%s', (_title, input, code, status) => {
    const r = parseAllWays('response', input);
    expect(r.ok).toBe(false);
    expect(r.error).toBe(code);
    expect(r.errorStatus).toBe(status);
  });
});

describe('absolute-form authority (regressions from the differential fuzzer)', () => {
  const BAD = ['http://:#', 'http://h#', 'http://h#f', 'http://h:80#', 'http://"@o', 'http://a{b@o/', 'http://:80/', 'http://u@/x', 'http://[::1/', 'http://a:8x/', 'http://a b/', 'http://[]/'];
  it.each(BAD)('rejects %s as INVALID_TARGET', (target) => {
    const r = parseAllWays('request', `GET ${target} HTTP/1.1\r\n\r\n`);
    expect([r.ok, r.error]).toEqual([false, target === 'http://a b/' ? 'INVALID_VERSION' : 'INVALID_TARGET']);
  });
  const GOOD = ['http://a:/', 'http://[::1]:8080/x', 'http://a%12:b!&*$@host.example:1234/toto', 'https://h?q', 'http://h/#f', 'http://h?#'];
  it.each(GOOD)('accepts %s', (target) => {
    const r = parseAllWays('request', `GET ${target} HTTP/1.1\r\n\r\n`);
    expect([r.ok, r.messages[0]?.url]).toEqual([true, target]);
  });
  it('an empty Upgrade field is not an upgrade', () => {
    const r = parseAllWays('request', 'GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n');
    expect([r.ok, r.upgradeOffset, r.messages[0].upgrade]).toEqual([true, null, false]);
  });
});

describe('chunk-size length bound against llhttp', () => {
  it('llhttp reads a 17-digit size with leading zeros as its value; dfp rejects it, a documented stricter deviation', () => {
    const input = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000a\r\n0123456789\r\n0\r\n\r\n';
    const dfp = parseAllWays('request', input);
    const v = judge('request', bytes(input), dfp);
    expect([dfp.error, v.outcome, v.disagreement]).toEqual(['CHUNK_SIZE_TOO_LONG', 'dfp-stricter', null]);
    expect(DFP_STRICTER.some((d) => d.includes('CHUNK_SIZE_TOO_LONG'))).toBe(true);
  });
});
