/**
 * The oracle: Node's own llhttp (the `HTTPParser` binding from `_http_common`, strict mode) fed a request or
 * response stream, with its result in the shape of src/http's `ParseResult`, so tests and the fuzzer can compare
 * the two field by field. Also the one table of documented deviations between dfp and llhttp.
 *
 * Binding facts this relies on (Node 20, llhttp 9.3.1, checked by experiment and by test/property/oracle.test.ts
 * against the llhttp corpus):
 * - kOnHeadersComplete(major, minor, headers, method, url, status, reason, upgrade, keepAlive): `headers`/`url`
 *   are undefined when more than 32 headers arrived; those came earlier through kOnHeaders(headers, url) in
 *   batches of 32 (and the rest in one more batch just before headers-complete). kOnHeaders after the head are
 *   trailers. Header values come with trailing OWS trimmed.
 * - The return value of kOnHeadersComplete: 1 = no body (response to HEAD), 2 = no body and upgrade (2xx to CONNECT).
 * - On upgrade (CONNECT, Upgrade+Connection: upgrade, 101) llhttp completes the message and execute() returns
 *   the offset just past the HTTP part, which can be short of the chunk's length.
 * - execute() returns an Error with `code` (HPE_*) and `bytesParsed` on failure; finish() returns one when EOF
 *   is not a valid end.
 */
import { createRequire } from 'node:module';
import type { ParsedMessage, ParseResult } from '../../src/http/index.js';

interface HTTPParserBinding {
  new (): HTTPParserInstance;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}
interface HTTPParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | (Error & { code: string; bytesParsed: number; reason: string });
  finish(): undefined | (Error & { code: string; bytesParsed: number; reason: string });
  [cb: number]: unknown;
}

const require = createRequire(import.meta.url);
export const HTTPParser = (require('_http_common') as { HTTPParser: HTTPParserBinding }).HTTPParser;

/** llhttp's method codes (llhttp.h `llhttp_method_t`); Node's `methods` array is not indexed by code past 33. */
export const LLHTTP_METHODS: readonly string[] = [
  'DELETE', 'GET', 'HEAD', 'POST', 'PUT', 'CONNECT', 'OPTIONS', 'TRACE', 'COPY', 'LOCK', 'MKCOL', 'MOVE',
  'PROPFIND', 'PROPPATCH', 'SEARCH', 'UNLOCK', 'BIND', 'REBIND', 'UNBIND', 'ACL', 'REPORT', 'MKACTIVITY',
  'CHECKOUT', 'MERGE', 'M-SEARCH', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'PATCH', 'PURGE', 'MKCALENDAR', 'LINK',
  'UNLINK', 'SOURCE', 'PRI', 'DESCRIBE', 'ANNOUNCE', 'SETUP', 'PLAY', 'PAUSE', 'TEARDOWN', 'GET_PARAMETER',
  'SET_PARAMETER', 'REDIRECT', 'RECORD', 'FLUSH', 'QUERY',
];
/** Methods llhttp accepts with an `HTTP/` version (the RTSP-only ones and PRI are excluded). */
export const LLHTTP_HTTP_METHODS: ReadonlySet<string> = new Set([...LLHTTP_METHODS.slice(0, 34), 'QUERY']);

export const LLHTTP_MAX_HEADER_BYTES = 65536;

// Frozen src/http API numbers (kept here so the oracle loads without the scanner).
const METHOD_HEAD = 2;
const METHOD_CONNECT = 6;

export interface LlhttpResult extends ParseResult {
  /** HPE_* code when !ok */
  errorCode: string | null;
  /** absolute stream offset where llhttp stopped on error */
  errorOffset: number | null;
}

export interface LlhttpOptions {
  /** call finish() after the last chunk (EOF) */
  eof?: boolean;
  /** responses: the method (src/http METHOD_*) of the request each response answers, in order */
  requestMethods?: number[];
}

// Module-level state: one parser per kind, re-initialized per call (as Node's parser pool does).
let cur: ParsedMessage | null = null;
let messages: ParsedMessage[] = [];
let pendingHeaders: [string, string][] = [];
let pendingUrl = '';
let inHead = false;
let upgradeDone = false;
let responseIndex = 0;
let reqMethods: number[] | undefined;
let bodyParts: Buffer[] = [];
let feedBase = 0;
let begins: number[] = [];

function newMessage(): ParsedMessage {
  return { versionMinor: 0, headers: [], trailers: [], body: Buffer.alloc(0), upgrade: false, complete: false };
}

function pushPairs(into: [string, string][], flat: string[]): void {
  for (let i = 0; i + 1 < flat.length; i += 2) into.push([flat[i]!, flat[i + 1]!]);
}

function onMessageBegin(): void {
  begins.push(feedBase);
  cur = newMessage();
  messages.push(cur);
  pendingHeaders = [];
  pendingUrl = '';
  inHead = true;
  bodyParts = [];
}

