/**
 * parseStream: test and fuzz convenience (not the hot path). Feeds a byte stream, given as chunks, through a
 * HeadParser and a BodyParser and collects the messages as strings, the way the proxy drives the two parsers:
 * pipelined messages one after another; CONNECT (2xx to CONNECT for responses) and upgrades end the HTTP part;
 * nothing may follow a message that ends the connection (DATA_AFTER_CLOSE).
 */
import { ERROR, METHOD_CONNECT, METHOD_GET, NEED_MORE } from './constants.js';
import { BodyParser } from './body.js';
import { HeadParser } from './head.js';
import { statusOfReason } from './reasons.js';

export interface ParsedMessage {
  method?: string;
  url?: string;
  status?: number;
  reason?: string;
  versionMinor: number;
  headers: [string, string][];
  trailers: [string, string][];
  body: Buffer;
  upgrade: boolean;
  complete: boolean;
}

export interface ParseResult {
  ok: boolean;
  error: string | null;
  errorStatus: number;
  messages: ParsedMessage[];
  /** offset of the first byte after the HTTP part on upgrade/CONNECT, else null */
  upgradeOffset: number | null;
  /** the last message waits for more input */
  incomplete: boolean;
}

export interface ParseStreamOptions {
  /** the input ends after the chunks: completes a close-delimited body; a truncated message is an error */
  eof?: boolean;
  /** responses: METHOD_* of the request each response answers, in order (default GET) */
  requestMethods?: number[];
}

export function parseStream(kind: 'request' | 'response', chunks: Buffer[], options?: ParseStreamOptions): ParseResult {
  const isRequest = kind === 'request';
  const head = new HeadParser(kind);
  const body = new BodyParser();
  const result: ParseResult = { ok: true, error: null, errorStatus: 0, messages: [], upgradeOffset: null, incomplete: false };
  let current: ParsedMessage | null = null;
  let parts: Buffer[] = [];
  let inBody = false;
  let closed = false;
  let requestIndex = 0;
  let base = 0;
  body.onData = (buf, start, end) => {
    parts.push(Buffer.from(buf.subarray(start, end)));
  };
  body.onTrailer = (name, value) => {
    if (current !== null) current.trailers.push([name, value]);
  };
  const failWith = (code: string, status: number): ParseResult => {
    if (current !== null && parts.length > 0) current.body = Buffer.concat(parts);
    result.ok = false;
    result.error = code;
    result.errorStatus = status;
    return result;
  };
  const methodFor = (index: number): number => options?.requestMethods?.[index] ?? METHOD_GET;

  for (const chunk of chunks) {
    let i = 0;
    while (i < chunk.length) {
      if (closed) return failWith('DATA_AFTER_CLOSE', statusOfReason('DATA_AFTER_CLOSE'));
      if (!inBody) {
        if (!isRequest) head.requestMethod = methodFor(requestIndex);
        const r = head.execute(chunk, i, chunk.length);
        if (r === ERROR) return failWith(head.error ?? 'ERROR', head.errorStatus);
        if (r === NEED_MORE) {
          i = chunk.length;
          break;
        }
        current = messageOf(head, isRequest);
        result.messages.push(current);
        parts = [];
        i = r;
        const tunnel = isRequest
          ? head.method === METHOD_CONNECT
          : head.requestMethod === METHOD_CONNECT && head.statusCode >= 200 && head.statusCode < 300;
        if (tunnel) {
          current.complete = true;
          current.upgrade = true;
          result.upgradeOffset = base + i;
          return result;
        }
        body.reset(head.bodyKind, head.contentLength);
        inBody = true;
      } else {
        const r = body.execute(chunk, i, chunk.length);
        if (r === ERROR) return failWith(body.error ?? 'ERROR', body.errorStatus);
        i = r;
      }
      if (inBody && body.done) {
        const msg = current as ParsedMessage;
        inBody = false;
        msg.body = Buffer.concat(parts);
        msg.complete = true;
        if (head.upgrade) {
          msg.upgrade = true;
          result.upgradeOffset = base + i;
          return result;
        }
        if (isRequest || head.statusCode >= 200) requestIndex++;
        if (!head.keepAlive) closed = true;
        head.reset();
      }
    }
    base += chunk.length;
  }

  if (inBody && options?.eof === true && body.finish()) {
    const msg = current as ParsedMessage;
    inBody = false;
    msg.body = Buffer.concat(parts);
    msg.complete = true;
    head.reset();
  }
  if (current !== null && inBody) current.body = Buffer.concat(parts);
  const pending = inBody || head.isStarted();
  if (pending && options?.eof === true) return failWith('INCOMPLETE_MESSAGE', statusOfReason('INCOMPLETE_MESSAGE'));
  result.incomplete = pending;
  return result;
}

function messageOf(head: HeadParser, isRequest: boolean): ParsedMessage {
  const headers: [string, string][] = [];
  for (let k = 0; k < head.headerCount; k++) headers.push([head.headerName(k), head.headerValue(k)]);
  const msg: ParsedMessage = {
    versionMinor: head.versionMinor,
    headers,
    trailers: [],
    body: EMPTY,
    upgrade: false,
    complete: false,
  };
  if (isRequest) {
    msg.method = head.methodName();
    msg.url = head.target();
  } else {
    msg.status = head.statusCode;
    msg.reason = head.reason();
  }
  return msg;
}

const EMPTY = Buffer.alloc(0);
