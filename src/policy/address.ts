/**
 * Pure address classification: which kind of destination an IP literal is.
 * Literals are read by ip.ts (the one IP parser, shared with host
 * normalisation in dns/name.ts) into a reused 16-byte buffer. Called once per
 * dial on the address that will be dialled.
 *
 * Classes and the policy meaning (enforced by the proxy, not here):
 * - 'public'       allowed by default; the only class isPrivateClass() is false for.
 * - 'loopback' | 'private' (RFC 1918) | 'link-local' | 'cgnat' | 'ula' | 'reserved'
 *                  denied unless access.allowPrivateDestinations. 'reserved' covers
 *                  0/8, 240/4 and broadcast, the documentation and benchmarking
 *                  ranges, IETF protocol assignments, Teredo, local-use NAT64,
 *                  site-local and IPv6 outside 2000::/3 not named above.
 * - 'metadata'     cloud instance metadata and credential endpoints (METADATA_ADDRESSES),
 *                  'unspecified' (0.0.0.0 / :: reach this host), 'multicast' and
 *                  'invalid' (not an IP literal: fail closed) are denied even with
 *                  allowPrivateDestinations (isAlwaysDeniedClass); metadata only when a rule
 *                  names that exact address in access.allow (policy/access-policy.ts).
 *
 * IPv6 forms that carry an IPv4 address are classified by the embedded IPv4:
 * mapped ::ffff:0:0/96, translated ::ffff:0:0:0/96, compatible ::/96,
 * NAT64 well-known prefix 64:ff9b::/96 and 6to4 2002::/16.
 */

import { parseIPv4, parseIPv6 } from './ip.js';

/** The IP parser lives in ip.ts; these names stay importable from here. */
export { hasZone, parseIPv4, parseIPv6 } from './ip.js';

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

/** Denied even with access.allowPrivateDestinations (metadata: unless an allow rule names the address). */
export function isAlwaysDeniedClass(c: AddressClass): boolean {
  return c === 'metadata' || c === 'unspecified' || c === 'multicast' || c === 'invalid';
}

/**
 * Cloud instance-metadata and credential endpoints: class 'metadata', denied
 * even with allowPrivateDestinations. Each IPv4 entry is also metadata in every
 * IPv6 spelling that embeds it (mapped, translated, compatible, NAT64, 6to4),
 * since those are classified by the embedded IPv4.
 */
export const METADATA_ADDRESSES: readonly string[] = [
  '169.254.169.254', // AWS, GCP, Azure, OpenStack, DigitalOcean instance metadata
  '169.254.170.2', // AWS ECS task credentials
  '100.100.100.200', // Alibaba Cloud metadata
  '168.63.129.16', // Azure wireserver
  '192.0.0.192', // Oracle Cloud metadata
  'fd00:ec2::254', // AWS instance metadata over IPv6
];

const scratch = new Uint8Array(16);

/** METADATA_ADDRESSES parsed once at load: IPv4 as numbers, IPv6 as 16 bytes each (back to back). */
const METADATA_V4: number[] = [];
const METADATA_V6: number[] = [];
for (const text of METADATA_ADDRESSES) {
  const v4 = parseIPv4(text);
  if (v4 >= 0) METADATA_V4.push(v4);
  else if (parseIPv6(text, scratch)) METADATA_V6.push(...scratch);
  else throw new Error(`METADATA_ADDRESSES: ${text} is not an IP address`);
}

function isMetadataV4(v4: number): boolean {
  for (let k = 0; k < METADATA_V4.length; k++) if (METADATA_V4[k] === v4) return true;
  return false;
}

function isMetadataV6(b: Uint8Array): boolean {
  for (let at = 0; at < METADATA_V6.length; at += 16) {
    let same = true;
    for (let k = 0; k < 16 && same; k++) same = b[k] === METADATA_V6[at + k];
    if (same) return true;
  }
  return false;
}

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
  if (isMetadataV4(v4)) return 'metadata';
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
      return b === 254 ? 'link-local' : 'public'; // 169.254.0.0/16
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
  if (isMetadataV6(b)) return 'metadata';
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
  if ((b0 & 0xfe) === 0xfc) return 'ula'; // fc00::/7
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

export function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

function embeddedV4(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * The IPv4 address an IPv6 literal carries in the forms classified by it (mapped, translated, compatible,
 * NAT64 well-known prefix, 6to4), as dotted text; null for an IPv4 literal, any other IPv6 address, `::`
 * and `::1`. Access rules match such an address by its IPv4 too, so `deny: [10.0.0.0/8]` also refuses
 * `64:ff9b::a00:1`, which a NAT64 gateway would carry to 10.0.0.1.
 */
export function embeddedIPv4(ip: string): string | null {
  if (parseIPv4(ip) >= 0 || !parseIPv6(ip, scratch)) return null;
  const b = scratch;
  let at = -1;
  if (b[0] === 0 && b[1] === 0) {
    if (allZero(b, 2, 10) && ((b[10] === 0xff && b[11] === 0xff) || (b[10] === 0 && b[11] === 0 && !(allZero(b, 12, 15) && b[15]! <= 1)))) at = 12;
    else if (allZero(b, 2, 8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0) at = 12;
  } else if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && allZero(b, 4, 12)) at = 12;
  else if (b[0] === 0x20 && b[1] === 0x02) at = 2;
  if (at < 0) return null;
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}