function onHeaders(headers: string[], url: string): void {
  if (inHead) {
    pushPairs(pendingHeaders, headers);
    pendingUrl += url ?? '';
  } else if (cur) {
    pushPairs(cur.trailers, headers);
  }
}

function makeOnHeadersComplete(isRequest: boolean) {
  return function onHeadersComplete(
    _major: number, minor: number, headers: string[] | undefined, method: number | undefined,
    url: string | undefined, status: number | undefined, reason: string | undefined, upgrade: boolean,
  ): number {
    const m = cur ?? (onMessageBegin(), cur!);
    inHead = false;
    m.versionMinor = minor;
    if (headers) pushPairs(pendingHeaders, headers);
    m.headers = pendingHeaders;
    pendingHeaders = [];
    if (isRequest) {
      m.method = LLHTTP_METHODS[method!] ?? `#${method}`;
      m.url = pendingUrl + (url ?? '');
      m.upgrade = upgrade;
      return 0;
    }
    m.status = status!;
    m.reason = reason ?? '';
    // 1xx responses are interim: they answer the same request as the final response after them
    const reqMethod = reqMethods?.[responseIndex] ?? 1;
    if (status! >= 200) responseIndex++;
    m.upgrade = upgrade || status === 101;
    if (reqMethod === METHOD_CONNECT && status! >= 200 && status! < 300) {
      m.upgrade = true;
      return 2;
    }
    if (reqMethod === METHOD_HEAD) return 1;
    return 0;
  };
}

function onBody(b: Buffer, start?: number, len?: number): void {
  bodyParts.push(Buffer.from(start === undefined ? b : b.subarray(start, start + len!)));
}

function onMessageComplete(): void {
  if (!cur) return;
  cur.body = Buffer.concat(bodyParts);
  bodyParts = [];
  cur.complete = true;
  if (cur.upgrade) upgradeDone = true;
  cur = null;
}

const parsers: { request?: HTTPParserInstance; response?: HTTPParserInstance } = {};

function getParser(kind: 'request' | 'response'): HTTPParserInstance {
  let p = parsers[kind];
  if (!p) {
    p = new HTTPParser();
    p[HTTPParser.kOnMessageBegin] = onMessageBegin;
    p[HTTPParser.kOnHeaders] = onHeaders;
    p[HTTPParser.kOnHeadersComplete] = makeOnHeadersComplete(kind === 'request');
    p[HTTPParser.kOnBody] = onBody;
    p[HTTPParser.kOnMessageComplete] = onMessageComplete;
    p[HTTPParser.kOnExecute] = null;
    parsers[kind] = p;
  }
  // head size limit as dfp's default maxHeadBytes (Node's default would be 16 KiB)
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, LLHTTP_MAX_HEADER_BYTES, 0);
  return p;
}

/**
 * Stream offsets where llhttp began each message (exact: fed byte by byte), up to where it stopped. Slow path,
 * for mapping an error back to its message.
 */
export function llhttpMessageStarts(kind: 'request' | 'response', input: Buffer, options: LlhttpOptions = {}): number[] {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i++) chunks.push(input.subarray(i, i + 1));
  llhttpParse(kind, chunks, options);
  return begins.slice();
}

/** Feed `chunks` to llhttp (strict) and return a ParseResult-shaped verdict. */
export function llhttpParse(kind: 'request' | 'response', chunks: Buffer[], options: LlhttpOptions = {}): LlhttpResult {
  cur = null;
  messages = [];
  pendingHeaders = [];
  pendingUrl = '';
  inHead = false;
  upgradeDone = false;
  responseIndex = 0;
  reqMethods = options.requestMethods;
  bodyParts = [];
  begins = [];
  const p = getParser(kind);
  const result: LlhttpResult = {
    ok: true, error: null, errorStatus: 0, messages, upgradeOffset: null, incomplete: false,
    errorCode: null, errorOffset: null,
  };
  let base = 0;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    feedBase = base;
    const r = p.execute(chunk);
    if (typeof r !== 'number') {
      result.ok = false;
      result.error = r.code;
      result.errorCode = r.code;
      result.errorStatus = 400;
      result.errorOffset = base + r.bytesParsed;
      return finishResult(result);
    }
    if (upgradeDone) {
      result.upgradeOffset = base + r;
      return finishResult(result);
    }
    base += chunk.length;
  }
  if (options.eof) {
    const e = p.finish();
    if (e) {
      result.ok = false;
      result.error = e.code;
      result.errorCode = e.code;
      result.errorStatus = 400;
      result.errorOffset = base;
      return finishResult(result);
    }
  }
  return finishResult(result);
}

function finishResult(result: LlhttpResult): LlhttpResult {
  if (cur) {
    // partial message: keep what is known (head, partial body)
    const m = cur as ParsedMessage;
    m.body = Buffer.concat(bodyParts);
    if (inHead) messages.pop(); // head not complete: nothing known about it
    result.incomplete = result.ok;
  }
  cur = null;
  bodyParts = [];
  return result;
}

