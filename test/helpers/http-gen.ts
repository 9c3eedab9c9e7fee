/**
 * Generators for HTTP/1.1 message streams (fast-check arbitraries), their serializer, a byte mutator for the
 * differential fuzzer, and the llhttp corpus loader. Everything here is test/fuzz code, not hot path.
 *
 * A generated stream is valid for both dfp and llhttp (strict): messages that end the connection (Connection:
 * close, HTTP/1.0 without keep-alive, CONNECT, upgrades, close-delimited response bodies) only come last.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';

// ---------------------------------------------------------------- character classes (RFC 9110 / 3986 / 9112)
const range = (a: number, b: number): string => {
  let s = '';
  for (let c = a; c <= b; c++) s += String.fromCharCode(c);
  return s;
};
export const ALPHA = range(0x41, 0x5a) + range(0x61, 0x7a);
export const DIGIT = range(0x30, 0x39);
export const HEXDIG = DIGIT + 'abcdefABCDEF';
export const TCHAR = ALPHA + DIGIT + "!#$%&'*+-.^_`|~";
export const VCHAR = range(0x21, 0x7e);
export const OBS_TEXT = range(0x80, 0xff);
export const UNRESERVED = ALPHA + DIGIT + '-._~';
export const SUB_DELIMS = "!$&'()*+,;=";
export const PCHAR = UNRESERVED + SUB_DELIMS + ':@';

const charsOf = (set: string, minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...set.split('')), { minLength, maxLength }).map((a) => a.join(''));

// ---------------------------------------------------------------- model
export type Header = [name: string, value: string];

export interface GenChunk {
  size: number;
  /** serialised size text (hex, maybe leading zeros / upper case) */
  sizeText: string;
  /** raw extension text including leading ';' (may be '') */
  ext: string;
}

export interface GenMessage {
  kind: 'request' | 'response';
  method: string;           // requests
  target: string;           // requests
  status: number;           // responses
  reason: string;           // responses
  versionMinor: 0 | 1;
  /** headers as they should parse back (value without leading/trailing OWS), framing headers included */
  headers: Header[];
  /** OWS written before and after each header's value */
  ows: [string, string][];
  framing: 'none' | 'length' | 'chunked' | 'eof';
  body: Buffer;             // decoded body
  chunks: GenChunk[];       // chunked: data chunks, then the last-chunk (size 0)
  trailers: Header[];
  /** the method of the request this response answers (METHOD_* of src/http), for HEAD/CONNECT responses */
  requestMethod: number;
  /** message ends the HTTP part of the connection (CONNECT / upgrade) */
  upgrade: boolean;
  /** the Content-Length header's value, -1 when absent */
  contentLength: number;
}

export interface GenStream {
  kind: 'request' | 'response';
  messages: GenMessage[];
  /** responses: METHOD_* per message (src/http numbering) */
  requestMethods: number[];
  /** the last message's body ends at EOF (parse with eof: true) */
  eof: boolean;
  /** bytes after an upgrade / CONNECT (tunnel data, never parsed as HTTP) */
  tail: Buffer;
}

// src/http METHOD_* numbers (frozen API) used by generated response streams.
export const M_GET = 1;
export const M_HEAD = 2;
export const M_CONNECT = 6;

// ---------------------------------------------------------------- arbitraries
const SPECIAL_NAMES = new Set([
  'content-length', 'transfer-encoding', 'connection', 'upgrade', 'host', 'proxy-connection', 'keep-alive',
  'expect', 'te', 'trailer',
]);

export const headerNameArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: fc.constantFrom('Accept', 'User-Agent', 'Cookie', 'X-Forwarded-For', 'Cache-Control', 'Accept-Encoding', 'Referer', 'Via', 'Vary', 'ETag', 'Date', 'Server') },
    { weight: 2, arbitrary: charsOf(TCHAR, 1, 20) },
  )
  .filter((n) => !SPECIAL_NAMES.has(n.toLowerCase()));

