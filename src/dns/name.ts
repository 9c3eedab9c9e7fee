/**
 * Host names from requests: normalise before any lookup. Lower-case, one
 * trailing dot removed, IDN to punycode, RFC 1035/1123 length and label rules
 * (plus `_`, which real intranets use). IP literals are recognised here and skip
 * DNS. Byte loops only: this runs once per request.
 *
 * Rejections are ProxyError('REQUEST_MALFORMED', REASON) with REASON one of
 * the HOST_* codes below, so tests and logs can tell them apart.
 */
import { domainToASCII } from 'node:url';
import { ProxyError } from '../errors.js';

export type HostTarget = { kind: 'ip'; address: string; family: 4 | 6 } | { kind: 'name'; name: string };

/** Longest name in presentation form without the trailing dot (RFC 1035: 255 octets on the wire). */
export const MAX_NAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;
/** Anything longer is rejected before IDN processing, to bound its cost. */
const MAX_RAW_LENGTH = 1024;

const CH_DOT = 0x2e;
const CH_HYPHEN = 0x2d;
const CH_COLON = 0x3a;
const CH_LBRACKET = 0x5b;
const CH_RBRACKET = 0x5d;
const CH_X = 0x78;

/** Byte classes: 0 = invalid in a host name, 1 = lower-case LDH or `_`, 2 = upper-case letter, 3 = digit. */
const HOST_CHAR = buildHostCharTable();

function buildHostCharTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1; // a-z
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 2; // A-Z
  for (let c = 0x30; c <= 0x39; c++) table[c] = 3; // 0-9
  table[CH_HYPHEN] = 1;
  table[0x5f] = 1; // _
  return table;
}

function malformed(reason: string): ProxyError {
  return new ProxyError('REQUEST_MALFORMED', reason);
}

/**
 * Normalise a host from a request (no port; IPv6 may be bracketed or bare).
 * Throws ProxyError('REQUEST_MALFORMED', HOST_*) when invalid.
 */
export function normalizeHost(raw: string): HostTarget {
  const length = raw.length;
  if (length === 0) throw malformed('HOST_EMPTY');
  if (length > MAX_RAW_LENGTH) throw malformed('HOST_TOO_LONG');
  if (raw.charCodeAt(0) === CH_LBRACKET) return bracketedIPv6(raw);
  return checkAsciiName(raw, true);
}

/** True for `localhost` and any `*.localhost` (RFC 6761: always loopback, never asked of DNS). */
export function isLocalhostName(name: string): boolean {
  const n = name.length;
  if (n < 9) return false;
  if (!name.endsWith('localhost')) return false;
  return n === 9 || name.charCodeAt(n - 10) === CH_DOT;
}

function bracketedIPv6(raw: string): HostTarget {
  if (raw.charCodeAt(raw.length - 1) !== CH_RBRACKET) throw malformed('HOST_BAD_IPV6');
  return bareIPv6(raw.slice(1, -1));
}

function bareIPv6(text: string): HostTarget {
  const groups = parseIPv6(text);
  if (groups === null) throw malformed('HOST_BAD_IPV6');
  return { kind: 'ip', address: formatIPv6(groups), family: 6 };
}

/** Rare path: non-ASCII input. Raw UTF-8 read as latin1 is decoded first; then UTS 46 via url.domainToASCII. */
function idnToAscii(raw: string): string {
  const ascii = domainToASCII(reinterpretUtf8(raw));
  if (ascii === '') throw malformed('HOST_BAD_IDN');
  return ascii;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** A string whose chars are all <= 0xFF and form valid UTF-8 came off the wire as bytes: decode it. */
function reinterpretUtf8(raw: string): string {
  for (let i = 0; i < raw.length; i++) if (raw.charCodeAt(i) > 0xff) return raw;
  try {
    return utf8Strict.decode(Buffer.from(raw, 'latin1'));
  } catch {
    return raw;
  }
}

/**
 * One pass over an ASCII name: check labels and lengths, fold case, drop one
 * trailing dot. Any rejection first goes through `notAsciiName`, which sends
 * IPv6 literals and non-ASCII (IDN) input down their own rare paths.
 * A name whose last label is numeric must be a strict dotted quad: anything
 * else (`127.1`, `0x7f.0.0.1`, `2130706433`, leading zeros) is ambiguous
 * between resolvers and is refused rather than guessed.
 */
function checkAsciiName(text: string, isRaw: boolean): HostTarget {
  let end = text.length;
  if (text.charCodeAt(end - 1) === CH_DOT) end--;
  if (end === 0) return notAsciiName(text, isRaw, 'HOST_EMPTY');
  if (end > MAX_NAME_LENGTH) return notAsciiName(text, isRaw, 'HOST_TOO_LONG');
  let hasUpper = false;
  let labelStart = 0;
  let lastLabelNumeric = true;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === CH_DOT) {
      const reason = labelError(text, labelStart, i);
      if (reason !== undefined) return notAsciiName(text, isRaw, reason);
      lastLabelNumeric = true;
      labelStart = i + 1;
      continue;
    }
    const cls = c > 0xff ? 0 : HOST_CHAR[c]!;
    if (cls === 0) return notAsciiName(text, isRaw, 'HOST_BAD_CHAR');
    if (cls !== 3) {
      lastLabelNumeric = false;
      if (cls === 2) hasUpper = true;
    }
  }
  const reason = labelError(text, labelStart, end);
  if (reason !== undefined) return notAsciiName(text, isRaw, reason);
  if (lastLabelNumeric || isHexLabel(text, labelStart, end)) return numericHost(text, end);
  if (!hasUpper) return { kind: 'name', name: end === text.length ? text : text.slice(0, end) };
  return { kind: 'name', name: foldCase(text, end) };
}

