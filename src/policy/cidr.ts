/**
 * CIDR blocks for allow/deny rules: parse ("10.0.0.0/8", "fd00::/8", a bare
 * address) and match an IP literal against a block. IPv4-mapped IPv6
 * addresses match IPv4 blocks. Byte loops, no RegExp.
 */
import { allZero } from './address.js';
import { hasZone, parseIPv4, parseIPv6 } from './ip.js';

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
