/**
 * Host names from requests: normalise before any lookup. Lower-case, one
 * trailing dot removed, IDN to punycode, RFC 1035/1123 length and label rules
 * (plus `_`, which real intranets use). IP literals are recognised here and skip
 * DNS; they are read by policy/ip.ts, the parser the destination guard uses, and
 * come out in its canonical form. Byte loops only: this runs once per request.
 *
 * Rejections are ProxyError('REQUEST_MALFORMED', REASON) with REASON one of
 * the HOST_* codes below, so tests and logs can tell them apart.
 */
import { domainToASCII } from 'node:url';
import { ProxyError } from '../errors.js';
import { formatIPv6 as formatIPv6Bytes, hasZone, parseIPv4, parseIPv6 as parseIPv6Bytes } from '../policy/ip.js';

export { parseIPv4 } from '../policy/ip.js';

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

/** Scratch for IPv6 literals (formatted before anyone else can parse into it). */
const v6Bytes = new Uint8Array(16);

/** A zone id (`%eth0`, `%25eth0`) names an interface of the client's host, not a destination: refused. */
function bareIPv6(text: string): HostTarget {
  if (hasZone(text) || !parseIPv6Bytes(text, v6Bytes)) throw malformed('HOST_BAD_IPV6');
  return { kind: 'ip', address: formatIPv6Bytes(v6Bytes), family: 6 };
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
  if (parseIPv4(text, 0, end) < 0) throw malformed('HOST_AMBIGUOUS_IPV4');
  return { kind: 'ip', address: end === text.length ? text : text.slice(0, end), family: 4 };
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

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * policy/ip.ts's parseIPv6 as eight 16-bit groups, refusing zones as
 * normalizeHost does; null when `text` is not an IPv6 literal.
 */
export function parseIPv6(text: string): Uint16Array | null {
  const bytes = new Uint8Array(16);
  if (hasZone(text) || !parseIPv6Bytes(text, bytes)) return null;
  const groups = new Uint16Array(8);
  for (let k = 0; k < 8; k++) groups[k] = (bytes[2 * k]! << 8) | bytes[2 * k + 1]!;
  return groups;
}

/** RFC 5952 text of eight groups (policy/ip.ts formatIPv6): v4-mapped as ::ffff:a.b.c.d. */
export function formatIPv6(groups: Uint16Array): string {
  const bytes = new Uint8Array(16);
  for (let k = 0; k < 8; k++) {
    bytes[2 * k] = groups[k]! >>> 8;
    bytes[2 * k + 1] = groups[k]! & 0xff;
  }
  return formatIPv6Bytes(bytes);
}
