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
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 0, 0);
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
 * input into an equivalent one llhttp accepts, so the rest of the stream is still compared field by field.
 */
export interface Deviation {
  id: string;
  why: string;
  /** given the input and llhttp's rejection, the rewritten input (or null when this deviation does not apply) */
  rewrite(kind: 'request' | 'response', input: Buffer, ll: LlhttpResult, original: Buffer): Rewrite | null;
}
export interface Rewrite {
  bytes: Buffer;
  /** byte position of the edit and the length change (for mapping offsets back) */
  at: number;
  delta: number;
  /** message-level mapping: method placeholder → original method */
  method?: string;
}

/** A known-to-llhttp method that stands in for extension methods (inputs that contain it are not rewritten). */
export const METHOD_PLACEHOLDER = 'REBIND';

const isTchar = (c: number): boolean =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));

export const DFP_MORE_PERMISSIVE: readonly Deviation[] = [
  {
    id: 'EXTENSION_METHOD',
    why: 'RFC 9110 §9.1: a method is any token; llhttp has a fixed table (rejects MKCOLA, lowercase get, ANNOUNCE over HTTP)',
    rewrite(kind, input, ll, original) {
      if (kind !== 'request' || ll.errorOffset === null) return null;
      if (ll.errorCode !== 'HPE_INVALID_METHOD' && ll.errorCode !== 'HPE_INVALID_CONSTANT') return null;
      if (original.includes(METHOD_PLACEHOLDER)) return null;
      const starts = llhttpMessageStarts(kind, input).filter((o) => o <= ll.errorOffset!);
      if (!starts.length) return null;
      const start = starts[starts.length - 1]!;
      const sp = input.indexOf(0x20, start);
      const lf = input.indexOf(0x0a, start);
      if (sp <= start || (lf >= 0 && lf < sp) || ll.errorOffset > sp + 1) return null;
      for (let i = start; i < sp; i++) if (!isTchar(input[i]!)) return null;
      const token = input.toString('latin1', start, sp);
      if (LLHTTP_HTTP_METHODS.has(token)) return null;
      const bytes = Buffer.concat([input.subarray(0, start), Buffer.from(METHOD_PLACEHOLDER), input.subarray(sp)]);
      return { bytes, at: start, delta: METHOD_PLACEHOLDER.length - token.length, method: token };
    },
  },
  {
    id: 'HTAB_AROUND_CONTENT_LENGTH',
    why: 'OWS (SP or HTAB) around a field value is not part of it (RFC 9110 §5.5); llhttp 9.3.1 rejects HTAB there, 9.4 accepts (#810)',
    rewrite(_kind, input, ll) {
      if (ll.errorCode !== 'HPE_INVALID_CONTENT_LENGTH' || ll.errorOffset === null) return null;
      const at = ll.errorOffset;
      if (input[at] !== 0x09) return null;
      const bytes = Buffer.from(input);
      for (let i = at; i < bytes.length && (bytes[i] === 0x09 || bytes[i] === 0x20); i++) bytes[i] = 0x20;
      for (let i = at - 1; i >= 0 && (bytes[i] === 0x09 || bytes[i] === 0x20); i--) bytes[i] = 0x20;
      return { bytes, at, delta: 0 };
    },
  },
];

/**
 * Where dfp is STRICTER than llhttp (direction "dfp rejects, llhttp accepts": always allowed; listed so a report
 * can explain them). Keys are dfp reason codes or categories.
 */
export const DFP_STRICTER: readonly string[] = [
  'HTTP/0.9 request lines, RTSP/ICE protocols, versions other than 1.0/1.1',
  'PRI * HTTP/2.0 (h2 preface; llhttp pauses, dfp does not speak h2c)',
  'request-target characters outside RFC 3986 (", |, {, }, \\, ^, `, <, >) and obs-text in the target; fragments',
  'bare CR, NUL, CTLs other than HTAB, DEL in field values',
  'more than one Host',
  'transfer codings other than chunked (501), Transfer-Encoding in HTTP/1.0',
  'Content-Length with a list value or sign; limits (head/start line/header count/chunk extensions)',
  'chunk extension syntax beyond RFC 9112 §7.1.1',
  'Content-Length on CONNECT, and anything llhttp resolves by leniency-free heuristics dfp does not copy',
];

export interface LlhttpView {
  result: LlhttpResult;
  /** deviations applied (ids) */
  applied: string[];
  /** per placeholder occurrence, the original method, in stream order */
  methods: string[];
  /** edits made, to map offsets back */
  edits: { at: number; delta: number }[];
}

/**
 * Run llhttp on `input`; while it rejects for a documented "dfp more permissive" reason, rewrite the input and
 * run again (at most 16 rewrites). Offsets and methods are mapped back to the original input.
 */
export function llhttpWithDeviations(kind: 'request' | 'response', input: Buffer, options: LlhttpOptions = {}): LlhttpView {
  let bytes = input;
  const applied: string[] = [];
  const methods: string[] = [];
  const edits: { at: number; delta: number }[] = [];
  let result = llhttpParse(kind, [bytes], options);
  for (let round = 0; round < 16 && !result.ok; round++) {
    let rw: Rewrite | null = null;
    let id = '';
    for (const d of DFP_MORE_PERMISSIVE) {
      rw = d.rewrite(kind, bytes, result, input);
      if (rw) {
        id = d.id;
        break;
      }
    }
    if (!rw) break;
    applied.push(id);
    if (rw.method !== undefined) methods.push(rw.method);
    edits.push({ at: rw.at, delta: rw.delta });
    bytes = rw.bytes;
    result = llhttpParse(kind, [bytes], options);
  }
  if (methods.length) {
    let j = 0;
    for (const m of result.messages) if (m.method === METHOD_PLACEHOLDER && j < methods.length) m.method = methods[j++]!;
  }
  if (result.upgradeOffset !== null) {
    let off = result.upgradeOffset;
    for (let i = edits.length - 1; i >= 0; i--) if (edits[i]!.at < off) off -= edits[i]!.delta;
    result.upgradeOffset = off;
  }
  return { result, applied, methods, edits };
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
  const td = diffHeaders(a.trailers, b.trailers);
  if (td) return `${what}trailers: ${td}`;
  if (!a.body.equals(b.body)) return `${what}body ${showBytes(a.body)} vs ${showBytes(b.body)}`;
  if (a.complete !== b.complete) return `${what}complete ${a.complete} vs ${b.complete}`;
  if (a.upgrade !== b.upgrade) return `${what}upgrade ${a.upgrade} vs ${b.upgrade}`;
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
export function judge(kind: 'request' | 'response', input: Buffer, dfp: ParseResult, options: LlhttpOptions = {}): Verdict {
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
