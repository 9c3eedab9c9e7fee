/**
 * Checks made once per head, off the per-byte path: the request-target form (at the end of the target) and the
 * message framing (at the end of the head, RFC 9112 §6.3).
 */
import { asciiBytes, CHAR_CLASS, C_DIGIT, C_OWS, C_REG_NAME, C_HEXDIG, COMMA, COLON } from './chars.js';
import {
  BODY_CHUNKED, BODY_EOF, BODY_LENGTH, BODY_NONE, FORM_ABSOLUTE, FORM_ASTERISK, FORM_AUTHORITY,
  FORM_ORIGIN, H_CONNECTION, HEADER_STRIDE, METHOD_CONNECT, METHOD_HEAD, METHOD_OPTIONS,
} from './constants.js';
import type { HeadParser } from './head.js';

const SLASH = 0x2f;
const STAR = 0x2a;
const QUESTION = 0x3f;
const HASH = 0x23;
const AT = 0x40;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const DOT = 0x2e;
const HTTP_SCHEME = asciiBytes('http://');
const HTTPS_SCHEME = asciiBytes('https://');

/**
 * request-target (RFC 9112 §3.2): origin-form "/..."; absolute-form with scheme http or https (case-insensitive)
 * and a non-empty authority; authority-form host:port (port required) only with CONNECT, and CONNECT takes only
 * that; asterisk-form "*" only with OPTIONS.
 */
export function classifyTarget(p: HeadParser, buf: Buffer): number {
  const s = p.targetStart;
  const e = p.targetEnd;
  const method = p.method;
  if (method === METHOD_CONNECT) {
    if (!isAuthorityForm(buf, s, e)) return p.fail('INVALID_TARGET');
    p.targetForm = FORM_AUTHORITY;
    return 0;
  }
  const c = buf[s];
  if (c === SLASH) {
    p.targetForm = FORM_ORIGIN;
    return 0;
  }
  if (c === STAR && e - s === 1) {
    if (method !== METHOD_OPTIONS) return p.fail('INVALID_TARGET');
    p.targetForm = FORM_ASTERISK;
    return 0;
  }
  let a = -1;
  if (hasPrefixFolded(buf, s, e, HTTP_SCHEME)) a = s + HTTP_SCHEME.length;
  else if (hasPrefixFolded(buf, s, e, HTTPS_SCHEME)) a = s + HTTPS_SCHEME.length;
  if (a < 0 || !isAbsoluteAuthority(buf, a, e)) return p.fail('INVALID_TARGET');
  p.targetForm = FORM_ABSOLUTE;
  return 0;
}

/**
 * The authority of an absolute-form target (RFC 3986 §3.2), from a to its end at "/", "?", "#" or e:
 * [ userinfo "@" ] host [ ":" *DIGIT ] with a non-empty host (reg-name, or "[" IPv6 "]"), followed by a
 * path or query (or nothing), not directly by a fragment.
 */
function isAbsoluteAuthority(buf: Buffer, a: number, e: number): boolean {
  let ae = a;
  let at = -1;
  while (ae < e) {
    const b = buf[ae];
    if (b === SLASH || b === QUESTION || b === HASH) break;
    if (b === AT) at = ae;
    ae++;
  }
  // userinfo = *( unreserved / pct-encoded / sub-delims / ":" )
  for (let u = a; u < at; u++) if ((CHAR_CLASS[buf[u]] & C_REG_NAME) === 0 && buf[u] !== COLON) return false;
  let i = at >= 0 ? at + 1 : a;
  if (i < ae && buf[i] === LBRACKET) {
    i++;
    const hs = i;
    while (i < ae && buf[i] !== RBRACKET) {
      const b = buf[i];
      if ((CHAR_CLASS[b] & C_HEXDIG) === 0 && b !== COLON && b !== DOT) return false;
      i++;
    }
    if (i === ae || i === hs) return false;
    i++;
  } else {
    const hs = i;
    while (i < ae && (CHAR_CLASS[buf[i]] & C_REG_NAME) !== 0) i++;
    if (i === hs) return false;
  }
  if (i < ae) {
    if (buf[i] !== COLON) return false;
    for (i++; i < ae; i++) if ((CHAR_CLASS[buf[i]] & C_DIGIT) === 0) return false;
  }
  // a fragment straight after the authority ("http://h#x") is rejected, as llhttp does
  return ae === e || buf[ae] !== HASH;
}

function hasPrefixFolded(buf: Buffer, s: number, e: number, lowerPrefix: Uint8Array): boolean {
  const n = lowerPrefix.length;
  if (e - s < n) return false;
  for (let j = 0; j < n; j++) {
    const b = buf[s + j];
    // letters fold; ':' and '/' must match exactly
    if ((b === lowerPrefix[j] || ((b | 0x20) === lowerPrefix[j] && b >= 0x41 && b <= 0x5a)) === false) return false;
  }
  return true;
}

