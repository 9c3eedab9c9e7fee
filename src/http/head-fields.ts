/**
 * Semantics of the few header fields the scanner itself must interpret (RFC 9112 §6, RFC 9110 §7.6.1, §10.1.1).
 * Values are read as bytes: digits accumulated with an overflow bound, tokens compared folded with | 0x20.
 * Called once per known field line, never per byte of an unknown one.
 */
import { asciiBytes, CHAR_CLASS, C_DIGIT, C_OWS, C_TCHAR, COMMA, SEMI } from './chars.js';
import {
  H_CONNECTION, H_CONTENT_LENGTH, H_EXPECT, H_HOST, H_PROXY_CONNECTION, H_TRANSFER_ENCODING, H_UPGRADE,
  MAX_BODY_LENGTH,
} from './constants.js';
import type { HeadParser } from './head.js';

const CHUNKED = asciiBytes('chunked');
const CLOSE = asciiBytes('close');
const KEEP_ALIVE = asciiBytes('keep-alive');
const UPGRADE = asciiBytes('upgrade');
const CONTINUE_100 = asciiBytes('100-continue');

/** v * 10 + d <= MAX_BODY_LENGTH exactly when v < CL_DIV10, or v === CL_DIV10 and d <= CL_LAST_DIGIT. */
const CL_DIV10 = Math.floor(MAX_BODY_LENGTH / 10);
const CL_LAST_DIGIT = MAX_BODY_LENGTH % 10;

export function applyKnownHeader(p: HeadParser, buf: Buffer, id: number, k: number, vs: number, ve: number): number {
  switch (id) {
    case H_HOST:
      // RFC 9112 §3.2: a request with more than one Host is rejected (responses: Host means nothing, kept first)
      if (p.hostIndex >= 0) return p.isRequest ? p.fail('DUPLICATE_HOST') : 0;
      p.hostIndex = k;
      return 0;
    case H_CONTENT_LENGTH:
      return applyContentLength(p, buf, vs, ve);
    case H_TRANSFER_ENCODING:
      return applyTransferEncoding(p, buf, vs, ve);
    case H_CONNECTION:
      applyConnection(p, buf, vs, ve, false);
      return 0;
    case H_PROXY_CONNECTION:
      // non-standard, sent by old clients to proxies: honoured for close / keep-alive only (as llhttp does)
      applyConnection(p, buf, vs, ve, true);
      return 0;
    case H_UPGRADE:
      // an empty Upgrade field names no protocol: no upgrade (as llhttp)
      if (ve > vs) p.hasUpgradeHeader = true;
      return 0;
    case H_EXPECT:
      if (p.isRequest && foldedEquals(buf, vs, ve, CONTINUE_100)) p.expectContinue = true;
      return 0;
    default:
      return 0;
  }
}

/**
 * Content-Length = 1*DIGIT (RFC 9110 §8.6). Leading zeros are accepted. A different second value is
 * CL_MISMATCH. A request repeating the same value (a second field, or a list "5, 5") is DUPLICATE_CONTENT_LENGTH:
 * RFC 9110 §8.6 lets a recipient reject it, llhttp does, and a proxy should not pass on a request that other
 * parsers in the chain may refuse or read differently. A response repeating the same value is read as that value
 * (some origins do send it; every reader frames it identically). Anything else is INVALID_CONTENT_LENGTH.
 */
function applyContentLength(p: HeadParser, buf: Buffer, vs: number, ve: number): number {
  let i = vs;
  for (;;) {
    if (i === ve || (CHAR_CLASS[buf[i]] & C_DIGIT) === 0) return p.fail('INVALID_CONTENT_LENGTH');
    let v = 0;
    while (i < ve && (CHAR_CLASS[buf[i]] & C_DIGIT) !== 0) {
      const d = buf[i++] - 0x30;
      if (v >= CL_DIV10 && (v > CL_DIV10 || d > CL_LAST_DIGIT)) return p.fail('CONTENT_LENGTH_OVERFLOW');
      v = v * 10 + d;
    }
    if (p.hasContentLength) {
      if (v !== p.contentLength) return p.fail('CL_MISMATCH');
      if (p.isRequest) return p.fail('DUPLICATE_CONTENT_LENGTH');
    }
    p.hasContentLength = true;
    p.contentLength = v;
    if (i === ve) return 0;
    while (i < ve && (CHAR_CLASS[buf[i]] & C_OWS) !== 0) i++;
    if (i === ve || buf[i] !== COMMA) return p.fail('INVALID_CONTENT_LENGTH');
    i++;
    while (i < ve && (CHAR_CLASS[buf[i]] & C_OWS) !== 0) i++;
  }
}