/** Rare path: raw input that is not a plain ASCII name may be IPv6 or IDN; otherwise reject for `reason`. */
function notAsciiName(text: string, isRaw: boolean, reason: string): HostTarget {
  if (isRaw) {
    let isAscii = true;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === CH_COLON) return bareIPv6(text);
      if (c > 0x7f) isAscii = false;
    }
    if (!isAscii) return checkAsciiName(idnToAscii(text), false);
  }
  throw malformed(reason);
}

function labelError(text: string, start: number, end: number): string | undefined {
  const n = end - start;
  if (n === 0) return 'HOST_LABEL_EMPTY';
  if (n > MAX_LABEL_LENGTH) return 'HOST_LABEL_TOO_LONG';
  if (text.charCodeAt(start) === CH_HYPHEN || text.charCodeAt(end - 1) === CH_HYPHEN) return 'HOST_LABEL_HYPHEN';
  return undefined;
}

/** `0x…` last label: WHATWG treats it as a number, so it counts as numeric. */
function isHexLabel(text: string, start: number, end: number): boolean {
  if (end - start < 2 || text.charCodeAt(start) !== 0x30) return false;
  const x = text.charCodeAt(start + 1) | 0x20;
  if (x !== CH_X) return false;
  for (let i = start + 2; i < end; i++) if (hexValue(text.charCodeAt(i)) < 0) return false;
  return true;
}

function numericHost(text: string, end: number): HostTarget {
  const address = end === text.length ? text : text.slice(0, end);
  if (parseIPv4(address) < 0) throw malformed('HOST_AMBIGUOUS_IPV4');
  return { kind: 'ip', address, family: 4 };
}

/** Scratch space for case folding (names are at most MAX_NAME_LENGTH bytes by then). */
const foldBuffer = Buffer.allocUnsafe(MAX_NAME_LENGTH);

/** A name with upper-case letters: fold into the scratch buffer, one string out. */
function foldCase(text: string, end: number): string {
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    foldBuffer[i] = HOST_CHAR[c] === 2 ? c | 0x20 : c;
  }
  return foldBuffer.toString('latin1', 0, end);
}

/**
 * Strict dotted quad: four decimal octets 0-255, no leading zeros, no other
 * forms. Returns the address as an unsigned 32-bit number, or -1.
 */
export function parseIPv4(text: string, start = 0, end = text.length): number {
  let value = 0;
  let parts = 0;
  let octet = -1;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i === end ? CH_DOT : text.charCodeAt(i);
    if (c === CH_DOT) {
      if (digits === 0 || parts === 4) return -1;
      value = value * 256 + octet;
      parts++;
      octet = -1;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39) return -1;
    if (digits > 0 && octet === 0) return -1; // leading zero
    octet = digits === 0 ? c - 0x30 : octet * 10 + (c - 0x30);
    digits++;
    if (octet > 255) return -1;
  }
  return parts === 4 ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * RFC 4291 text form (no zone): up to eight 1-4 digit hex groups, one `::`,
 * an optional dotted-quad tail. Returns the eight groups, or null.
 */
export function parseIPv6(text: string): Uint16Array | null {
  const n = text.length;
  if (n < 2 || n > 45) return null;
  const groups = new Uint16Array(8);
  let count = 0;
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === CH_COLON) {
    if (text.charCodeAt(1) !== CH_COLON) return null;
    gap = 0;
    i = 2;
    if (i === n) return groups; // "::"
  }
  while (i < n) {
    if (count === 8) return null;
    const groupStart = i;
    let value = 0;
    while (i < n && i - groupStart < 5) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      i++;
    }
    if (i < n && text.charCodeAt(i) === CH_DOT) {
      if (count > 6) return null;
      const v4 = parseIPv4(text, groupStart, n);
      if (v4 < 0) return null;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    const digits = i - groupStart;
    if (digits === 0 || digits > 4) return null;
    groups[count++] = value;
    if (i === n) break;
    if (text.charCodeAt(i) !== CH_COLON) return null;
    i++;
    if (i < n && text.charCodeAt(i) === CH_COLON) {
      if (gap >= 0) return null;
      gap = count;
      i++;
    } else if (i === n) {
      return null; // trailing single colon
    }
  }
  return expandGap(groups, count, gap);
}

function expandGap(groups: Uint16Array, count: number, gap: number): Uint16Array | null {
  if (gap < 0) return count === 8 ? groups : null;
  if (count === 8) return null; // "::" must stand for at least one group
  const tail = count - gap;
  const out = new Uint16Array(8);
  for (let k = 0; k < gap; k++) out[k] = groups[k]!;
  for (let k = 0; k < tail; k++) out[8 - tail + k] = groups[gap + k]!;
  return out;
}

/** RFC 5952 canonical text: lower-case, no leading zeros, longest zero run (>= 2) as `::`; v4-mapped as ::ffff:a.b.c.d. */
export function formatIPv6(groups: Uint16Array): string {
  if (isV4Mapped(groups)) {
    return `::ffff:${groups[6]! >>> 8}.${groups[6]! & 0xff}.${groups[7]! >>> 8}.${groups[7]! & 0xff}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let k = 0; k < 8; ) {
    if (groups[k] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && groups[j] === 0) j++;
    if (j - k > bestLength) {
      bestStart = k;
      bestLength = j - k;
    }
    k = j;
  }
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out += k === 0 ? '::' : ':';
      k += bestLength - 1;
      continue;
    }
    out += groups[k]!.toString(16);
    if (k < 7) out += ':';
  }
  return out;
}

function isV4Mapped(groups: Uint16Array): boolean {
  for (let k = 0; k < 5; k++) if (groups[k] !== 0) return false;
  return groups[5] === 0xffff;
}
