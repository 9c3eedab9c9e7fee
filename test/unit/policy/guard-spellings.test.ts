/**
 * The destination guard against every spelling of a private address: host
 * normalisation (dns/name.ts) either refuses the spelling or turns it into an
 * IP literal, and decideAddresses(false, …) — the default policy — must then
 * refuse whatever would be dialled. A fast-check property compares the guard
 * with a reference written here from the IANA IPv4 and IPv6 Special-Purpose
 * Address Registries (RFC 6890 and updates), with dfp's differences from the
 * registries listed explicitly in DFP_DIFFERENCES.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeHost } from '../../../src/dns/name.js';
import { ProxyError } from '../../../src/errors.js';
import { classifyAddress, type AddressClass } from '../../../src/policy/address.js';
import { decideAddresses, isDenial } from '../../../src/policy/decision.js';
import { checkProperty } from '../../helpers/property.js';

type Outcome = { refused: string } | { address: string; family: 4 | 6; cls: AddressClass };

function outcomeOf(raw: string): Outcome {
  try {
    const t = normalizeHost(raw);
    if (t.kind === 'name') throw new Error(`${raw} normalised to the name ${t.name}`);
    return { address: t.address, family: t.family, cls: classifyAddress(t.address, t.family) };
  } catch (err) {
    if (!(err instanceof ProxyError)) throw err;
    expect(err.code).toBe('REQUEST_MALFORMED');
    return { refused: err.detail! };
  }
}

const AMBIGUOUS = { refused: 'HOST_AMBIGUOUS_IPV4' };
const BAD_IPV6 = { refused: 'HOST_BAD_IPV6' };
const ip = (address: string, family: 4 | 6, cls: AddressClass): Outcome => ({ address, family, cls });

/**
 * [what the spelling is, host text, what normalizeHost does, the address the spelling means to
 * inet_aton / WHATWG (what a lax resolver would dial)].
 */