/**
 * Transfer-Encoding = 1#transfer-coding (RFC 9112 §6.1). Remembers whether chunked was seen and whether it is the
 * final coding so far. chunked twice is an error; parameters on chunked are an error; other codings are
 * accepted (forwarded as they are). Empty list members (",chunked", "chunked,", "gzip,,chunked", an empty value)
 * are rejected rather than ignored: parsers disagree on whether "chunked," ends in chunked, and that decides
 * the framing.
 */
function applyTransferEncoding(p: HeadParser, buf: Buffer, vs: number, ve: number): number {
  p.hasTransferEncoding = true;
  let i = vs;
  for (;;) {
    const ts = i;
    while (i < ve && (CHAR_CLASS[buf[i]] & C_TCHAR) !== 0) i++;
    if (i === ts) return p.fail('INVALID_TRANSFER_ENCODING');
    const isChunked = foldedEquals(buf, ts, i, CHUNKED);
    while (i < ve && (CHAR_CLASS[buf[i]] & C_OWS) !== 0) i++;
    if (i < ve && buf[i] === SEMI) {
      // transfer-parameter(s): not defined for chunked; skipped (unquoted) for other codings
      if (isChunked) return p.fail('INVALID_TRANSFER_ENCODING');
      while (i < ve && buf[i] !== COMMA) {
        if (buf[i] === 0x22) return p.fail('INVALID_TRANSFER_ENCODING');
        i++;
      }
    }
    if (isChunked) {
      if (p.teChunkedSeen) return p.fail('CHUNKED_TWICE');
      p.teChunkedSeen = true;
      p.teLastChunked = true;
    } else {
      p.teLastChunked = false;
    }
    if (i === ve) return 0;
    if (buf[i] !== COMMA) return p.fail('INVALID_TRANSFER_ENCODING');
    i++;
    while (i < ve && (CHAR_CLASS[buf[i]] & C_OWS) !== 0) i++;
  }
}

/** Connection = #connection-option. Members that are not tokens are ignored. */
function applyConnection(p: HeadParser, buf: Buffer, vs: number, ve: number, closeAndKeepAliveOnly: boolean): void {
  let i = vs;
  while (i < ve) {
    const c = buf[i];
    if (c === COMMA || (CHAR_CLASS[c] & C_OWS) !== 0) {
      i++;
      continue;
    }
    const ts = i;
    while (i < ve && buf[i] !== COMMA) i++;
    let te = i;
    while (te > ts && (CHAR_CLASS[buf[te - 1]] & C_OWS) !== 0) te--;
    const n = te - ts;
    if (n === 5 && foldedEquals(buf, ts, te, CLOSE)) p.connClose = true;
    else if (n === 10 && foldedEquals(buf, ts, te, KEEP_ALIVE)) p.connKeepAlive = true;
    else if (closeAndKeepAliveOnly) continue;
    else if (n === 7 && foldedEquals(buf, ts, te, UPGRADE)) p.connUpgrade = true;
    else p.connOther = true;
  }
}

/** buf[s, e) equals lowerWord, comparing bytes folded with | 0x20 (lowerWord: letters, digits, '-'). */
export function foldedEquals(buf: Buffer, s: number, e: number, lowerWord: Uint8Array): boolean {
  const n = lowerWord.length;
  if (e - s !== n) return false;
  for (let j = 0; j < n; j++) if ((buf[s + j] | 0x20) !== lowerWord[j]) return false;
  return true;
}