/** authority-form = uri-host ":" port (RFC 9112 §3.2.3); host = reg-name, IPv4 or "[" IPv6 "]"; no userinfo. */
function isAuthorityForm(buf: Buffer, s: number, e: number): boolean {
  let colon = -1;
  for (let i = e - 1; i >= s; i--) {
    if (buf[i] === COLON) {
      colon = i;
      break;
    }
  }
  if (colon <= s || colon === e - 1 || e - colon - 1 > 5) return false;
  let port = 0;
  for (let i = colon + 1; i < e; i++) {
    if ((CHAR_CLASS[buf[i]] & C_DIGIT) === 0) return false;
    port = port * 10 + (buf[i] - 0x30);
  }
  if (port === 0 || port > 65535) return false;
  if (buf[s] === LBRACKET) {
    if (colon - s < 3 || buf[colon - 1] !== RBRACKET) return false;
    for (let i = s + 1; i < colon - 1; i++) {
      const b = buf[i];
      if ((CHAR_CLASS[b] & C_HEXDIG) === 0 && b !== COLON && b !== DOT) return false;
    }
    return true;
  }
  for (let i = s; i < colon; i++) {
    const b = buf[i];
    if ((CHAR_CLASS[b] & C_REG_NAME) === 0 || b === AT) return false;
  }
  return true;
}

/** End of head: framing (RFC 9112 §6.3), keep-alive, upgrade, hop-by-hop names listed in Connection. */
export function finishHead(p: HeadParser, buf: Buffer): number {
  if (p.hasContentLength && p.hasTransferEncoding) return p.fail('CL_TE_CONFLICT');
  const minor = p.versionMinor;
  let kind = BODY_NONE;
  if (p.isRequest) {
    if (p.hasTransferEncoding) {
      // RFC 9112 §6.1: a request's final coding must be chunked, and an HTTP/1.0 message with
      // Transfer-Encoding has faulty framing (an HTTP/1.0 recipient would ignore the field).
      if (!p.teLastChunked) return p.fail('TE_NOT_CHUNKED');
      if (minor === 0) return p.fail('TE_IN_HTTP10');
    }
    if (p.method === METHOD_CONNECT) kind = BODY_NONE;
    else if (p.hasTransferEncoding) kind = BODY_CHUNKED;
    else if (p.hasContentLength) kind = BODY_LENGTH;
    p.upgrade = p.hasUpgradeHeader && p.connUpgrade;
  } else {
    const status = p.statusCode;
    const rm = p.requestMethod;
    if (status < 200 || status === 204 || status === 304 || rm === METHOD_HEAD ||
      (rm === METHOD_CONNECT && status < 300)) {
      kind = BODY_NONE;
    } else if (p.hasTransferEncoding) {
      kind = p.teLastChunked ? BODY_CHUNKED : BODY_EOF;
    } else if (p.hasContentLength) {
      kind = BODY_LENGTH;
    } else {
      kind = BODY_EOF;
    }
    p.upgrade = status === 101;
  }
  p.bodyKind = kind;
  p.chunked = p.hasTransferEncoding && p.teLastChunked;
  p.keepAlive = !p.connClose && (minor === 1 || p.connKeepAlive) && kind !== BODY_EOF;
  if (p.connOther) markConnectionListed(p, buf);
  return 0;
}

/** Rare path: mark as hop-by-hop every header whose name a Connection header lists (RFC 9110 §7.6.1). */
function markConnectionListed(p: HeadParser, buf: Buffer): void {
  const h = p.headers;
  const n = p.headerCount;
  for (let c = 0; c < n; c++) {
    if (p.headerIds[c] !== H_CONNECTION) continue;
    const ve = h[c * HEADER_STRIDE + 3];
    let i = h[c * HEADER_STRIDE + 2];
    while (i < ve) {
      if (buf[i] === COMMA || (CHAR_CLASS[buf[i]] & C_OWS) !== 0) {
        i++;
        continue;
      }
      const ts = i;
      while (i < ve && buf[i] !== COMMA) i++;
      let te = i;
      while (te > ts && (CHAR_CLASS[buf[te - 1]] & C_OWS) !== 0) te--;
      for (let k = 0; k < n; k++) {
        const b = k * HEADER_STRIDE;
        if (p.hopByHop[k] === 0 && sameFolded(buf, h[b], h[b + 1], ts, te)) p.hopByHop[k] = 1;
      }
    }
  }
}

function sameFolded(buf: Buffer, as: number, ae: number, bs: number, be: number): boolean {
  if (ae - as !== be - bs) return false;
  for (let j = 0; j < ae - as; j++) {
    const x = buf[as + j];
    const y = buf[bs + j];
    if (x !== y && !(isLetter(x) && (x | 0x20) === (y | 0x20))) return false;
  }
  return true;
}

function isLetter(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