const SPELLINGS: Array<[string, string, Outcome, string]> = [
  // 127.0.0.1
  ['loopback, dotted quad', '127.0.0.1', ip('127.0.0.1', 4, 'loopback'), '127.0.0.1'],
  ['loopback, 32-bit decimal', '2130706433', AMBIGUOUS, '127.0.0.1'],
  ['loopback, octal', '0177.0.0.1', AMBIGUOUS, '127.0.0.1'],
  ['loopback, octal in every part', '0177.00.00.01', AMBIGUOUS, '127.0.0.1'],
  ['loopback, hex first part', '0x7f.0.0.1', AMBIGUOUS, '127.0.0.1'],
  ['loopback, 32-bit hex', '0x7f000001', AMBIGUOUS, '127.0.0.1'],
  ['loopback, 32-bit hex upper case', '0X7F000001', AMBIGUOUS, '127.0.0.1'],
  ['loopback, short form', '127.1', AMBIGUOUS, '127.0.0.1'],
  ['loopback, three parts', '127.0.1', AMBIGUOUS, '127.0.0.1'],
  ['loopback, trailing dot', '127.0.0.1.', ip('127.0.0.1', 4, 'loopback'), '127.0.0.1'],
  ['loopback, 32-bit decimal with a trailing dot', '2130706433.', AMBIGUOUS, '127.0.0.1'],
  ['loopback, hex with a trailing dot', '0x7f.0.0.1.', AMBIGUOUS, '127.0.0.1'],
  ['loopback, IPv4-mapped dotted', '::ffff:127.0.0.1', ip('::ffff:127.0.0.1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, IPv4-mapped dotted in brackets', '[::ffff:127.0.0.1]', ip('::ffff:127.0.0.1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, IPv4-mapped hex', '::ffff:7f00:1', ip('::ffff:127.0.0.1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, IPv4-mapped hex in full', '[0:0:0:0:0:FFFF:7F00:0001]', ip('::ffff:127.0.0.1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, IPv4-compatible (deprecated)', '[::127.0.0.1]', ip('::7f00:1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, SIIT translated', '[::ffff:0:7f00:1]', ip('::ffff:0:7f00:1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, NAT64 hex', '64:ff9b::7f00:1', ip('64:ff9b::7f00:1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, NAT64 dotted', '[64:ff9b::127.0.0.1]', ip('64:ff9b::7f00:1', 6, 'loopback'), '127.0.0.1'],
  ['loopback, 6to4', '2002:7f00:1::', ip('2002:7f00:1::', 6, 'loopback'), '127.0.0.1'],
  ['loopback, 6to4 with an interface id', '[2002:7f00:1::abcd]', ip('2002:7f00:1::abcd', 6, 'loopback'), '127.0.0.1'],
  ['loopback, full-width digits (UTS 46 maps them)', '１２７.０.０.１', ip('127.0.0.1', 4, 'loopback'), '127.0.0.1'],
  ['loopback, full-width short form (URL host parser reads it)', '１２７.１', ip('127.0.0.1', 4, 'loopback'), '127.0.0.1'],
  ['loopback, full-width octal (URL host parser reads it)', '０１７７.０.０.１', ip('127.0.0.1', 4, 'loopback'), '127.0.0.1'],
  ['loopback, full-width hex (URL host parser reads it)', '０ｘ７ｆ.０.０.１', ip('127.0.0.1', 4, 'loopback'), '127.0.0.1'],
  // 10.0.0.1
  ['RFC 1918, dotted quad', '10.0.0.1', ip('10.0.0.1', 4, 'private'), '10.0.0.1'],
  ['RFC 1918, 32-bit decimal', '167772161', AMBIGUOUS, '10.0.0.1'],
  ['RFC 1918, octal', '012.0.0.1', AMBIGUOUS, '10.0.0.1'],
  ['RFC 1918, hex first part', '0xa.0.0.1', AMBIGUOUS, '10.0.0.1'],
  ['RFC 1918, 32-bit hex', '0x0a000001', AMBIGUOUS, '10.0.0.1'],
  ['RFC 1918, short form', '10.1', AMBIGUOUS, '10.0.0.1'],
  ['RFC 1918, trailing dot', '10.0.0.1.', ip('10.0.0.1', 4, 'private'), '10.0.0.1'],
  ['RFC 1918, IPv4-mapped dotted', '[::ffff:10.0.0.1]', ip('::ffff:10.0.0.1', 6, 'private'), '10.0.0.1'],
  ['RFC 1918, IPv4-mapped hex', '[::ffff:a00:1]', ip('::ffff:10.0.0.1', 6, 'private'), '10.0.0.1'],
  ['RFC 1918, NAT64', '64:ff9b::a00:1', ip('64:ff9b::a00:1', 6, 'private'), '10.0.0.1'],
  ['RFC 1918, 6to4', '[2002:a00:1::]', ip('2002:a00:1::', 6, 'private'), '10.0.0.1'],
  // 169.254.169.254
  ['metadata, dotted quad', '169.254.169.254', ip('169.254.169.254', 4, 'metadata'), '169.254.169.254'],
  ['metadata, 32-bit decimal', '2852039166', AMBIGUOUS, '169.254.169.254'],
  ['metadata, octal', '0251.0376.0251.0376', AMBIGUOUS, '169.254.169.254'],
  ['metadata, hex parts', '0xa9.0xfe.0xa9.0xfe', AMBIGUOUS, '169.254.169.254'],
  ['metadata, 32-bit hex', '0xa9fea9fe', AMBIGUOUS, '169.254.169.254'],
  ['metadata, short form', '169.254.43518', AMBIGUOUS, '169.254.169.254'],
  ['metadata, trailing dot', '169.254.169.254.', ip('169.254.169.254', 4, 'metadata'), '169.254.169.254'],
  ['metadata, IPv4-mapped dotted', '::ffff:169.254.169.254', ip('::ffff:169.254.169.254', 6, 'metadata'), '169.254.169.254'],
  ['metadata, IPv4-mapped hex', '[::ffff:a9fe:a9fe]', ip('::ffff:169.254.169.254', 6, 'metadata'), '169.254.169.254'],
  ['metadata, NAT64', '[64:ff9b::a9fe:a9fe]', ip('64:ff9b::a9fe:a9fe', 6, 'metadata'), '169.254.169.254'],
  ['metadata, 6to4', '2002:a9fe:a9fe::', ip('2002:a9fe:a9fe::', 6, 'metadata'), '169.254.169.254'],
  // 192.168.1.1
  ['RFC 1918 /16, dotted quad', '192.168.1.1', ip('192.168.1.1', 4, 'private'), '192.168.1.1'],
  ['RFC 1918 /16, 32-bit decimal', '3232235777', AMBIGUOUS, '192.168.1.1'],
  ['RFC 1918 /16, octal', '0300.0250.01.01', AMBIGUOUS, '192.168.1.1'],
  ['RFC 1918 /16, hex first part', '0xc0.168.1.1', AMBIGUOUS, '192.168.1.1'],
  ['RFC 1918 /16, 32-bit hex', '0xc0a80101', AMBIGUOUS, '192.168.1.1'],
  ['RFC 1918 /16, short form', '192.168.257', AMBIGUOUS, '192.168.1.1'],
  ['RFC 1918 /16, trailing dot', '192.168.1.1.', ip('192.168.1.1', 4, 'private'), '192.168.1.1'],
  ['RFC 1918 /16, IPv4-mapped hex', '::ffff:c0a8:101', ip('::ffff:192.168.1.1', 6, 'private'), '192.168.1.1'],
  ['RFC 1918 /16, NAT64', '64:ff9b::c0a8:101', ip('64:ff9b::c0a8:101', 6, 'private'), '192.168.1.1'],
  ['RFC 1918 /16, 6to4', '2002:c0a8:101::', ip('2002:c0a8:101::', 6, 'private'), '192.168.1.1'],
  // IPv6 zones, loopback, unspecified
  ['link-local with a bare zone id', 'fe80::1%eth0', BAD_IPV6, 'fe80::1'],
  ['link-local with a percent-encoded zone id', '[fe80::1%25eth0]', BAD_IPV6, 'fe80::1'],
  ['link-local with a raw zone id in brackets', '[fe80::1%eth0]', BAD_IPV6, 'fe80::1'],
  ['loopback with a zone id', '[::1%lo]', BAD_IPV6, '::1'],
  ['IPv6 loopback', '[::1]', ip('::1', 6, 'loopback'), '::1'],
  ['IPv6 loopback in full', '[0:0:0:0:0:0:0:1]', ip('::1', 6, 'loopback'), '::1'],
  ['IPv6 link-local', '[fe80::1]', ip('fe80::1', 6, 'link-local'), 'fe80::1'],
  ['IPv6 ULA', '[fd00::1]', ip('fd00::1', 6, 'ula'), 'fd00::1'],
  ['IPv6 metadata (AWS)', '[fd00:ec2::254]', ip('fd00:ec2::254', 6, 'metadata'), 'fd00:ec2::254'],
  ['IPv4 unspecified', '0.0.0.0', ip('0.0.0.0', 4, 'unspecified'), '0.0.0.0'],
  ['IPv4 unspecified with a trailing dot', '0.0.0.0.', ip('0.0.0.0', 4, 'unspecified'), '0.0.0.0'],
  ['IPv4 unspecified as one number', '0', AMBIGUOUS, '0.0.0.0'],
  ['IPv4 unspecified in hex', '0x0', AMBIGUOUS, '0.0.0.0'],
  ['IPv6 unspecified', '::', ip('::', 6, 'unspecified'), '::'],
  ['IPv6 unspecified in brackets', '[::]', ip('::', 6, 'unspecified'), '::'],
  ['IPv6 unspecified, mapped', '[::ffff:0.0.0.0]', ip('::ffff:0.0.0.0', 6, 'unspecified'), '0.0.0.0'],
];

describe('every spelling of a private destination is refused by normalizeHost or denied by the default policy', () => {
  it.each(SPELLINGS)('%s (%s)', (_what, raw, expected, means) => {
    const got = outcomeOf(raw);
    expect(got).toEqual(expected);
    // What would be dialled: the literal normalizeHost produced; nothing when it refused.
    if ('address' in got) {
      expect(got.cls).not.toBe('public');
      const decision = decideAddresses(false, [{ address: got.address, family: got.family }]);
      expect(isDenial(decision)).toBe(true);
      if (!isDenial(decision)) return;
      expect(decision.code).toBe('DESTINATION_DENIED');
      expect(decision.reason).toBe(got.cls === 'metadata' ? 'metadata_destination' : 'private_destination');
      expect(decision.detail).toBe(`${got.address} is ${got.cls}`);
    }
    // And what the spelling means to a lax resolver is denied too (defence in depth).
    const meant = decideAddresses(false, [{ address: means }]);
    expect(isDenial(meant), means).toBe(true);
  });
});

describe('a name with several addresses', () => {
  const d = (addresses: string[]) => decideAddresses(false, addresses.map((address) => ({ address })));

  it('dials only the public addresses of a name mixing public and private ones, in order', () => {
    expect(d(['10.0.0.1', '93.184.216.34', '127.0.0.1', '2606:2800:220:1::1', 'fd00::1'])).toEqual([
      { address: '93.184.216.34' },
      { address: '2606:2800:220:1::1' },
    ]);
  });

  it('denies a name whose addresses are all private, naming the first refused one', () => {
    expect(d(['127.0.0.1', '10.0.0.1', 'fd00::1'])).toMatchObject({ reason: 'private_destination', code: 'DESTINATION_DENIED', detail: '127.0.0.1 is loopback', rule: 'default: private destinations' });
  });

  it('names a metadata address first wherever it comes in the answer', () => {
    expect(d(['10.0.0.1', '::ffff:127.0.0.1', '169.254.169.254'])).toMatchObject({ reason: 'metadata_destination', detail: '169.254.169.254 is metadata', rule: 'default: cloud metadata' });
  });

  it('denies embedded spellings mixed in an answer', () => {
    expect(isDenial(d(['::ffff:10.0.0.1', '64:ff9b::7f00:1', '2002:a9fe:a9fe::1']))).toBe(true);
  });

  it('denies an empty answer', () => {
    expect(d([])).toMatchObject({ reason: 'private_destination', detail: 'no address' });
  });
});

// ---------------------------------------------------------------------------
// Reference: the IANA special-purpose registries, written independently of dfp.
// ---------------------------------------------------------------------------

/** IPv4 range: base as dotted quad, prefix length, whether the registry calls it globally reachable. */
type V4Range = readonly [string, number, boolean, string];
type V6Range = readonly [string, number, boolean, string];

function v4num(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

function v6big(text: string): bigint {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head === '' ? [] : head!.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

const v4In = (a: number, base: string, len: number) => len === 0 || a >>> (32 - len) === v4num(base) >>> (32 - len);
const v6In = (a: bigint, base: string, len: number) => a >> BigInt(128 - len) === v6big(base) >> BigInt(128 - len);

/**
 * IANA IPv4 Special-Purpose Address Registry (RFC 6890, 7335, 7526, 7600, 8155, 8880, 9637 …) and the
 * IPv4 Multicast registry, most specific first. "Globally reachable" is the registry's column; N/A and
 * deprecated entries count as not reachable.
 */
const IANA_V4: V4Range[] = [
  ['192.0.0.9', 32, true, 'Port Control Protocol anycast (RFC 7723)'],
  ['192.0.0.10', 32, true, 'TURN anycast (RFC 8155)'],
  ['0.0.0.0', 8, false, '"this network" (0.0.0.0/32 "this host")'],
  ['10.0.0.0', 8, false, 'private-use'],
  ['100.64.0.0', 10, false, 'shared address space (CGN)'],
  ['127.0.0.0', 8, false, 'loopback'],
  ['169.254.0.0', 16, false, 'link local'],
  ['172.16.0.0', 12, false, 'private-use'],
  ['192.0.0.0', 24, false, 'IETF protocol assignments (incl. DS-Lite 192.0.0.0/29, NAT64 discovery .170/.171)'],
  ['192.0.2.0', 24, false, 'TEST-NET-1'],
  ['192.31.196.0', 24, true, 'AS112-v4'],
  ['192.52.193.0', 24, true, 'AMT'],
  ['192.88.99.0', 24, false, 'deprecated 6to4 relay anycast (RFC 7526)'],
  ['192.168.0.0', 16, false, 'private-use'],
  ['192.175.48.0', 24, true, 'direct delegation AS112 service'],
  ['198.18.0.0', 15, false, 'benchmarking'],
  ['198.51.100.0', 24, false, 'TEST-NET-2'],
  ['203.0.113.0', 24, false, 'TEST-NET-3'],
  ['224.0.0.0', 4, false, 'multicast (IPv4 Multicast Address Space registry)'],
  ['255.255.255.255', 32, false, 'limited broadcast'],
  ['240.0.0.0', 4, false, 'reserved'],
];

/**
 * IANA IPv6 Special-Purpose Address Registry, most specific first. Blocks that carry an IPv4 address
 * (::ffff:0:0/96, 64:ff9b::/96, 2002::/16) are decided by the embedded IPv4 instead (EMBEDDING below).
 * Space outside 2000::/3 that no entry names is not global unicast (IANA IPv6 Address Space registry):
 * not reachable.
 */
const IANA_V6: V6Range[] = [
  ['::', 128, false, 'unspecified'],
  ['::1', 128, false, 'loopback'],
  ['64:ff9b:1::', 48, false, 'local-use IPv4/IPv6 translation'],
  ['100::', 64, false, 'discard-only'],
  ['2001:1::1', 128, true, 'PCP anycast'],
  ['2001:1::2', 128, true, 'TURN anycast'],
  ['2001:1::3', 128, true, 'DNS-SD SRP anycast'],
  ['2001:2::', 48, false, 'benchmarking'],
  ['2001:3::', 32, true, 'AMT'],
  ['2001:4:112::', 48, true, 'AS112-v6'],
  ['2001:10::', 28, false, 'deprecated ORCHID'],
  ['2001:20::', 28, true, 'ORCHIDv2'],
  ['2001:30::', 28, true, 'drone remote ID'],
  ['2001::', 32, false, 'Teredo (N/A)'],
  ['2001::', 23, false, 'IETF protocol assignments'],
  ['2001:db8::', 32, false, 'documentation'],
  ['2620:4f:8000::', 48, true, 'direct delegation AS112 service'],
  ['3fff::', 20, false, 'documentation'],
  ['5f00::', 16, false, 'segment routing SIDs'],
  ['fc00::', 7, false, 'unique local'],
  ['fe80::', 10, false, 'link-local unicast'],
  ['ff00::', 8, false, 'multicast (IPv6 Multicast Address Space registry)'],
  ['2000::', 3, true, 'global unicast (IPv6 Address Space registry)'],
  ['::', 0, false, 'outside 2000::/3: not global unicast'],
];

/** Blocks decided by the IPv4 address they carry: [base, length, bit offset of the IPv4 address]. */
const EMBEDDING: Array<readonly [string, number, number, string]> = [
  ['::ffff:0:0', 96, 96, 'IPv4-mapped'],
  ['64:ff9b::', 96, 96, 'NAT64 well-known prefix'],
  ['2002::', 16, 16, '6to4'],
];

/**
 * Where dfp deliberately differs from the registries. Each entry: the range, what dfp does (may it be
 * dialled by default?) and why. Checked before the registry, most specific first.
 */
const DFP_DIFFERENCES_V4: Array<readonly [string, number, boolean, string]> = [
  ['168.63.129.16', 32, false, 'Azure wireserver: a public address that dfp treats as cloud metadata'],
  ['192.0.0.9', 32, false, 'dfp refuses all of 192.0.0.0/24 (registry: PCP anycast, globally reachable)'],
  ['192.0.0.10', 32, false, 'dfp refuses all of 192.0.0.0/24 (registry: TURN anycast, globally reachable)'],
];
const DFP_DIFFERENCES_V6: Array<readonly [string, number, boolean | 'embedded', string]> = [
  ['::', 96, 'embedded', 'IPv4-compatible ::a.b.c.d (deprecated, RFC 4291): dfp classifies by the embedded IPv4 (registry: outside 2000::/3)'],
  ['::ffff:0:0:0', 96, 'embedded', 'SIIT translated ::ffff:0:a.b.c.d (RFC 2765): dfp classifies by the embedded IPv4 (registry: outside 2000::/3)'],
  ['2001:20::', 28, false, 'ORCHIDv2: dfp refuses it (registry: globally reachable)'],
  ['2001:10::', 28, true, 'deprecated ORCHID: dfp treats as public (registry: not reachable)'],
  ['2001:2::', 48, false, 'benchmarking (agrees; listed so the /23 rule below does not shadow it)'],
  ['2001::', 32, false, 'Teredo (agrees)'],
  ['2001::', 23, true, 'IETF protocol assignments not otherwise named: dfp treats as public (registry: not reachable)'],
];

function registryV4(a: number): boolean {
  for (const [base, len, reachable] of IANA_V4) if (v4In(a, base, len)) return reachable;
  return true;
}

function expectedV4(a: number): boolean {
  for (const [base, len, dialled] of DFP_DIFFERENCES_V4) if (v4In(a, base, len)) return dialled;
  return registryV4(a);
}

const embedded = (a: bigint, offset: number) => Number((a >> BigInt(128 - offset - 32)) & 0xffffffffn);
const AWS_METADATA_V6 = v6big('fd00:ec2::254');

function registryV6(a: bigint): boolean {
  for (const [base, len, offset] of EMBEDDING) if (v6In(a, base, len)) return registryV4(embedded(a, offset));
  for (const [base, len, reachable] of IANA_V6) if (v6In(a, base, len)) return reachable;
  return true;
}

function expectedV6(a: bigint): boolean {
  if (a === AWS_METADATA_V6) return false; // dfp: metadata (inside fc00::/7 anyway)
  if (a === 0n || a === 1n) return false; // :: and ::1 come before the ::/96 difference
  for (const [base, len, offset] of EMBEDDING) if (v6In(a, base, len)) return expectedV4(embedded(a, offset));
  for (const [base, len, dialled] of DFP_DIFFERENCES_V6) {
    if (!v6In(a, base, len)) continue;
    return dialled === 'embedded' ? expectedV4(embedded(a, 96)) : dialled;
  }
  return registryV6(a);
}

// Text forms, written without dfp's formatter.
const v4text = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
function v6groups(a: bigint): string[] {
  const g: string[] = [];
  for (let k = 7; k >= 0; k--) g.push(((a >> BigInt(16 * k)) & 0xffffn).toString(16));
  return g;
}
type V6Style = 'full' | 'url' | 'dotted' | 'upper';
function v6text(a: bigint, style: V6Style): string {
  const g = v6groups(a);
  if (style === 'dotted') return `${g.slice(0, 6).join(':')}:${v4text(Number(a & 0xffffffffn))}`;
  if (style === 'upper') return g.map((x) => x.padStart(4, '0').toUpperCase()).join(':');
  if (style === 'url') return new URL(`http://[${g.join(':')}]/`).hostname.slice(1, -1);
  return g.join(':');
}

const dialled = (address: string, family: 4 | 6) => !isDenial(decideAddresses(false, [{ address, family }]));

describe('the differences from the registries are what dfp does', () => {
  const cases: Array<[string, boolean, boolean]> = [
    // [address, registry says globally reachable, dfp dials it by default]
    ['168.63.129.16', true, false],
    ['192.0.0.9', true, false],
    ['192.0.0.10', true, false],
    ['::8.8.8.8', false, true],
    ['::ffff:0:8.8.8.8', false, true],
    ['2001:20::1', true, false],
    ['2001:10::1', false, true],
    ['2001:5::1', false, true],
    ['2001:1::4', false, true],
    ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', false, true],
  ];
  it.each(cases)('%s: registry reachable %s, dfp dials %s', (address, registry, dfp) => {
    const family = address.includes(':') ? 6 : 4;
    expect(family === 4 ? registryV4(v4num(address)) : registryV6(v6big(normalizeV6(address)))).toBe(registry);
    expect(dialled(address, family)).toBe(dfp);
  });
});

/** Expand a dotted tail for v6big (the reference parser reads groups only). */
function normalizeV6(text: string): string {
  const dot = text.lastIndexOf(':');
  const tail = text.slice(dot + 1);
  if (!tail.includes('.')) return text;
  const n = v4num(tail);
  return `${text.slice(0, dot + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
}

// ---------------------------------------------------------------------------
// Property: the guard agrees with the reference.
// ---------------------------------------------------------------------------

const BUDGET = { numRuns: 4_000, timeMs: 5_000, floor: 500 };

const v4ranges: Array<readonly [string, number]> = [...IANA_V4, ...DFP_DIFFERENCES_V4].map(([b, l]) => [b, l] as const);
const anyV4 = fc.integer({ min: 0, max: 0xffffffff });
/** An address in, at the edge of, or just outside a special range. */
const specialV4 = fc
  .tuple(fc.constantFrom(...v4ranges), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('inside', 'first', 'last', 'before', 'after'))
  .map(([[base, len], r, where]) => {
    const size = 2 ** (32 - len);
    const start = v4num(base);
    const at = { inside: start + (r % size), first: start, last: start + size - 1, before: start - 1, after: start + size }[where];
    return ((at % 2 ** 32) + 2 ** 32) % 2 ** 32;
  });
const v4gen = fc.oneof(anyV4, specialV4);

const v6ranges: Array<readonly [string, number]> = [...IANA_V6, ...DFP_DIFFERENCES_V6, ...EMBEDDING].map(([b, l]) => [b, l] as const);
const rand128 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
const specialV6 = fc.tuple(fc.constantFrom(...v6ranges), rand128, fc.constantFrom('inside', 'first', 'last')).map(([[base, len], r, where]) => {
  const host = len === 128 ? 0n : (1n << BigInt(128 - len)) - 1n;
  const start = v6big(base);
  return { inside: start | (r & host), first: start, last: start | host }[where];
});
/** IPv4 (biased to the special ranges) carried in each embedding dfp knows. */
const embeddedV6 = fc.tuple(v4gen, fc.constantFrom('mapped', 'nat64', '6to4', 'compatible', 'translated'), rand128).map(([v4, form, r]) => {
  const v = BigInt(v4);
  switch (form) {
    case 'mapped':
      return (0xffffn << 32n) | v;
    case 'nat64':
      return (v6big('64:ff9b::') | v);
    case '6to4':
      return v6big('2002::') | (v << 80n) | (r & ((1n << 80n) - 1n));
    case 'compatible':
      return v;
    case 'translated':
      return (0xffffn << 48n) | v;
  }
});
const v6gen = fc.tuple(fc.oneof(rand128, specialV6, embeddedV6), fc.constantFrom<V6Style>('full', 'url', 'dotted', 'upper'));

describe('the guard agrees with the IANA special-purpose registries (and the listed differences)', () => {
  it(`IPv4: allowed by default iff the reference says public (${BUDGET.numRuns} runs, floor ${BUDGET.floor})`, () => {
    checkProperty(
      fc.property(v4gen, (a) => {
        const text = v4text(a);
        expect(dialled(text, 4), text).toBe(expectedV4(a));
        // Every other spelling of the same address agrees with the dotted quad.
        expect(dialled(`::ffff:${text}`, 6), `::ffff:${text}`).toBe(expectedV4(a));
      }),
      BUDGET,
    );
  });

  it(`IPv6: allowed by default iff the reference says public (${BUDGET.numRuns} runs, floor ${BUDGET.floor})`, () => {
    checkProperty(
      fc.property(v6gen, ([a, style]) => {
        const text = v6text(a, style);
        expect(dialled(text, 6), text).toBe(expectedV6(a));
        // Host normalisation keeps the address (bracketed, as in a request) and the verdict.
        const t = normalizeHost(`[${text}]`);
        expect(t.kind === 'ip' && dialled(t.address, 6), text).toBe(expectedV6(a));
      }),
      BUDGET,
    );
  });

  it('the fixed regressions of the property still hold', () => {
    // Boundaries the generators aim at, kept as plain cases.
    for (const [text, want] of [
      ['100.63.255.255', true], ['100.64.0.0', false], ['100.127.255.255', false], ['100.128.0.0', true],
      ['172.15.255.255', true], ['172.32.0.0', true], ['192.88.98.255', true], ['192.88.100.0', true],
      ['198.17.255.255', true], ['198.20.0.0', true], ['223.255.255.255', true], ['255.255.255.255', false],
    ] as const) {
      expect(dialled(text, 4), text).toBe(want);
      expect(expectedV4(v4num(text)), text).toBe(want);
    }
  });
});
