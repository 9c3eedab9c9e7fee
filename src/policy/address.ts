/**
 * Pure address classification: which kind of destination an IP literal is.
 * No RegExp, no split: IP literals are parsed with byte loops into a reused
 * 16-byte buffer. Called once per dial on the address that will be dialled.
 *
 * Classes and the policy meaning (enforced by the proxy, not here):
 * - 'public'       allowed by default; the only class isPrivateClass() is false for.
 * - 'loopback' | 'private' (RFC 1918) | 'link-local' | 'cgnat' | 'ula' | 'reserved'
 *                  denied unless access.allowPrivateDestinations. 'reserved' covers
 *                  0/8, 240/4 and broadcast, the documentation and benchmarking
 *                  ranges, IETF protocol assignments, Teredo, local-use NAT64,
 *                  site-local and IPv6 outside 2000::/3 not named above.
 * - 'metadata'     cloud instance metadata (169.254.169.254, fd00:ec2::254),
 *                  'unspecified' (0.0.0.0 / :: reach this host), 'multicast' and
 *                  'invalid' (not an IP literal: fail closed) are denied even with
 *                  allowPrivateDestinations (isAlwaysDeniedClass) unless a rule
 *                  lists them in access.allow.
 *
 * IPv6 forms that carry an IPv4 address are classified by the embedded IPv4:
 * mapped ::ffff:0:0/96, translated ::ffff:0:0:0/96, compatible ::/96,
 * NAT64 well-known prefix 64:ff9b::/96 and 6to4 2002::/16.
 */
import type { HostPort } from '../config/types.js';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'cgnat'
  | 'ula'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'invalid';

/** Not a public destination: denied by default (every class but 'public'). */
export function isPrivateClass(c: AddressClass): boolean {
  return c !== 'public';
}

/** Denied even with access.allowPrivateDestinations (only an explicit allow rule admits them). */
export function isAlwaysDeniedClass(c: AddressClass): boolean {
  return c === 'metadata' || c === 'unspecified' || c === 'multicast' || c === 'invalid';
}

const scratch = new Uint8Array(16);

/**
 * Classify an IP literal ("10.0.0.1", "::1", "fe80::1%eth0", "::ffff:127.0.0.1").
 * `family` skips detection when the caller already knows it.
 */
export function classifyAddress(ip: string, family?: 4 | 6): AddressClass {
  if (family !== 6) {
    const v4 = parseIPv4(ip);
    if (v4 >= 0) return classifyIPv4(v4);
    if (family === 4) return 'invalid';
  }
  if (!parseIPv6(ip, scratch)) return 'invalid';
  return classifyIPv6(scratch);
}

/** Classify an IPv4 address given as an unsigned 32-bit number. */
export function classifyIPv4(v4: number): AddressClass {
  const a = v4 >>> 24;
  const b = (v4 >>> 16) & 0xff;
  const c = (v4 >>> 8) & 0xff;
  switch (a) {
    case 0:
      return v4 === 0 ? 'unspecified' : 'reserved'; // 0.0.0.0/8 "this network"
    case 10:
      return 'private';
    case 100:
      return b >= 64 && b <= 127 ? 'cgnat' : 'public'; // 100.64.0.0/10
    case 127:
      return 'loopback';
    case 169:
      if (b !== 254) return 'public';
      return v4 === 0xa9fea9fe ? 'metadata' : 'link-local'; // 169.254.169.254
    case 172:
      return b >= 16 && b <= 31 ? 'private' : 'public'; // 172.16.0.0/12
    case 192:
      if (b === 168) return 'private'; // 192.168.0.0/16
      if (b === 0 && (c === 0 || c === 2)) return 'reserved'; // 192.0.0.0/24 IETF, 192.0.2.0/24 TEST-NET-1
      if (b === 88 && c === 99) return 'reserved'; // 192.88.99.0/24 6to4 relay anycast (deprecated)
      return 'public';
    case 198:
      if (b === 18 || b === 19) return 'reserved'; // 198.18.0.0/15 benchmarking
      if (b === 51 && c === 100) return 'reserved'; // TEST-NET-2
      return 'public';
    case 203:
      return b === 0 && c === 113 ? 'reserved' : 'public'; // TEST-NET-3
  }
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved'; // 240.0.0.0/4 and 255.255.255.255
  return 'public';
}