// ================================================================ documented deviations dfp ↔ llhttp

/**
 * Where dfp may ACCEPT what llhttp (strict) rejects. Each entry recognises the llhttp rejection and rewrites the
 * input into an equivalent one llhttp accepts (same framing, same length where possible), so the rest of the
 * stream is still compared field by field; `fixes` restore the original method/name/value in llhttp's result.
 */
export interface Deviation {
  id: string;
  why: string;
  /** an input dfp accepts and llhttp rejects or reads differently (test/property/deviations.test.ts keeps it so) */
  example: { kind: 'request' | 'response'; input: string };
  rewrite(ctx: RewriteContext): Rewrite | null;
}
export interface RewriteContext {
  kind: 'request' | 'response';
  /** the current (possibly already rewritten) input */
  input: Buffer;
  ll: LlhttpResult;
  options: LlhttpOptions;
  /** unique placeholder names, same length as `name` */
  placeholder(name: string): string;
}
export interface Fix {
  message: number;
  header?: number;
  method?: string;
  url?: string;
  value?: string;
}
export interface Rewrite {
  bytes: Buffer;
  /** byte position of the edit and the length change (for mapping offsets back) */
  at: number;
  delta: number;
  fixes: Fix[];
  /** placeholder header/trailer name → original name */
  names: [string, string][];
}

const CR_ = 0x0d;
const LF_ = 0x0a;
const isTchar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
const isOws = (c: number | undefined): boolean => c === 0x20 || c === 0x09;

/** Where an error offset lies: which message (index in llhttp's messages), which line of its head. */
interface Location {
  message: number;
  /** offset of the message's start line */
  messageStart: number;
  /** -1 = start line, else header (or trailer) line number after the start line */
  line: number;
  lineStart: number;
  /** llhttp finished this message's head (so a line here is in the body/trailers) */
  headDone: boolean;
}

function locate(ctx: RewriteContext, off: number): Location | null {
  const starts = llhttpMessageStarts(ctx.kind, ctx.input, ctx.options).filter((o) => o <= off);
  if (!starts.length) return null;
  const message = starts.length - 1;
  let p = starts[message]!;
  while (ctx.input[p] === CR_ || ctx.input[p] === LF_) p++;
  const firstLf = ctx.input.indexOf(LF_, p);
  const headDone = ctx.ll.messages.length > message;
  if (firstLf < 0 || firstLf >= off) return { message, messageStart: p, line: -1, lineStart: p, headDone };
  const lineStart = ctx.input.lastIndexOf(LF_, off - 1) + 1;
  let line = 0;
  for (let q = firstLf + 1; q < lineStart; q++) if (ctx.input[q] === LF_) line++;
  return { message, messageStart: p, line, lineStart, headDone };
}

interface Line { start: number; colon: number; vs: number; ve: number; end: number; name: string }
/** A field line at `start`: name up to ':', value with OWS trimmed, end at its LF (or input end). */
function fieldLine(input: Buffer, start: number): Line | null {
  const lf = input.indexOf(LF_, start);
  const end = lf < 0 ? input.length : lf;
  const colon = input.indexOf(0x3a, start);
  if (colon < 0 || colon >= end) return null;
  let vs = colon + 1;
  let ve = input[end - 1] === CR_ ? end - 1 : end;
  while (vs < ve && isOws(input[vs])) vs++;
  while (ve > vs && isOws(input[ve - 1])) ve--;
  return { start, colon, vs, ve, end, name: input.toString('latin1', start, colon) };
}

/** dfp's Content-Length rule: members of 1*DIGIT separated by OWS "," OWS, all the same number → that number. */
function sameNumberList(v: string): number | null {
  const members = v.split(',').map((m) => m.replace(/^[ \t]+|[ \t]+$/g, ''));
  let n: number | null = null;
  for (const m of members) {
    if (!/^[0-9]+$/.test(m)) return null;
    const x = Number(m);
    if (!Number.isSafeInteger(x) || (n !== null && x !== n)) return null;
    n = x;
  }
  return n;
}

const FRAMING_TRAILERS = new Set(['connection', 'transfer-encoding', 'content-length', 'upgrade', 'keep-alive', 'proxy-connection']);

function renameLine(ctx: RewriteContext, line: Line): Rewrite {
  const ph = ctx.placeholder(line.name);
  const bytes = Buffer.from(ctx.input);
  bytes.write(ph, line.start, 'latin1');
  return { bytes, at: line.start, delta: 0, fixes: [], names: [[ph, line.name]] };
}

const TAB_NEAR_FRAMING = /(?:content-length|transfer-encoding|connection):(?:[ \t]*\t|[^\n]*\t\r?\n)/i;
const TAB_SENSITIVE = new Set(['content-length', 'transfer-encoding', 'connection']);

