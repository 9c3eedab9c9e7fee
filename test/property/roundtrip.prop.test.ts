/**
 * Round-trip: generated valid messages, serialised, parse back to the same fields, through parseStream and
 * through the HeadParser / BodyParser API the proxy uses (offsets, ids, framing).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty } from '../helpers/property.js';
import {
  BODY_CHUNKED, BODY_EOF, BODY_LENGTH, BODY_NONE, BodyParser, H_CONTENT_LENGTH, H_HOST, H_TRANSFER_ENCODING,
  HEADER_STRIDE, HeadParser, NEED_MORE, ERROR, parseStream,
} from '../../src/http/index.js';
import {
  expectedMessage, requestArb, requestStreamArb, responseArb, responseStreamArb, serializeMessage, serializeStream,
  upgradeOffsetOf, type GenMessage, type GenStream,
} from '../helpers/http-gen.js';

const latin1 = (b: Buffer) => b.toString('latin1');

function checkStream(s: GenStream): void {
  const bytes = serializeStream(s);
  const r = parseStream(s.kind, [bytes], { eof: s.eof, requestMethods: s.requestMethods });
  expect(r.error, JSON.stringify(latin1(bytes))).toBeNull();
  expect(r.incomplete).toBe(false);
  expect(r.upgradeOffset).toBe(upgradeOffsetOf(s));
  expect(r.messages.length).toBe(s.messages.length);
  s.messages.forEach((m, i) => {
    const got = r.messages[i]!;
    const want = expectedMessage(m);
    expect({ ...got, body: latin1(got.body) }).toEqual({ ...want, body: latin1(want.body) });
  });
}

const BODY_KIND = { none: BODY_NONE, length: BODY_LENGTH, chunked: BODY_CHUNKED, eof: BODY_EOF } as const;

/** One message through HeadParser + BodyParser directly. */
function checkHeadApi(m: GenMessage): void {
  const bytes = serializeMessage(m);
  const head = new HeadParser(m.kind);
  if (m.kind === 'response') head.requestMethod = m.requestMethod || 1;
  const end = head.execute(bytes, 0, bytes.length);
  expect(end, `${head.error} ${JSON.stringify(latin1(bytes))}`).toBeGreaterThan(0);
  expect(head.buf).toBe(bytes); // one chunk: zero-copy
  expect(head.headStart).toBe(0);
  expect(head.headEnd).toBe(end);
  expect(latin1(bytes.subarray(end - 4, end))).toBe('\r\n\r\n');
  if (m.kind === 'request') {
    expect(head.methodName()).toBe(m.method);
    expect(head.target()).toBe(m.target);
    expect(latin1(bytes.subarray(head.methodStart, head.methodEnd))).toBe(m.method);
    expect(latin1(bytes.subarray(head.targetStart, head.targetEnd))).toBe(m.target);
  } else {
    expect(head.statusCode).toBe(m.status);
  }
  expect(head.versionMinor).toBe(m.versionMinor);
  expect(head.headerCount).toBe(m.headers.length);
  let host = -1;
  m.headers.forEach(([n, v], i) => {
    expect(head.headerName(i)).toBe(n);
    expect(head.headerValue(i)).toBe(v);
    const h = head.headers;
    const at = i * HEADER_STRIDE;
    expect(latin1(bytes.subarray(h[at]!, h[at + 1]!))).toBe(n);
    expect(latin1(bytes.subarray(h[at + 2]!, h[at + 3]!))).toBe(v);
    expect(latin1(bytes.subarray(h[at + 4]! - 2, h[at + 4]!))).toBe('\r\n');
    if (i + 1 < m.headers.length) expect(h[at + 4]).toBe(h[at + HEADER_STRIDE]); // lines are contiguous
    const lower = n.toLowerCase();
    if (lower === 'host') host = i;
    if (lower === 'content-length') expect(head.headerIds[i]).toBe(H_CONTENT_LENGTH);
    if (lower === 'transfer-encoding') expect(head.headerIds[i]).toBe(H_TRANSFER_ENCODING);
    if (lower === 'host') expect(head.headerIds[i]).toBe(H_HOST);
  });
  expect(head.hostIndex).toBe(host);
  if (m.upgrade && m.kind === 'request') return; // CONNECT: tunnel data from headEnd
  expect(head.contentLength).toBe(m.contentLength);
  if (m.framing === 'length' && m.contentLength === 0) expect([BODY_NONE, BODY_LENGTH]).toContain(head.bodyKind);
  else expect(head.bodyKind).toBe(BODY_KIND[m.framing]);
  const te = m.headers.find(([n]) => n.toLowerCase() === 'transfer-encoding');
  expect(head.chunked).toBe(te !== undefined && te[1].toLowerCase().endsWith('chunked'));
  const body = new BodyParser();
  const data: Buffer[] = [];
  const trailers: [string, string][] = [];
  body.onData = (b, s, e) => void data.push(Buffer.from(b.subarray(s, e)));
  body.onTrailer = (n, v) => void trailers.push([n, v]);
  body.reset(head.bodyKind, head.contentLength);
  const bodyEnd = body.execute(bytes, end, bytes.length);
  expect(bodyEnd).not.toBe(ERROR);
  if (m.framing === 'eof') {
    expect(body.done).toBe(false);
    expect(body.finish()).toBe(true);
  } else {
    expect(body.done).toBe(true);
    expect(bodyEnd).toBe(bytes.length);
  }
  expect(latin1(Buffer.concat(data))).toBe(latin1(m.body));
  expect(trailers).toEqual(m.trailers);
}

describe('round-trip: generated messages parse back to their fields', () => {
  it('request streams via parseStream', () => {
    checkProperty(fc.property(requestStreamArb(), checkStream), { numRuns: 300, timeMs: 4000, floor: 100 });
  });
  it('response streams via parseStream', () => {
    checkProperty(fc.property(responseStreamArb(), checkStream), { numRuns: 300, timeMs: 4000, floor: 100 });
  });
  it('request heads and bodies via HeadParser + BodyParser', () => {
    checkProperty(fc.property(requestArb({ last: true }), checkHeadApi), { numRuns: 300, timeMs: 3000, floor: 100 });
  });
  it('response heads and bodies via HeadParser + BodyParser', () => {
    checkProperty(fc.property(responseArb({ last: true }), checkHeadApi), { numRuns: 300, timeMs: 3000, floor: 100 });
  });
  it('a head split in two is joined into a parser-owned buffer with the same fields', () => {
    checkProperty(
      fc.property(requestArb({ last: false }), fc.nat(), (m, cut) => {
        const bytes = serializeMessage(m);
        const headLen = bytes.indexOf('\r\n\r\n') + 4;
        const at = 1 + (cut % (headLen - 1));
        const head = new HeadParser('request');
        const first = Buffer.from(bytes.subarray(0, at));
        expect(head.execute(first, 0, first.length)).toBe(NEED_MORE);
        first.fill(0x58); // the parser must have copied what it keeps
        const second = Buffer.from(bytes.subarray(at));
        const end = head.execute(second, 0, second.length);
        expect(end).toBe(headLen - at);
        expect(head.methodName()).toBe(m.method);
        expect(head.target()).toBe(m.target);
        m.headers.forEach(([n, v], i) => {
          expect(head.headerName(i)).toBe(n);
          expect(head.headerValue(i)).toBe(v);
        });
      }),
      { numRuns: 300, timeMs: 3000, floor: 100 },
    );
  });
});