const VALUE_INNER = VCHAR + ' \t';
/** field-value: no leading/trailing SP/HTAB; VCHAR, inner SP/HTAB, sometimes obs-text */
export const headerValueArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: charsOf(VCHAR, 0, 30) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(charsOf(VCHAR, 1, 10), charsOf(VALUE_INNER, 0, 20), charsOf(VCHAR, 1, 10))
      .map(([a, b, c]) => a + b + c),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(charsOf(VCHAR + OBS_TEXT, 1, 10), charsOf(VALUE_INNER + OBS_TEXT, 0, 10), charsOf(OBS_TEXT, 1, 3))
      .map(([a, b, c]) => a + b + c),
  },
);

const owsArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.constant(' ') },
  { weight: 1, arbitrary: charsOf(' \t', 1, 3) },
);
/** OWS before a value: '' or ' ' mostly. */
const leadOwsArb = fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 6, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: charsOf(' \t', 1, 3) });

export const COMMON_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH'];
export const OTHER_LLHTTP_METHODS = ['PROPFIND', 'M-SEARCH', 'MKCOL', 'PURGE', 'REPORT', 'LINK', 'SEARCH', 'QUERY', 'NOTIFY', 'COPY', 'MOVE', 'LOCK'];

/** methods: common, ones llhttp knows, and extension tokens (RFC 9110 §9.1) */
export const methodArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...COMMON_METHODS) },
  { weight: 2, arbitrary: fc.constantFrom(...OTHER_LLHTTP_METHODS) },
  { weight: 1, arbitrary: charsOf(ALPHA.slice(0, 26) + '-_', 1, 12).filter((m) => m !== 'CONNECT' && m !== 'PRI') },
);

const pctArb = fc.tuple(fc.constantFrom(...HEXDIG.split('')), fc.constantFrom(...HEXDIG.split(''))).map(([a, b]) => `%${a}${b}`);
const segmentArb = fc.array(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...PCHAR.split('')) }, { weight: 1, arbitrary: pctArb }), { maxLength: 12 }).map((a) => a.join(''));
const pathArb = fc.array(segmentArb, { minLength: 1, maxLength: 5 }).map((s) => '/' + s.join('/'));
const queryArb = fc.option(fc.array(fc.constantFrom(...(PCHAR + '/?').split('')), { maxLength: 20 }).map((a) => '?' + a.join('')), { nil: '' });
const hostArb = fc.oneof(
  fc.array(charsOf(ALPHA.slice(26) + DIGIT + '-', 1, 10).filter((l) => l[0] !== '-'), { minLength: 1, maxLength: 3 }).map((l) => l.join('.')),
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.')),
  fc.constantFrom('[::1]', '[2001:db8::1]', 'localhost'),
);
const portArb = fc.option(fc.integer({ min: 1, max: 65535 }).map((p) => `:${p}`), { nil: '' });
const originFormArb = fc.tuple(pathArb, queryArb).map(([p, q]) => p + q);
const absoluteFormArb = fc
  .tuple(fc.constantFrom('http', 'https', 'HTTP'), hostArb, portArb, fc.option(originFormArb, { nil: '' }))
  .map(([s, h, p, o]) => `${s}://${h}${p}${o}`);