/** HTAB → SP in the OWS around Content-Length / Transfer-Encoding / Connection values in the heads at `starts`. */
function tabsToSpaces(input: Buffer, starts: number[]): Rewrite | null {
  if (!input.includes(0x09)) return null;
  let bytes: Buffer | null = null;
  let at = -1;
  for (const start of starts) {
    for (let q = input.indexOf(LF_, start) + 1; q > 0 && q < input.length; q = input.indexOf(LF_, q) + 1) {
      if (input[q] === CR_ || input[q] === LF_) break; // end of the head
      const l = fieldLine(input, q);
      if (!l || !TAB_SENSITIVE.has(l.name.toLowerCase())) continue;
      const valueEnd = input[l.end - 1] === CR_ ? l.end - 1 : l.end;
      for (const [a, b] of [[l.colon + 1, l.vs], [l.ve, valueEnd]] as const) {
        for (let k = a; k < b; k++) {
          if (input[k] !== 0x09) continue;
          bytes ??= Buffer.from(input);
          bytes[k] = 0x20;
          if (at < 0) at = k;
        }
      }
    }
  }
  return bytes ? { bytes, at, delta: 0, fixes: [], names: [] } : null;
}

const FRAMING_TRAILER_HINT = /\r\n0+(?:;[^\r\n]*)?\r\n(?:[^\r\n]*\r\n)*?(?:connection|transfer-encoding|content-length|upgrade|keep-alive|proxy-connection)[ \t]*:/i;

/**
 * Walk the chunked bodies of the messages at `starts` (valid framing only) and rename trailer fields that llhttp
 * would apply to the connection (Connection, Transfer-Encoding, Content-Length, ...).
 */
function renameFramingTrailers(input: Buffer, starts: number[], placeholder: (n: string) => string): Rewrite | null {
  let bytes: Buffer | null = null;
  const names: [string, string][] = [];
  let at = -1;
  for (const start of starts) {
    const headEnd = input.indexOf('\r\n\r\n', start, 'latin1');
    if (headEnd < 0) continue;
    // the final coding of the last Transfer-Encoding line must be chunked
    const teLines = input.toString('latin1', start, headEnd + 2).match(/\r\ntransfer-encoding[ \t]*:[^\r\n]*/gi);
    const lastTe = teLines?.[teLines.length - 1]?.split(':').slice(1).join(':').split(',').pop()?.trim().toLowerCase();
    if (lastTe !== 'chunked') continue;
    let p = headEnd + 4;
    for (let k = 0; k < 10_000; k++) {
      const le = input.indexOf('\r\n', p, 'latin1');
      if (le < 0) break;
      const sizeText = input.toString('latin1', p, le).split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]+$/.test(sizeText)) break;
      const size = parseInt(sizeText, 16);
      p = le + 2;
      if (size === 0) {
        // trailer section
        while (p < input.length && !(input[p] === CR_ && input[p + 1] === LF_)) {
          const l = fieldLine(input, p);
          if (!l) break;
          if (FRAMING_TRAILERS.has(l.name.toLowerCase())) {
            bytes ??= Buffer.from(input);
            const ph = placeholder(l.name);
            bytes.write(ph, l.start, 'latin1');
            names.push([ph, l.name]);
            if (at < 0) at = l.start;
          }
          p = l.end + 1;
        }
        break;
      }
      p += size;
      if (input[p] !== CR_ || input[p + 1] !== LF_) break;
      p += 2;
    }
  }
  return bytes ? { bytes, at, delta: 0, fixes: [], names } : null;
}

/** INTERIM_RESPONSE_NO_BODY: rename Content-Length / Transfer-Encoding in the first 1xx (102..199) head that has them. */
function renameInterimFraming(
  input: Buffer, result: LlhttpResult, kind: 'request' | 'response', options: LlhttpOptions, placeholder: (n: string) => string,
): Rewrite | null {
  const bad = result.messages.findIndex((m) => m.status! > 101 && m.status! < 200 && m.headers.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n)));
  if (bad < 0) return null;
  const start = llhttpMessageStarts(kind, input, options)[bad];
  if (start === undefined) return null;
  const bytes = Buffer.from(input);
  const names: [string, string][] = [];
  for (let q = bytes.indexOf(LF_, start) + 1; q > 0 && q < bytes.length && bytes[q] !== CR_ && bytes[q] !== LF_; q = bytes.indexOf(LF_, q) + 1) {
    const l = fieldLine(bytes, q);
    if (!l || !/^(content-length|transfer-encoding)$/i.test(l.name)) continue;
    const ph = placeholder(l.name);
    bytes.write(ph, l.start, 'latin1');
    names.push([ph, l.name]);
  }
  return names.length ? { bytes, at: start, delta: 0, fixes: [], names } : null;
}

