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

function newMessage(): ParsedMessage {
  return { versionMinor: 0, headers: [], trailers: [], body: Buffer.alloc(0), upgrade: false, complete: false };
}

function pushPairs(into: [string, string][], flat: string[]): void {
  for (let i = 0; i + 1 < flat.length; i += 2) into.push([flat[i]!, flat[i + 1]!]);
}

function onMessageBegin(): void {
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
    const reqMethod = reqMethods?.[responseIndex] ?? 1;
    responseIndex++;
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
  const p = getParser(kind);
  const result: LlhttpResult = {
    ok: true, error: null, errorStatus: 0, messages, upgradeOffset: null, incomplete: false,
    errorCode: null, errorOffset: null,
  };
  let base = 0;
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
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