const authorityFormArb = fc.tuple(hostArb, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`);

function hexSize(size: number, zeros: number, upper: boolean): string {
  const h = size.toString(16);
  return '0'.repeat(zeros) + (upper ? h.toUpperCase() : h);
}

const chunkExtArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.tuple(
          charsOf(TCHAR, 1, 8),
          fc.oneof(
            fc.constant(''),
            charsOf(TCHAR, 1, 8).map((v) => '=' + v),
            charsOf(ALPHA + DIGIT + ' ,;=', 0, 8).map((v) => `="${v}"`),
          ),
        ),
        { minLength: 1, maxLength: 3 },
      )
      .map((exts) => exts.map(([n, v]) => `;${n}${v}`).join('')),
  },
);

const headerArb = fc.tuple(headerNameArb, headerValueArb, leadOwsArb, owsArb);
const headersArb = fc.array(headerArb, { maxLength: 12 });

interface BodyShape { framing: 'none' | 'length' | 'chunked'; body: Buffer; chunks: GenChunk[]; trailers: Header[]; teValue: string; clText: string }

const bodyArb: fc.Arbitrary<BodyShape> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<BodyShape>({ framing: 'none', body: Buffer.alloc(0), chunks: [], trailers: [], teValue: '', clText: '' }) },
  {
    weight: 3,
    arbitrary: fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2 })).map(([b, zeros]): BodyShape => ({
      framing: 'length', body: Buffer.from(b), chunks: [], trailers: [], teValue: '', clText: '0'.repeat(zeros) + String(b.length),
    })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.integer({ min: 0, max: 2 }), fc.boolean(), chunkExtArb), { maxLength: 4 }),
        chunkExtArb,
        fc.array(fc.tuple(headerNameArb, headerValueArb), { maxLength: 3 }),
        fc.constantFrom('chunked', 'chunked', 'chunked', 'Chunked', 'gzip, chunked', 'deflate,chunked'),
      )
      .map(([parts, lastExt, trailers, te]): BodyShape => ({
        framing: 'chunked',
        body: Buffer.concat(parts.map((p) => Buffer.from(p[0]))),
        chunks: [
          ...parts.map(([d, z, u, ext]) => ({ size: d.length, sizeText: hexSize(d.length, z, u), ext })),
          { size: 0, sizeText: '0', ext: lastExt },
        ],
        trailers,
        teValue: te,
        clText: '',
      })),
  },
);

function insertAt<T>(arr: T[], pos: number, v: T): void {
  arr.splice(Math.min(pos, arr.length), 0, v);
}

interface MessageOpts { last: boolean }

function buildHeaders(
  raw: [string, string, string, string][], body: BodyShape, pos: number, extra: [string, string][],
): { headers: Header[]; ows: [string, string][] } {
  const headers: Header[] = raw.map(([n, v]) => [n, v]);
  const ows: [string, string][] = raw.map(([, , a, b]) => [a, b]);
  for (const [n, v] of extra) {
    insertAt(headers, pos, [n, v]);
    insertAt(ows, pos, [' ', '']);
  }
  if (body.framing === 'length') {
    insertAt(headers, pos, ['Content-Length', body.clText]);
    insertAt(ows, pos, [' ', '']);
  } else if (body.framing === 'chunked') {
    insertAt(headers, pos, ['Transfer-Encoding', body.teValue]);
    insertAt(ows, pos, [' ', '']);
  }
  return { headers, ows };
}

export function requestArb(opts: MessageOpts): fc.Arbitrary<GenMessage> {
  const plain = fc
    .tuple(
      methodArb, fc.oneof({ weight: 5, arbitrary: originFormArb }, { weight: 2, arbitrary: absoluteFormArb }, { weight: 1, arbitrary: fc.constant('*') }),
      fc.constantFrom<0 | 1>(1, 1, 1, 0), headersArb, bodyArb, fc.nat(20), fc.option(hostArb, { nil: null }),
      fc.constantFrom('keep-alive', 'close', '', '', ''),
    )
    .map(([method0, target, minor, raw, body, pos, host, conn]): GenMessage => {
      const method = target === '*' ? 'OPTIONS' : method0;
      let connection = conn;
      if (!opts.last && connection === 'close') connection = '';
      if (minor === 0 && !opts.last) connection = 'keep-alive';
      if (minor === 0 && body.framing === 'chunked') body = { ...body, framing: 'none', chunks: [], trailers: [], body: Buffer.alloc(0) };
      const extra: [string, string][] = [];
      if (connection) extra.push(['Connection', connection]);
      if (host !== null) extra.push(['Host', host]);
      const { headers, ows } = buildHeaders(raw, body, pos, extra);
      return {
        kind: 'request', method, target, status: 0, reason: '', versionMinor: minor, headers, ows,
        framing: body.framing, body: body.body, chunks: body.chunks, trailers: body.trailers, requestMethod: 0, upgrade: false,
        contentLength: body.framing === 'length' ? body.body.length : -1,
      };
    });
  if (!opts.last) return plain;
  const connect = fc.tuple(authorityFormArb, headersArb, fc.constantFrom<0 | 1>(1, 0)).map(([target, raw, minor]): GenMessage => {
    const headers: Header[] = [['Host', target], ...raw.map(([n, v]): Header => [n, v])];
    const ows: [string, string][] = [[' ', ''], ...raw.map(([, , a, b]): [string, string] => [a, b])];
    return {
      kind: 'request', method: 'CONNECT', target, status: 0, reason: '', versionMinor: minor, headers, ows,
      framing: 'none', body: Buffer.alloc(0), chunks: [], trailers: [], requestMethod: 0, upgrade: true, contentLength: -1,
    };
  });
  const upgrade = fc
    .tuple(plain, fc.constantFrom('Upgrade', 'keep-alive, Upgrade', 'upgrade'), fc.constantFrom('websocket', 'h2c', 'foo/2'))
    .map(([m, conn, proto]): GenMessage => {
      const keep = m.headers.map((h, i) => [h, m.ows[i]!] as const).filter(([[n]]) => n.toLowerCase() !== 'connection');
      return {
        ...m, versionMinor: 1, upgrade: true,
        headers: [['Connection', conn], ['Upgrade', proto], ...keep.map(([h]) => h)],
        ows: [[' ', ''], [' ', ''], ...keep.map(([, o]) => o)],
      };
    });
  return fc.oneof({ weight: 8, arbitrary: plain }, { weight: 1, arbitrary: connect }, { weight: 1, arbitrary: upgrade });
}

const reasonArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('OK', 'Not Found', 'No Content', 'Moved Permanently', 'Internal Server Error', 'Created') },
  { weight: 2, arbitrary: charsOf(VCHAR + ' \t', 0, 20).filter((r) => !/^[ \t]|[ \t]$/.test(r)) },
  { weight: 1, arbitrary: fc.constant('') },
);

export function responseArb(opts: MessageOpts): fc.Arbitrary<GenMessage> {
  return fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: fc.constantFrom(200, 201, 301, 404, 500) }, { weight: 2, arbitrary: fc.integer({ min: 200, max: 599 }) }, { weight: 1, arbitrary: fc.constantFrom(100, 103, 204, 304) }),
      reasonArb, fc.constantFrom<0 | 1>(1, 1, 1, 0), headersArb, bodyArb, fc.nat(20),
      fc.constantFrom(M_GET, M_GET, M_GET, M_GET, M_HEAD, M_CONNECT), fc.boolean(),
    )
    .map(([status, reason, minor, raw, body, pos, reqMethod, eofBody]): GenMessage => {
      let requestMethod = reqMethod;
      if (requestMethod === M_CONNECT && !(opts.last && status >= 200 && status < 300)) requestMethod = M_GET;
      const noBody = status < 200 || status === 204 || status === 304;
      if (noBody || requestMethod === M_CONNECT || minor === 0 && body.framing === 'chunked') {
        body = { framing: 'none', body: Buffer.alloc(0), chunks: [], trailers: [], teValue: '', clText: '' };
      }
      let framing: GenMessage['framing'] = body.framing;
      const extra: [string, string][] = [];
      if (minor === 0 && !opts.last) extra.push(['Connection', 'keep-alive']);
      if (framing === 'none' && !noBody && requestMethod !== M_CONNECT) {
        if (opts.last && eofBody && requestMethod !== M_HEAD) framing = 'eof';
        else {
          body = { ...body, framing: 'length', clText: '0' };
          framing = 'length';
        }
      }
      const { headers, ows } = buildHeaders(raw, body, pos, extra);
      let decoded = body.body;
      if (framing === 'eof') decoded = Buffer.from(body.body.length ? body.body : 'tail data');
      if (requestMethod === M_HEAD) decoded = Buffer.alloc(0);
      return {
        kind: 'response', method: '', target: '', status, reason, versionMinor: minor, headers, ows,
        framing: requestMethod === M_HEAD ? 'none' : framing, body: decoded, chunks: body.chunks, trailers: requestMethod === M_HEAD ? [] : body.trailers,
        requestMethod, upgrade: requestMethod === M_CONNECT,
        contentLength: body.framing === 'length' ? body.body.length : -1,
      };
    });
}

const switchingArb: fc.Arbitrary<GenMessage> = fc.tuple(headersArb, fc.constantFrom('websocket', 'h2c')).map(([raw, proto]): GenMessage => ({
  kind: 'response', method: '', target: '', status: 101, reason: 'Switching Protocols', versionMinor: 1,
  headers: [['Connection', 'Upgrade'], ['Upgrade', proto], ...raw.map(([n, v]): Header => [n, v])],
  ows: [[' ', ''], [' ', ''], ...raw.map(([, , a, b]): [string, string] => [a, b])],
  framing: 'none', body: Buffer.alloc(0), chunks: [], trailers: [], requestMethod: M_GET, upgrade: true, contentLength: -1,
}));

function streamArb(kind: 'request' | 'response', maxMessages: number): fc.Arbitrary<GenStream> {
  const one = kind === 'request' ? requestArb : responseArb;
  const lastArb = kind === 'request' ? one({ last: true }) : fc.oneof({ weight: 10, arbitrary: one({ last: true }) }, { weight: 1, arbitrary: switchingArb });
  return fc
    .tuple(fc.array(one({ last: false }), { maxLength: maxMessages - 1 }), lastArb, fc.uint8Array({ maxLength: 40 }))
    .map(([init, last, tail]) => {
      const messages = [...init, last];
      return {
        kind,
        // one per request: 1xx responses are interim and answer the same request as the next final response
        requestMethods: messages.filter((m) => m.kind === 'request' || m.status >= 200).map((m) => m.requestMethod || M_GET),
        messages,
        eof: last.framing === 'eof',
        tail: last.upgrade ? Buffer.from(tail) : Buffer.alloc(0),
      };
    });
}

/** Valid pipelined request streams (1..maxMessages). */
export const requestStreamArb = (maxMessages = 3): fc.Arbitrary<GenStream> => streamArb('request', maxMessages);
/** Valid response streams (1..maxMessages); requestMethods says which answer HEAD / CONNECT. */
export const responseStreamArb = (maxMessages = 3): fc.Arbitrary<GenStream> => streamArb('response', maxMessages);
export const anyStreamArb = (maxMessages = 3): fc.Arbitrary<GenStream> =>
  fc.oneof(requestStreamArb(maxMessages), responseStreamArb(maxMessages));

// ---------------------------------------------------------------- Connection lists (proxy properties)
/** The header names dfp's scanner knows (src/http/known-headers.ts), canonical case. */
export const KNOWN_FIELD_NAMES: readonly string[] = [
  'Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Proxy-Connection', 'Proxy-Authorization', 'Upgrade',
  'Expect', 'Keep-Alive', 'TE', 'Trailer', 'Via', 'Proxy-Authenticate', 'HTTP2-Settings',
];

/** `name` with each letter's case chosen at random. */
export const randomCaseArb = (name: string): fc.Arbitrary<string> =>
  fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((flips) =>
    [...name].map((c, i) => (flips[i] ? c.toUpperCase() : c.toLowerCase())).join(''),
  );

export interface ConnectionListPools {
  /** names of fields present in the message (the ones worth naming) */
  present: readonly string[];
  /** names that are (probably) not in the message */
  absent: readonly string[];
  /** framing / routing / hop-by-hop names the scanner knows */
  known: readonly string[];
  /** connection options that are not field names: close, keep-alive, … */
  options: readonly string[];
}

/**
 * A Connection field value: 1..5 members drawn from the pools, each in random case, joined by ',' with varied OWS
 * and the odd empty list element (RFC 9110 §5.6.1.2: recipients accept and ignore those). No leading or trailing
 * whitespace, so the value reads back as written.
 */
export function connectionListArb(pools: ConnectionListPools): fc.Arbitrary<string> {
  const from = (names: readonly string[], weight: number) =>
    names.length ? [{ weight, arbitrary: fc.constantFrom(...names).chain(randomCaseArb) }] : [];
  const member = fc.oneof(
    ...from(pools.present, 4), ...from(pools.absent, 1), ...from(pools.known, 3), ...from(pools.options, 2),
  );
  const sep = fc.constantFrom(',', ', ', ', ', ' , ', ',\t', ', ,', ',,');
  return fc
    .tuple(fc.array(fc.tuple(member, sep), { minLength: 1, maxLength: 5 }), fc.nat(7))
    .map(([items, lead]) => (lead === 0 ? ', ' : '') + items.map(([m, s], i) => (i === 0 ? m : s + m)).join(''));
}

// ---------------------------------------------------------------- serializer
export function serializeMessage(m: GenMessage): Buffer {
  let head = m.kind === 'request'
    ? `${m.method} ${m.target} HTTP/1.${m.versionMinor}\r\n`
    : `HTTP/1.${m.versionMinor} ${String(m.status).padStart(3, '0')} ${m.reason}\r\n`;
  m.headers.forEach(([n, v], i) => {
    const [a, b] = m.ows[i] ?? [' ', ''];
    head += `${n}:${a}${v}${v === '' ? '' : b}\r\n`;
  });
  head += '\r\n';
  const parts: Buffer[] = [Buffer.from(head, 'latin1')];
  if (m.framing === 'length' || m.framing === 'eof') parts.push(m.body);
  else if (m.framing === 'chunked') {
    let off = 0;
    for (const c of m.chunks) {
      parts.push(Buffer.from(`${c.sizeText}${c.ext}\r\n`, 'latin1'));
      if (c.size > 0) {
        parts.push(m.body.subarray(off, off + c.size), Buffer.from('\r\n'));
        off += c.size;
      }
    }
    let t = '';
    for (const [n, v] of m.trailers) t += `${n}: ${v}\r\n`;
    parts.push(Buffer.from(t + '\r\n', 'latin1'));
  }
  return Buffer.concat(parts);
}

export function serializeStream(s: GenStream): Buffer {
  return Buffer.concat([...s.messages.map(serializeMessage), s.tail]);
}

/** Where the HTTP part of a generated stream ends when its last message upgrades (else null). */
export function upgradeOffsetOf(s: GenStream): number | null {
  return s.messages[s.messages.length - 1]!.upgrade ? serializeStream(s).length - s.tail.length : null;
}

// ---------------------------------------------------------------- chunkings
/** Split `buf` at the given cut points (sorted, deduplicated, within (0, len)). */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < buf.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of points) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

export function bytewise(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out.length ? out : [buf];
}

/** Copy chunks into fresh buffers, so a parser that keeps a reference to a caller's buffer is caught. */
export function copyChunks(chunks: Buffer[]): Buffer[] {
  return chunks.map((c) => Buffer.from(c));
}

// ---------------------------------------------------------------- seeded PRNG + mutator (fuzzer)
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** mulberry32 */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

/** Random cut points for a buffer: 1..8 cuts. */
export function randomChunks(rng: Rng, buf: Buffer): Buffer[] {
  if (buf.length < 2) return [buf];
  const n = 1 + rng.int(8);
  const cuts: number[] = [];
  for (let i = 0; i < n; i++) cuts.push(1 + rng.int(buf.length - 1));
  return splitAt(buf, cuts);
}

const INTERESTING = [0x0d, 0x0a, 0x00, 0x20, 0x09, 0x3a, 0x3b, 0x30, 0x61, 0x7f, 0x80, 0xff, 0x2c, 0x22, 0x0b, 0x0c, 0x2f, 0x3f, 0x23, 0x7c];
const SNIPPETS = [
  '\r\n', '\n', '\r', '\r\n\r\n', ' ', '\t', '\x00', ':', ';', '\r\n ', '\r\n\t',
  'Content-Length: 5\r\n', 'Content-Length: 0\r\n', 'Content-Length: 1, 1\r\n', 'Content-Length: +5\r\n', 'Content-Length: -1\r\n',
  'Content-Length: 99999999999999999999\r\n', 'Content-Length:\t3\r\n', 'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: chunked, gzip\r\n', 'Transfer-Encoding: gzip\r\n', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
  'Transfer-Encoding : chunked\r\n', ' Transfer-Encoding: chunked\r\n', 'Transfer-Encoding:\x0bchunked\r\n',
  'Transfer-Encoding: chunked\x0b\r\n', 'Host: a\r\n', 'Host : a\r\n', 'Connection: close\r\n', 'Connection: upgrade\r\nUpgrade: x\r\n',
  'Connection: keep-alive\r\n', 'Expect: 100-continue\r\n', 'X: a\r\n b\r\n', 'X: \x01\r\n', 'X:\x7f\r\n', 'X: a\rb\r\n', 'X\x00: y\r\n',
  '0\r\n\r\n', '5\r\nhello\r\n', 'fffffffffffffffff\r\n', '0x5\r\n', ' 5\r\n', '5 \r\n', '5;\r\n', '5;a=\r\n', '5;a="b\r\n', '-1\r\n',
  'GET / HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.10', 'http/1.1', 'CONNECT a:1 HTTP/1.1\r\n', 'PRI', '* ',
];

export type MutationName = string;

/**
 * Apply 1..4 random mutations to `input`. Returns the mutated bytes and the names of the mutations (for reports).
 * `splice` provides other inputs (corpus cases) to cross over with.
 */
export function mutate(rng: Rng, input: Buffer, splice: readonly Buffer[] = []): { bytes: Buffer; ops: MutationName[] } {
  let b = Buffer.from(input);
  const ops: MutationName[] = [];
  // mostly one or two mutations: more inputs stay close enough to valid to reach the deeper states
  const roll = rng.int(20);
  const n = roll < 12 ? 1 : roll < 17 ? 2 : 3 + rng.int(2);
  for (let k = 0; k < n; k++) {
    const at = rng.int(b.length + 1);
    const op = rng.int(12);
    switch (op) {
      case 0: {
        if (!b.length) break;
        const i = rng.int(b.length);
        b[i] = b[i]! ^ (1 << rng.int(8));
        ops.push(`flip@${i}`);
        break;
      }
      case 1:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick(INTERESTING)]), b.subarray(at)]);
        ops.push(`insert-byte@${at}`);
        break;
      case 2: {
        const len = 1 + rng.int(4);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
        ops.push(`delete${len}@${at}`);
        break;
      }
      case 3: case 4: case 5: {
        // a snippet, preferably at a line start
        let pos = at;
        if (rng.int(2) === 0) {
          const lf = b.indexOf(0x0a, at);
          pos = lf < 0 ? b.length : lf + 1;
        }
        const s = rng.pick(SNIPPETS);
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(s, 'latin1'), b.subarray(pos)]);
        ops.push(`snippet${JSON.stringify(s)}@${pos}`);
        break;
      }
      case 6: {
        // space (or tab) before a colon
        const colon = b.indexOf(0x3a, at);
        if (colon < 0) break;
        b = Buffer.concat([b.subarray(0, colon), Buffer.from(rng.int(2) ? ' ' : '\t'), b.subarray(colon)]);
        ops.push(`ws-before-colon@${colon}`);
        break;
      }
      case 7: {
        // replace a CRLF by LF, CR, or CR CR LF
        const cr = b.indexOf(0x0d, at);
        if (cr < 0 || b[cr + 1] !== 0x0a) break;
        const rep = rng.pick(['\n', '\r', '\r\r\n', '\n\r']);
        b = Buffer.concat([b.subarray(0, cr), Buffer.from(rep), b.subarray(cr + 2)]);
        ops.push(`crlf->${JSON.stringify(rep)}@${cr}`);
        break;
      }
      case 8: {
        // duplicate a range (e.g. a header line)
        const len = 1 + rng.int(40);
        const piece = b.subarray(at, at + len);
        const to = rng.int(b.length + 1);
        b = Buffer.concat([b.subarray(0, to), piece, b.subarray(to)]);
        ops.push(`dup${piece.length}@${at}->${to}`);
        break;
      }
      case 9: {
        // change a digit (CL / chunk size / status / version)
        for (let i = at; i < b.length; i++) {
          const c = b[i]!;
          if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) {
            b[i] = rng.pick([0x30, 0x31, 0x39, 0x66, 0x46, 0x67, 0x20, 0x2b, 0x2d]);
            ops.push(`digit@${i}`);
            break;
          }
        }
        break;
      }
      case 11: {
        // repeat a whole line many times (header count and head size limits); rare
        if (rng.int(4) !== 0) break;
        const ls = b.lastIndexOf(0x0a, at - 1) + 1;
        const le = b.indexOf(0x0a, ls);
        if (le < 0) break;
        const times = 1 + rng.int(rng.int(2) ? 200 : 3000);
        const line = b.subarray(ls, le + 1);
        b = Buffer.concat([b.subarray(0, ls), ...Array<Buffer>(times).fill(line), b.subarray(ls)]);
        ops.push(`repeat-line${times}@${ls}`);
        break;
      }
      case 10: {
        if (!splice.length) break;
        const other = rng.pick(splice);
        const from = rng.int(other.length + 1);
        const piece = other.subarray(from, from + 1 + rng.int(other.length));
        b = rng.int(2) ? Buffer.concat([b.subarray(0, at), piece]) : Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
        ops.push(`splice${piece.length}@${at}`);
        break;
      }
    }
  }
  return { bytes: b, ops };
}

// ---------------------------------------------------------------- corpus
export interface CorpusMessage {
  method?: string; url?: string; status?: number; reason?: string; protocol?: string | null; version: string;
  headers: Header[]; trailers?: Header[]; body_base64: string; upgrade: boolean; headers_complete: boolean; complete: boolean;
}
export interface CorpusCase {
  file: string; line: number; title: string; llhttp_type: string; mode: 'strict' | 'lenient'; lenient: string[];
  pause: string | null; skip_body: boolean; finish: boolean; no_scan: boolean; raw_base64: string;
  expect: {
    ok: boolean; error_code: string | null; upgrade: string | null; upgrade_offset: number | null; incomplete: boolean;
    finish?: string; messages: CorpusMessage[];
  };
}

const corpusCache = new Map<string, CorpusCase[]>();
export function loadCorpus(kind: 'request' | 'response'): CorpusCase[] {
  let c = corpusCache.get(kind);
  if (!c) {
    const url = new URL(`../../../shared/corpus/llhttp/${kind}s.json`, import.meta.url);
    c = JSON.parse(readFileSync(url, 'utf8')) as CorpusCase[];
    corpusCache.set(kind, c);
  }
  return c;
}

// ---------------------------------------------------------------- expected parse of a generated stream
/** What a correct parser returns for a generated message (ParsedMessage shape of src/http). */
export function expectedMessage(m: GenMessage): {
  method?: string; url?: string; status?: number; reason?: string; versionMinor: number;
  headers: Header[]; trailers: Header[]; body: Buffer; upgrade: boolean; complete: boolean;
} {
  const base = {
    versionMinor: m.versionMinor, headers: m.headers.map(([n, v]): Header => [n, v]), trailers: m.trailers.map(([n, v]): Header => [n, v]),
    body: m.body, upgrade: m.upgrade, complete: true,
  };
  return m.kind === 'request' ? { method: m.method, url: m.target, ...base } : { status: m.status, reason: m.reason, ...base };
}