export const DFP_MORE_PERMISSIVE: readonly Deviation[] = [
  {
    id: 'EXTENSION_METHOD',
    example: { kind: 'request', input: 'MKCOLA / HTTP/1.1\r\n\r\n' },
    why: 'RFC 9110 §9.1: a method is any token; llhttp has a fixed table (rejects MKCOLA, lowercase get, ANNOUNCE over HTTP, a pending token it cannot complete)',
    rewrite(ctx) {
      const { ll, input } = ctx;
      if (ctx.kind !== 'request' || ll.errorOffset === null) return null;
      if (ll.errorCode !== 'HPE_INVALID_METHOD' && ll.errorCode !== 'HPE_INVALID_CONSTANT') return null;
      const loc = locate(ctx, ll.errorOffset);
      if (!loc || loc.line !== -1) return null;
      const start = loc.messageStart;
      let sp = input.indexOf(0x20, start);
      const lf = input.indexOf(LF_, start);
      if (sp < 0 || (lf >= 0 && lf < sp)) {
        // the token is all we have: it must run to the end of the input
        if (lf >= 0) return null;
        sp = input.length;
      }
      if (sp === start) return null;
      for (let i = start; i < sp; i++) if (!isTchar(input[i]!)) return null;
      const token = input.toString('latin1', start, sp);
      if (LLHTTP_HTTP_METHODS.has(token)) return null;
      const bytes = Buffer.concat([input.subarray(0, start), Buffer.from(METHOD_PLACEHOLDER), input.subarray(sp)]);
      return {
        bytes, at: start, delta: METHOD_PLACEHOLDER.length - token.length, fixes: [{ message: loc.message, method: token }], names: [],
      };
    },
  },
  {
    id: 'HTAB_AROUND_FRAMING_VALUE',
    // The example is one that llhttp 9.4.3 (Node 22, 24) still rejects, so the entry stays checked on every Node.
    example: { kind: 'request', input: 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n' },
    why: 'OWS (SP or HTAB) around a field value is not part of it (RFC 9110 §5.5); llhttp 9.3.1 (Node 20) rejects HTAB around Content-Length (fixed in 9.4, #810) and does not recognise "keep-alive<HTAB>"; 9.4.3 still rejects "chunked<HTAB>"',
    rewrite(ctx) {
      const { ll, input } = ctx;
      if (ll.errorOffset === null) return null;
      return tabsToSpaces(input, llhttpMessageStarts(ctx.kind, input, ctx.options).filter((o) => o <= ll.errorOffset!));
    },
  },
  {
    id: 'IDENTICAL_CONTENT_LENGTHS',
    example: { kind: 'response', input: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc' },
    why: 'RFC 9110 §8.6: a repeated Content-Length (field or list) in a response whose members are all the same number may be read as that number; every reader that accepts it frames identically. llhttp rejects any repetition. (Requests: dfp rejects it too, DUPLICATE_CONTENT_LENGTH.)',
    rewrite(ctx) {
      if (ctx.kind !== 'response') return null; // requests: dfp rejects repeats too
      const { ll, input } = ctx;
      if (ll.errorOffset === null) return null;
      if (ll.errorCode !== 'HPE_UNEXPECTED_CONTENT_LENGTH' && ll.errorCode !== 'HPE_INVALID_CONTENT_LENGTH') return null;
      const loc = locate(ctx, ll.errorOffset);
      if (!loc || loc.line < 0 || loc.headDone) return null;
      const line = fieldLine(input, loc.lineStart);
      if (!line || line.name.toLowerCase() !== 'content-length' || line.end < ll.errorOffset) return null;
      const value = input.toString('latin1', line.vs, line.ve);
      const n = sameNumberList(value);
      if (n === null) return null;
      // an earlier Content-Length line in this head?
      let earlier: number | null = null;
      for (let q = input.indexOf(LF_, loc.messageStart) + 1; q > 0 && q < loc.lineStart; q = input.indexOf(LF_, q) + 1) {
        const l = fieldLine(input, q);
        if (l && l.name.toLowerCase() === 'content-length') earlier = sameNumberList(input.toString('latin1', l.vs, l.ve));
      }
      if (earlier !== null) {
        if (earlier !== n) return null;
        // rename this line and every later repetition of the same number in this head (one round for all)
        const rw = renameLine(ctx, line);
        for (let q = line.end + 1; q > 0 && q < input.length && input[q] !== CR_ && input[q] !== LF_; q = input.indexOf(LF_, q) + 1) {
          const l = fieldLine(input, q);
          if (!l || l.name.toLowerCase() !== 'content-length' || sameNumberList(input.toString('latin1', l.vs, l.ve)) !== n) continue;
          const ph = ctx.placeholder(l.name);
          rw.bytes.write(ph, l.start, 'latin1');
          rw.names.push([ph, l.name]);
        }
        return rw;
      }
      // a list in the first Content-Length: keep its first member, pad with spaces (trimmed by llhttp)
      const first = String(n);
      if (first.length > line.ve - line.vs) return null;
      const bytes = Buffer.from(input);
      bytes.fill(0x20, line.vs, line.ve);
      bytes.write(first, line.vs, 'latin1');
      return { bytes, at: line.vs, delta: 0, fixes: [{ message: loc.message, header: loc.line, value }], names: [] };
    },
  },
  {
    id: 'FRAMING_FIELDS_IN_TRAILERS_IGNORED',
    example: { kind: 'request', input: 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n' },
    why: 'RFC 9110 §6.5.1: framing and connection fields cannot be trailers and a recipient may ignore them; llhttp applies Connection / Transfer-Encoding / Content-Length trailers to the connection',
    rewrite(ctx) {
      const { ll, input } = ctx;
      if (ll.errorOffset === null) return null;
      if (ll.errorCode === 'HPE_CLOSED_CONNECTION') {
        // the message that ended just before the error: llhttp reported its trailers; find their lines
        const m = ll.messages[ll.messages.length - 1];
        if (!m?.complete || !m.trailers.some(([n]) => FRAMING_TRAILERS.has(n.toLowerCase()))) return null;
        // llhttp stops one byte into the data after the message
        const e0 = input[ll.errorOffset - 1] === LF_ ? ll.errorOffset : ll.errorOffset - 1;
        for (let e = e0; e >= 4 && input[e - 1] === LF_ && input[e - 2] === CR_; e -= 2) {
          const lines: Line[] = [];
          let q = e - 2; // start of the empty line that ends the trailer section
          for (let k = m.trailers.length - 1; k >= 0 && q > 1; k--) {
            const l = fieldLine(input, input.lastIndexOf(LF_, q - 2) + 1);
            if (!l || l.end !== q - 1 || l.name !== m.trailers[k]![0]) break;
            lines.unshift(l);
            q = l.start;
          }
          if (lines.length !== m.trailers.length) continue;
          const framing = lines.find((l) => FRAMING_TRAILERS.has(l.name.toLowerCase()))!;
          return renameLine(ctx, framing);
        }
        return null;
      }
      if (!/^HPE_(INVALID|UNEXPECTED)_(CONTENT_LENGTH|TRANSFER_ENCODING)$/.test(ll.errorCode ?? '')) return null;
      const loc = locate(ctx, ll.errorOffset);
      if (!loc || !loc.headDone) return null;
      const line = fieldLine(input, input.lastIndexOf(LF_, ll.errorOffset - 1) + 1);
      if (!line || !FRAMING_TRAILERS.has(line.name.toLowerCase())) return null;
      return renameLine(ctx, line);
    },
  },
];

/** A known-to-llhttp method that stands in for extension methods. */
export const METHOD_PLACEHOLDER = 'REBIND';

/**
 * Where dfp is STRICTER than llhttp (direction "dfp rejects, llhttp accepts": always allowed; listed so a report
 * can explain them).
 */
/** Applied to every response stream before the comparison (see llhttpWithDeviations). */
export const DFP_DIFFERS = [
  {
    id: 'INTERIM_RESPONSE_NO_BODY',
    why: 'RFC 9110 §15.2: a 1xx response has no content; llhttp 9.3.1 reads a Content-Length / chunked body for 102..199',
    example: { kind: 'response', input: 'HTTP/1.1 104 X\r\nContent-Length: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n' },
  },
] as const;

export const DFP_STRICTER: readonly string[] = [
  'HTTP/0.9 request lines, RTSP/ICE protocols, versions other than 1.0/1.1 (INVALID_VERSION)',
  'PRI * HTTP/2.0 (h2 preface; llhttp pauses, dfp does not speak h2c)',
  'request-target bytes outside RFC 3986 (", |, {, }, \\, ^, `, <, >), obs-text; asterisk-form other than OPTIONS (M-SEARCH *); invalid userinfo; a fragment right after the authority (INVALID_TARGET)',
  'bare CR, NUL, CTLs other than HTAB, DEL in field values and reason phrases (BARE_CR, INVALID_REASON); bare LF anywhere, also before a request line (BARE_LF)',
  'status codes outside 100..999, e.g. 000 (INVALID_STATUS)',
  'more than one Host in a request (DUPLICATE_HOST)',
  'Transfer-Encoding in HTTP/1.0 (TE_IN_HTTP10), codings after chunked (TE_NOT_CHUNKED), chunked twice (CHUNKED_TWICE), empty list members (INVALID_TRANSFER_ENCODING)',
  'any byte after a message that closes the connection, even CRLF (DATA_AFTER_CLOSE)',
  'chunk size / extension / trailer syntax beyond RFC 9112 §7.1 (INVALID_CHUNK_SIZE, INVALID_CHUNK_EXTENSION, CHUNK_MISSING_CRLF, INVALID_TRAILER); limits (head, start line, header count)',
  'a chunk-size of more than 16 hex digits, leading zeros included (CHUNK_SIZE_TOO_LONG, the bound of Go net/http); llhttp bounds only the value, so "0000000000000000a" (17 digits) is 10 to it',
  'EOF inside a message when the caller says eof (INCOMPLETE_MESSAGE)',
];

export interface LlhttpView {
  result: LlhttpResult;
  /** deviations applied (ids) */
  applied: string[];
}

/**
 * Run llhttp on `input`; while it rejects for a documented "dfp more permissive" reason, rewrite the input and
 * run again (at most 16 rewrites). Offsets, methods, names and values are mapped back to the original input.
 */
export function llhttpWithDeviations(kind: 'request' | 'response', input: Buffer, options: LlhttpOptions = {}): LlhttpView {
  let bytes = input;
  const applied: string[] = [];
  const fixes: Fix[] = [];
  const names = new Map<string, string>();
  const edits: { at: number; delta: number }[] = [];
  let counter = 0;
  const original = input.toString('latin1').toLowerCase();
  const placeholder = (name: string): string => {
    for (;;) {
      const ph = `X${counter++}`.padEnd(Math.max(name.length, 3), 'q').slice(0, Math.max(name.length, 3));
      if (!original.includes(ph.toLowerCase()) && !names.has(ph)) return ph;
      if (counter > 1000) return ph;
    }
  };
  let result = llhttpParse(kind, [bytes], options);
  const apply = (id: string, rw: Rewrite): void => {
    if (!applied.includes(id) || DFP_MORE_PERMISSIVE.some((d) => d.id === id)) applied.push(id);
    fixes.push(...rw.fixes);
    for (const [ph, n] of rw.names) names.set(ph, n);
    edits.push({ at: rw.at, delta: rw.delta });
    bytes = rw.bytes;
    result = llhttpParse(kind, [bytes], options);
  };
  // Normalise until nothing changes: the whole-stream passes first (they see only the messages llhttp reached),
  // then one rejection-driven rewrite, then the passes again on the messages that rewrite let llhttp reach.
  for (let round = 0; round < 64; round++) {
    const text = bytes.toString('latin1');
    let rw: Rewrite | null = null;
    let id = '';
    if (kind === 'response') {
      rw = renameInterimFraming(bytes, result, kind, options, placeholder);
      id = 'INTERIM_RESPONSE_NO_BODY';
    }
    if (!rw && TAB_NEAR_FRAMING.test(text)) {
      rw = tabsToSpaces(bytes, llhttpMessageStarts(kind, bytes, options));
      id = 'HTAB_AROUND_FRAMING_VALUE';
    }
    if (!rw && FRAMING_TRAILER_HINT.test(text)) {
      rw = renameFramingTrailers(bytes, llhttpMessageStarts(kind, bytes, options), placeholder);
      id = 'FRAMING_FIELDS_IN_TRAILERS_IGNORED';
    }
    if (!rw && !result.ok) {
      const ctx: RewriteContext = { kind, input: bytes, ll: result, options, placeholder };
      for (const d of DFP_MORE_PERMISSIVE) {
        rw = d.rewrite(ctx);
        if (rw) {
          id = d.id;
          break;
        }
      }
    }
    if (!rw) break;
    apply(id, rw);
  }
  for (const f of fixes) {
    const m = result.messages[f.message];
    if (!m) continue;
    if (f.method !== undefined) m.method = f.method;
    if (f.url !== undefined) m.url = f.url;
    if (f.header !== undefined && f.value !== undefined && m.headers[f.header]) m.headers[f.header]![1] = f.value;
  }
  if (names.size) {
    for (const m of result.messages) {
      for (const h of m.headers) h[0] = names.get(h[0]) ?? h[0];
      for (const h of m.trailers) h[0] = names.get(h[0]) ?? h[0];
    }
  }
  if (result.upgradeOffset !== null) {
    let off = result.upgradeOffset;
    for (let i = edits.length - 1; i >= 0; i--) if (edits[i]!.at < off) off -= edits[i]!.delta;
    result.upgradeOffset = off;
  }
  return { result, applied };
}

// ================================================================ comparison

const showBytes = (s: string | Buffer | undefined | null): string =>
  s === undefined || s === null ? String(s) : JSON.stringify(typeof s === 'string' ? s : s.toString('latin1')).slice(0, 200);

/** First difference between two messages, or null. */
export function diffMessage(a: ParsedMessage, b: ParsedMessage, what = ''): string | null {
  if (a.method !== b.method) return `${what}method ${showBytes(a.method)} vs ${showBytes(b.method)}`;
  if (a.url !== b.url) return `${what}url ${showBytes(a.url)} vs ${showBytes(b.url)}`;
  if (a.status !== b.status) return `${what}status ${a.status} vs ${b.status}`;
  if ((a.reason ?? '') !== (b.reason ?? '')) return `${what}reason ${showBytes(a.reason)} vs ${showBytes(b.reason)}`;
  if (a.versionMinor !== b.versionMinor) return `${what}version 1.${a.versionMinor} vs 1.${b.versionMinor}`;
  const hd = diffHeaders(a.headers, b.headers);
  if (hd) return `${what}headers: ${hd}`;
  // a message still in progress: llhttp hands over trailers and dfp's parseStream the upgrade flag only at its end
  const partial = !a.complete && !b.complete;
  const td = partial ? null : diffHeaders(a.trailers, b.trailers);
  if (td) return `${what}trailers: ${td}`;
  if (!a.body.equals(b.body)) return `${what}body ${showBytes(a.body)} vs ${showBytes(b.body)}`;
  if (a.complete !== b.complete) return `${what}complete ${a.complete} vs ${b.complete}`;
  if (!partial && a.upgrade !== b.upgrade) return `${what}upgrade ${a.upgrade} vs ${b.upgrade}`;
  return null;
}

function diffHeaders(a: [string, string][], b: [string, string][]): string | null {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y || x[0] !== y[0] || x[1] !== y[1]) return `#${i} ${showBytes(x?.join(': '))} vs ${showBytes(y?.join(': '))}`;
  }
  return null;
}

/** First difference between two parse results (verdict, messages, upgrade offset, incomplete), or null. */
export function diffResults(a: ParseResult, b: ParseResult): string | null {
  if (a.ok !== b.ok) return `verdict ${a.ok ? 'ok' : a.error} vs ${b.ok ? 'ok' : b.error}`;
  if (!a.ok) return a.error === b.error ? null : `error ${a.error} vs ${b.error}`;
  if (a.messages.length !== b.messages.length) return `message count ${a.messages.length} vs ${b.messages.length}`;
  for (let i = 0; i < a.messages.length; i++) {
    const d = diffMessage(a.messages[i]!, b.messages[i]!, `message ${i}: `);
    if (d) return d;
  }
  if (a.upgradeOffset !== b.upgradeOffset) return `upgradeOffset ${a.upgradeOffset} vs ${b.upgradeOffset}`;
  if (a.incomplete !== b.incomplete) return `incomplete ${a.incomplete} vs ${b.incomplete}`;
  return null;
}

export type DisagreementKind = 'dfp-accepts-llhttp-rejects' | 'both-accept-differ';

export interface Verdict {
  /** null = fine (agreement, dfp stricter, or a documented deviation) */
  disagreement: DisagreementKind | null;
  detail: string | null;
  /** 'agree' | 'both-reject' | 'dfp-stricter' */
  outcome: 'agree' | 'both-reject' | 'dfp-stricter' | 'disagree';
  deviations: string[];
}

/**
 * Compare dfp's result on `input` with llhttp's (after documented deviations). dfp rejecting what llhttp accepts
 * is allowed ("dfp-stricter"); complete messages before dfp's error must still match llhttp's.
 */
export function judge(
  kind: 'request' | 'response', input: Buffer, dfp: ParseResult, options: LlhttpOptions = {},
  rerunDfp?: (bytes: Buffer) => ParseResult,
): Verdict {
  const view = llhttpWithDeviations(kind, input, options);
  const ll = view.result;
  const deviations = view.applied;
  if (!dfp.ok) {
    // messages dfp completed before its error must be ones llhttp also parsed the same way
    const done = dfp.messages.filter((m) => m.complete);
    for (let i = 0; i < done.length; i++) {
      const other = ll.messages[i];
      const d = other ? diffMessage(done[i]!, other, `message ${i} (before dfp's error): `) : null;
      if (d && other!.complete) return { disagreement: 'both-accept-differ', detail: d, outcome: 'disagree', deviations };
    }
    return { disagreement: null, detail: dfp.error, outcome: ll.ok ? 'dfp-stricter' : 'both-reject', deviations };
  }
  if (!ll.ok && dfp.incomplete && rerunDfp) {
    // dfp may decide later than llhttp (e.g. it checks a target or a field line when the line or head ends):
    // complete the pending part and ask dfp again
    const more = rerunDfp(Buffer.concat([input, Buffer.from('\r\n\r\n')]));
    if (!more.ok) return { disagreement: null, detail: `deferred: ${more.error}`, outcome: 'dfp-stricter', deviations };
  }
  if (!ll.ok) {
    return {
      disagreement: 'dfp-accepts-llhttp-rejects',
      detail: `llhttp ${ll.errorCode} at ${ll.errorOffset}; dfp accepted ${dfp.messages.length} message(s)`,
      outcome: 'disagree', deviations,
    };
  }
  const d = diffResults(dfp, ll);
  if (d) return { disagreement: 'both-accept-differ', detail: d, outcome: 'disagree', deviations };
  return { disagreement: null, detail: null, outcome: 'agree', deviations };
}
