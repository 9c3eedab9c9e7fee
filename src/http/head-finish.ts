/**
 * Checks made once per head, off the per-byte path: the request-target form (at the end of the target) and the
 * message framing (at the end of the head, RFC 9112 §6.3).
 */
import { asciiBytes, CHAR_CLASS, C_DIGIT, C_OWS, C_REG_NAME, C_HEXDIG, COMMA, COLON } from './chars.js';
import {
  BODY_CHUNKED, BODY_EOF, BODY_LENGTH, BODY_NONE, FORM_ABSOLUTE, FORM_ASTERISK, FORM_AUTHORITY,
  FORM_ORIGIN, H_CONNECTION, H_OTHER, HEADER_STRIDE, METHOD_CONNECT, METHOD_HEAD, METHOD_OPTIONS,
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

/**
 * Rare path: mark as hop-by-hop the fields a Connection header names (RFC 9110 §7.6.1), in both directions.
 *
 * Only fields the scanner does not know (H_OTHER) can be named. A field it knows keeps the status RFC 9110 gives
 * it whatever Connection says: Host, Content-Length, Transfer-Encoding, Via, Trailer, Expect stay end-to-end, so
 * the framing and routing a message was read with are the ones it is forwarded with. (`Connection:
 * Content-Length` used to remove the length from the forwarded head while the body still went on: the origin
 * read the body as a second request.) A sender must not name such fields (§7.6.1); the name is ignored rather
 * than the message refused, as nginx and HAProxy, which only act on close / keep-alive / upgrade, do: nothing
 * downstream sees the nomination, because the proxy writes its own Connection field.
 *
 * Cheap on any head: the unknown field names (at most maxHeaders) are sorted once, and each option is found by
 * binary search. Matching every option against every name cost ~10 ms for a 60 KB head of options.
 */
function markConnectionListed(p: HeadParser, buf: Buffer): void {
  const h = p.headers;
  const n = p.headerCount;
  const ids = p.headerIds;
  const hop = p.hopByHop;
  const names: number[] = [];
  for (let k = 0; k < n; k++) if (ids[k] === H_OTHER && hop[k] === 0) names.push(k);
  if (names.length === 0) return;
  const cls = CHAR_CLASS;
  const ows = C_OWS;
  names.sort((a, b) => compareFolded(buf, h[a * HEADER_STRIDE], h[a * HEADER_STRIDE + 1], h[b * HEADER_STRIDE], h[b * HEADER_STRIDE + 1]));
  for (let c = 0; c < n; c++) {
    if (ids[c] !== H_CONNECTION) continue;
    const ve = h[c * HEADER_STRIDE + 3];
    let i = h[c * HEADER_STRIDE + 2];
    while (i < ve) {
      const c = buf[i];
      if (c === 0x2c || (cls[c] & ows) !== 0) {
        i++;
        continue;
      }
      const ts = i;
      while (i < ve && buf[i] !== 0x2c) i++;
      let te = i;
      while (te > ts && (cls[buf[te - 1]] & ows) !== 0) te--;
      markNamed(p, buf, names, ts, te);
    }
  }
}

/** Mark every field in `names` (sorted) whose name is buf[ts, te), folded. */
function markNamed(p: HeadParser, buf: Buffer, names: number[], ts: number, te: number): void {
  const h = p.headers;
  let lo = 0;
  let hi = names.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const b = names[mid] * HEADER_STRIDE;
    const cmp = compareFolded(buf, h[b], h[b + 1], ts, te);
    if (cmp < 0) lo = mid + 1;
    else if (cmp > 0) hi = mid - 1;
    else {
      // equal names sit next to each other
      for (let j = mid; j >= 0 && compareFolded(buf, h[names[j] * HEADER_STRIDE], h[names[j] * HEADER_STRIDE + 1], ts, te) === 0; j--) p.hopByHop[names[j]] = 1;
      for (let j = mid + 1; j < names.length && compareFolded(buf, h[names[j] * HEADER_STRIDE], h[names[j] * HEADER_STRIDE + 1], ts, te) === 0; j++) p.hopByHop[names[j]] = 1;
      return;
    }
  }
}

/** Order of buf[as, ae) and buf[bs, be): by length, then by bytes with A-Z folded to a-z. */
function compareFolded(buf: Buffer, as: number, ae: number, bs: number, be: number): number {
  const n = ae - as;
  if (n !== be - bs) return n - (be - bs);
  for (let j = 0; j < n; j++) {
    let x = buf[as + j];
    let y = buf[bs + j];
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return x - y;
  }
  return 0;
}