/** Classify a 16-byte IPv6 address. */
export function classifyIPv6(b: Uint8Array): AddressClass {
  const b0 = b[0]!;
  const b1 = b[1]!;
  if (b0 === 0 && b1 === 0) return classifyLowIPv6(b);
  if (b0 === 0x00 && b1 === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    if (allZero(b, 4, 12)) return classifyIPv4(embeddedV4(b, 12)); // 64:ff9b::/96
    return 'reserved'; // 64:ff9b:1::/48 local-use NAT64 and the rest of 64:ff9b::/32
  }
  if (b0 === 0x20 && b1 === 0x02) return classifyIPv4(embeddedV4(b, 2)); // 2002::/16 6to4
  if (b0 === 0x20 && b1 === 0x01) {
    const b2 = b[2]!;
    const b3 = b[3]!;
    if (b2 === 0x0d && b3 === 0xb8) return 'reserved'; // 2001:db8::/32 documentation
    if (b2 === 0x00 && b3 === 0x00) return 'reserved'; // 2001::/32 Teredo
    if (b2 === 0x00 && b3 === 0x02 && b[4] === 0 && b[5] === 0) return 'reserved'; // 2001:2::/48 benchmarking
    if (b2 === 0x00 && (b3 & 0xf0) === 0x20) return 'reserved'; // 2001:20::/28 ORCHIDv2
    return 'public';
  }
  if (b0 === 0x3f && b1 === 0xff && (b[2]! & 0xf0) === 0) return 'reserved'; // 3fff::/20 documentation
  if (b0 === 0xff) return 'multicast'; // ff00::/8
  if ((b0 & 0xfe) === 0xfc) {
    // fc00::/7 ULA; fd00:ec2::254 is the AWS metadata service.
    if (b0 === 0xfd && b1 === 0 && b[2] === 0x0e && b[3] === 0xc2 && allZero(b, 4, 14) && b[14] === 0x02 && b[15] === 0x54) {
      return 'metadata';
    }
    return 'ula';
  }
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return 'link-local'; // fe80::/10
  if (b0 === 0xfe && (b1 & 0xc0) === 0xc0) return 'reserved'; // fec0::/10 site-local (deprecated)
  if ((b0 & 0xe0) === 0x20) return 'public'; // 2000::/3 global unicast
  return 'reserved';
}

/** Addresses starting 0000:0000 — unspecified, loopback, IPv4-mapped/-compatible/-translated. */
function classifyLowIPv6(b: Uint8Array): AddressClass {
  if (allZero(b, 2, 10)) {
    if (b[10] === 0xff && b[11] === 0xff) return classifyIPv4(embeddedV4(b, 12)); // ::ffff:a.b.c.d
    if (b[10] === 0 && b[11] === 0) {
      if (allZero(b, 12, 15)) {
        if (b[15] === 0) return 'unspecified';
        if (b[15] === 1) return 'loopback';
      }
      return classifyIPv4(embeddedV4(b, 12)); // ::a.b.c.d (deprecated compatible form)
    }
    return 'reserved';
  }
  if (allZero(b, 2, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) {
    return classifyIPv4(embeddedV4(b, 12)); // ::ffff:0:a.b.c.d (SIIT translated)
  }
  return 'reserved';
}

function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

function embeddedV4(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * Parse a dotted-quad IPv4 literal (no leading zeros, exactly four parts) into
 * an unsigned 32-bit number; -1 when `text` is not one.
 */
export function parseIPv4(text: string, from = 0, to = text.length): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    let octet = 0;
    let digits = 0;
    const start = i;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      octet = octet * 10 + (c - 0x30);
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || octet > 255) return -1;
    if (digits > 1 && text.charCodeAt(start) === 0x30) return -1; // leading zero: ambiguous (octal)
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= to || text.charCodeAt(i) !== 0x2e) return -1;
      i++;
    }
  }
  return i === to ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const f = c | 0x20;
  if (f >= 0x61 && f <= 0x66) return f - 0x61 + 10;
  return -1;
}

/**
 * Parse an IPv6 literal (RFC 4291 text forms, optional trailing dotted IPv4,
 * optional "%zone" which is ignored) into `out` (16 bytes). False when invalid.
 */
