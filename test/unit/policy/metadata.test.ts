/**
 * The cloud metadata addresses: one list in src/policy/address.ts, each one
 * 'metadata' (denied even with allowPrivateDestinations) in every spelling the
 * classifier reads an embedded IPv4 from, and nothing around them touched.
 */
import { describe, expect, it } from 'vitest';
import { classifyAddress, isAlwaysDeniedClass, METADATA_ADDRESSES, type AddressClass } from '../../../src/policy/address.js';

describe('cloud metadata addresses', () => {
  it('are the six known endpoints, in one list', () => {
    expect([...METADATA_ADDRESSES].sort()).toEqual(['100.100.100.200', '168.63.129.16', '169.254.169.254', '169.254.170.2', '192.0.0.192', 'fd00:ec2::254'].sort());
  });

  // Each address and its neighbours: only the address itself changes class.
  const TABLE: [string, AddressClass][] = [
    ['169.254.169.253', 'link-local'],
    ['169.254.169.254', 'metadata'], // AWS / GCP / Azure / OpenStack IMDS
    ['169.254.169.255', 'link-local'],
    ['169.254.170.1', 'link-local'],
    ['169.254.170.2', 'metadata'], // AWS ECS task credentials
    ['169.254.170.3', 'link-local'],
    ['100.100.100.199', 'cgnat'],
    ['100.100.100.200', 'metadata'], // Alibaba Cloud
    ['100.100.100.201', 'cgnat'],
    ['168.63.129.15', 'public'],
    ['168.63.129.16', 'metadata'], // Azure wireserver
    ['168.63.129.17', 'public'],
    ['192.0.0.191', 'reserved'],
    ['192.0.0.192', 'metadata'], // Oracle Cloud
    ['192.0.0.193', 'reserved'],
    ['fd00:ec2::253', 'ula'],
    ['fd00:ec2::254', 'metadata'], // AWS IMDS over IPv6
    ['fd00:ec2::255', 'ula'],
    ['fd00:ec2::1:254', 'ula'],
  ];
  it.each(TABLE)('%s is %s', (ip, cls) => {
    expect(classifyAddress(ip)).toBe(cls);
  });

  const V4 = METADATA_ADDRESSES.filter((a) => !a.includes(':'));
  const hex = (v4: string) => {
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
    return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  };
  const SPELLINGS: Array<[string, (v4: string) => string]> = [
    ['IPv4-mapped, dotted', (v4) => `::ffff:${v4}`],
    ['IPv4-mapped, hex', (v4) => `::ffff:${hex(v4)}`],
    ['SIIT translated', (v4) => `::ffff:0:${v4}`],
    ['IPv4-compatible', (v4) => `::${v4}`],
    ['NAT64 well-known prefix, dotted', (v4) => `64:ff9b::${v4}`],
    ['NAT64 well-known prefix, hex', (v4) => `64:ff9b::${hex(v4)}`],
    ['6to4', (v4) => `2002:${hex(v4)}::1`],
  ];
  for (const [spelling, spell] of SPELLINGS) {
    it.each(V4)(`%s is metadata in its ${spelling} spelling`, (v4) => {
      expect(classifyAddress(spell(v4))).toBe('metadata');
    });
  }

  it('keeps every entry denied with allowPrivateDestinations', () => {
    for (const a of METADATA_ADDRESSES) expect(isAlwaysDeniedClass(classifyAddress(a)), a).toBe(true);
  });

  it('does not reach into the neighbours through the other spellings', () => {
    expect(classifyAddress('::ffff:100.100.100.201')).toBe('cgnat');
    expect(classifyAddress('64:ff9b::168.63.129.17')).toBe('public');
    expect(classifyAddress('::ffff:169.254.170.3')).toBe('link-local');
  });
});