export function parseIPv6(text: string, out: Uint8Array): boolean {
  let end = text.length;
  for (let k = 0; k < end; k++) {
    if (text.charCodeAt(k) === 0x25) {
      if (k === end - 1) return false; // empty zone
      end = k;
      break;
    }
  }
  out.fill(0);
  let i = 0;
  let pos = 0; // next byte to write
  let gap = -1; // byte index where "::" was
  if (end >= 2 && text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === end) return true; // "::"
  }
  while (i < end) {
    if (pos >= 16) return false;
    // One group: up to 4 hex digits, or a dotted IPv4 tail.
    let group = 0;
    let digits = 0;
    const start = i;
    while (i < end && digits <= 4) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      group = (group << 4) | h;
      digits++;
      i++;
    }
    if (i < end && text.charCodeAt(i) === 0x2e) {
      if (pos > 12) return false;
      const v4 = parseIPv4(text, start, end);
      if (v4 < 0) return false;
      out[pos] = v4 >>> 24;
      out[pos + 1] = (v4 >>> 16) & 0xff;
      out[pos + 2] = (v4 >>> 8) & 0xff;
      out[pos + 3] = v4 & 0xff;
      pos += 4;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    out[pos] = group >>> 8;
    out[pos + 1] = group & 0xff;
    pos += 2;
    if (i === end) break;
    if (text.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < end && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false; // second "::"
      gap = pos;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0) return pos === 16;
  if (pos === 16) return false; // "::" must stand for at least one group
  // Move the bytes after the gap to the end.
  const tail = pos - gap;
  for (let k = tail - 1; k >= 0; k--) {
    out[16 - tail + k] = out[gap + k]!;
  }
  for (let k = gap; k < 16 - tail; k++) out[k] = 0;
  return true;
}

/** A parsed CIDR block; IPv4 blocks keep 4 bytes, IPv6 blocks 16. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical text (network address and prefix). */
  readonly text: string;
}

/**
 * Parse "10.0.0.0/8", "fd00::/8" or a bare address (a /32 or /128).
 * Throws an Error whose message is the reason (host bits set, bad prefix, not an address).
 */
export function parseCidr(text: string): Cidr {
  let slash = -1;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 0x2f) {
      slash = i;
      break;
    }
  }
  const addr = slash < 0 ? text : text.slice(0, slash);
  let family: 4 | 6;
  let bytes: Uint8Array;
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    family = 4;
    bytes = new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]);
  } else {
    bytes = new Uint8Array(16);
    if (hasZone(addr) || !parseIPv6(addr, bytes)) throw new Error('not an IP address or CIDR block');
    family = 6;
  }
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    prefix = parsePrefixLength(text, slash + 1, max);
    if (prefix < 0) throw new Error(`prefix length must be 0..${max}`);
  }
  const masked = maskBytes(bytes, prefix);
  const canonical = formatAddress(family, masked) + '/' + prefix;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== masked[i]) throw new Error(`host bits set; did you mean ${canonical}?`);
  }
  return { family, bytes: masked, prefix, text: canonical };
}

/** parseCidr without the throw: null when `text` is not a CIDR block. */
export function tryParseCidr(text: string): Cidr | null {
  try {
    return parseCidr(text);
  } catch {
    return null;
  }
}

function hasZone(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x25) return true;
  return false;
}

function parsePrefixLength(text: string, from: number, max: number): number {
  if (from >= text.length || text.length - from > 3) return -1;
  let n = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  if (text.length - from > 1 && text.charCodeAt(from) === 0x30) return -1;
  return n <= max ? n : -1;
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = prefix - i * 8;
    if (bits >= 8) out[i] = bytes[i]!;
    else if (bits > 0) out[i] = bytes[i]! & (0xff << (8 - bits));
  }
  return out;
}

function formatAddress(family: 4 | 6, b: Uint8Array): string {
  if (family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  // Longest run of zero groups (length >= 2) becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 1;
  for (let g = 0; g < 8; ) {
    if (b[g * 2] === 0 && b[g * 2 + 1] === 0) {
      let e = g;
      while (e < 8 && b[e * 2] === 0 && b[e * 2 + 1] === 0) e++;
      if (e - g > bestLen) {
        bestStart = g;
        bestLen = e - g;
      }
      g = e;
    } else {
      g++;
    }
  }
  let out = '';
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      out += '::';
      g += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += ((b[g * 2]! << 8) | b[g * 2 + 1]!).toString(16);
  }
  return out;
}

const matchScratch = new Uint8Array(16);

/**
 * Is `ip` inside `cidr`? An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches
 * IPv4 blocks by its embedded address. Invalid `ip` → false.
 */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  const v4 = parseIPv4(ip);
  let b: Uint8Array;
  let off = 0;
  if (v4 >= 0) {
    if (cidr.family !== 4) return false;
    matchScratch[0] = v4 >>> 24;
    matchScratch[1] = (v4 >>> 16) & 0xff;
    matchScratch[2] = (v4 >>> 8) & 0xff;
    matchScratch[3] = v4 & 0xff;
    b = matchScratch;
  } else {
    if (!parseIPv6(ip, matchScratch)) return false;
    b = matchScratch;
    if (cidr.family === 4) {
      if (!allZero(b, 0, 10) || b[10] !== 0xff || b[11] !== 0xff) return false;
      off = 12;
    }
  }
  return prefixEqual(cidr.bytes, b, off, cidr.prefix);
}

function prefixEqual(net: Uint8Array, b: Uint8Array, off: number, prefix: number): boolean {
  let i = 0;
  for (; (i + 1) * 8 <= prefix; i++) if (net[i] !== b[off + i]) return false;
  const rest = prefix - i * 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (net[i]! & mask) === (b[off + i]! & mask);
}

// ---- host and host:port syntax (config, flags) ----

/**
 * A DNS host name: dot-separated labels of letters, digits, '-' and '_',
 * 1..63 bytes each, 253 in all, no trailing dot, not all-numeric in the last label
 * (that would be a malformed IPv4 literal).
 */
export function isHostName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  let labelLen = 0;
  let labelDigitsOnly = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (labelLen === 0) return false;
      if (text.charCodeAt(i - 1) === 0x2d) return false; // label ends in '-'
      labelLen = 0;
      labelDigitsOnly = true;
      continue;
    }
    const isDigit = c >= 0x30 && c <= 0x39;
    const f = c | 0x20;
    const isLetter = f >= 0x61 && f <= 0x7a;
    if (!isDigit && !isLetter && c !== 0x2d && c !== 0x5f) return false;
    if (c === 0x2d && labelLen === 0) return false; // label starts with '-'
    if (!isDigit) labelDigitsOnly = false;
    if (++labelLen > 63) return false;
  }
  if (labelLen === 0 || text.charCodeAt(text.length - 1) === 0x2d) return false;
  return !labelDigitsOnly;
}

/** A decimal port 0..65535 without sign or leading zeros; -1 otherwise. */
export function parsePort(text: string, from = 0, to = text.length): number {
  if (to - from < 1 || to - from > 5) return -1;
  if (to - from > 1 && text.charCodeAt(from) === 0x30) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n <= 65535 ? n : -1;
}

/**
 * Parse "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" (host lower-cased,
 * IPv6 without brackets). A missing host (":8080") is rejected: listening on
 * every interface must be spelled 0.0.0.0 or [::]. Throws an Error whose
 * message is the reason.
 */
export function parseHostPort(text: string, allowPortZero: boolean): HostPort {
  let host: string;
  let portAt: number;
  if (text.charCodeAt(0) === 0x5b) {
    const close = text.indexOf(']');
    if (close < 0) throw new Error(`"${text}": missing ]`);
    host = text.slice(1, close);
    if (!parseIPv6(host, scratch) || hasZone(host)) throw new Error(`"${text}": [${host}] is not an IPv6 address`);
    if (text.charCodeAt(close + 1) !== 0x3a) throw new Error(`"${text}" needs a port: [${host}]:PORT`);
    portAt = close + 2;
    host = host.toLowerCase();
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new Error(`"${text}" needs a port: HOST:PORT`);
    if (text.indexOf(':') !== colon) throw new Error(`"${text}": put IPv6 addresses in brackets, e.g. [::1]:8080`);
    host = text.slice(0, colon).toLowerCase();
    portAt = colon + 1;
    if (host.length === 0) {
      throw new Error(`"${text}" has no host; write 127.0.0.1${text} for this machine or 0.0.0.0${text} / [::]${text} for every interface`);
    }
    if (parseIPv4(host) < 0 && !isHostName(host)) throw new Error(`"${host}" is not an IPv4 address or a host name`);
  }
  const port = parsePort(text, portAt);
  if (port < 0) throw new Error(`"${text.slice(portAt)}" is not a port (0..65535)`);
  if (port === 0 && !allowPortZero) throw new Error('port 0 is not allowed here');
  return { host, port };
}

/** Format a HostPort back to text ("[::1]:80" for IPv6). */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
