import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifyAddress, isAlwaysDeniedClass, isPrivateClass, parseIPv4, parseIPv6, type AddressClass } from '../../../src/policy/address.js';
import { cidrContains, parseCidr, tryParseCidr } from '../../../src/policy/cidr.js';
import { isHostName, parseHostPort } from '../../../src/policy/host-port.js';

// Boundary tables: first and last address of each range and the neighbours just outside.
const V4: [string, AddressClass][] = [
  ['0.0.0.0', 'unspecified'],
  ['0.0.0.1', 'reserved'],
  ['0.255.255.255', 'reserved'],
  ['1.0.0.0', 'public'],
  ['9.255.255.255', 'public'],
  ['10.0.0.0', 'private'],
  ['10.255.255.255', 'private'],
  ['11.0.0.0', 'public'],
  ['100.63.255.255', 'public'],
  ['100.64.0.0', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.0', 'public'],
  ['126.255.255.255', 'public'],
  ['127.0.0.0', 'loopback'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.255', 'loopback'],
  ['128.0.0.0', 'public'],
  ['169.253.255.255', 'public'],
  ['169.254.0.0', 'link-local'],
  ['169.254.169.253', 'link-local'],
  ['169.254.169.254', 'metadata'],
  ['169.254.169.255', 'link-local'],
  ['169.254.255.255', 'link-local'],
  ['169.255.0.0', 'public'],
  ['172.15.255.255', 'public'],
  ['172.16.0.0', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.0', 'public'],
  ['191.255.255.255', 'public'],
  ['192.0.0.0', 'reserved'],
  ['192.0.0.255', 'reserved'],
  ['192.0.1.0', 'public'],
  ['192.0.2.0', 'reserved'],
  ['192.0.2.255', 'reserved'],
  ['192.0.3.0', 'public'],
  ['192.88.98.255', 'public'],
  ['192.88.99.0', 'reserved'],
  ['192.88.99.255', 'reserved'],
  ['192.88.100.0', 'public'],
  ['192.167.255.255', 'public'],
  ['192.168.0.0', 'private'],
  ['192.168.255.255', 'private'],
  ['192.169.0.0', 'public'],
  ['198.17.255.255', 'public'],
  ['198.18.0.0', 'reserved'],
  ['198.19.255.255', 'reserved'],
  ['198.20.0.0', 'public'],
  ['198.51.99.255', 'public'],
  ['198.51.100.0', 'reserved'],
  ['198.51.100.255', 'reserved'],
  ['198.51.101.0', 'public'],
  ['203.0.112.255', 'public'],
  ['203.0.113.0', 'reserved'],
  ['203.0.113.255', 'reserved'],
  ['203.0.114.0', 'public'],
  ['223.255.255.255', 'public'],
  ['224.0.0.0', 'multicast'],
  ['239.255.255.255', 'multicast'],
  ['240.0.0.0', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'reserved'],
  ['8.8.8.8', 'public'],
];

const V6: [string, AddressClass][] = [
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['::2', 'reserved'], // compatible form embedding 0.0.0.2
  ['0:0:0:0:0:0:0:1', 'loopback'],
  // IPv4-mapped, both spellings
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::FFFF:7F00:0001', 'loopback'],
  ['::ffff:10.1.2.3', 'private'],
  ['::ffff:169.254.169.254', 'metadata'],
  ['::ffff:8.8.8.8', 'public'],
  ['::ffff:0.0.0.0', 'unspecified'],
  ['0:0:0:0:0:ffff:c0a8:101', 'private'],
  // IPv4-compatible (deprecated) and SIIT translated
  ['::127.0.0.1', 'loopback'],
  ['::8.8.8.8', 'public'],
  ['::ffff:0:127.0.0.1', 'loopback'],
  ['::ffff:0:8.8.8.8', 'public'],
  ['::1:0:0:0', 'reserved'],
  // NAT64 well-known prefix
  ['64:ff9b::', 'unspecified'],
  ['64:ff9b::10.0.0.1', 'private'],
  ['64:ff9b::7f00:1', 'loopback'],
  ['64:ff9b::808:808', 'public'],
  ['64:ff9b::ffff:ffff', 'reserved'],
  ['64:ff9b:1::1', 'reserved'],
  ['64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  // 6to4 embeds its IPv4 at bits 16..47
  ['2002:7f00:1::', 'loopback'],
  ['2002:a00:1::1', 'private'],
  ['2002:a9fe:a9fe::1', 'metadata'],
  ['2002:808:808::1', 'public'],
  ['2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['2003::', 'public'],
  // Teredo, documentation, benchmarking, ORCHIDv2
  ['2001::', 'reserved'],
  ['2001:0:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['2001:1::', 'public'],
  ['2001:2::', 'reserved'],
  ['2001:2:0:ffff::', 'reserved'],
  ['2001:2:1::', 'public'],
  ['2001:1f::', 'public'],
  ['2001:20::', 'reserved'],
  ['2001:2f:ffff::', 'reserved'],
  ['2001:30::', 'public'],
  ['2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', 'public'],
  ['2001:db8::', 'reserved'],
  ['2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['2001:db9::', 'public'],
  ['3ffe:ffff::', 'public'],
  ['3fff::', 'reserved'],
  ['3fff:fff:ffff::', 'reserved'],
  ['3fff:1000::', 'public'],
  ['2606:4700::1111', 'public'],
  ['1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['4000::', 'reserved'],
  ['100::', 'reserved'],
  // ULA, metadata
  ['fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['fc00::', 'ula'],
  ['fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ula'],
  ['fd00:ec2::254', 'metadata'],
  ['fd00:ec2::253', 'ula'],
  ['fd00:ec2::1:254', 'ula'],
  ['fd00:ec2:0:0:0:0:0:254', 'metadata'],
  ['fe00::', 'reserved'],
  ['fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['fe80::', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'link-local'],
  ['fec0::', 'reserved'],
  ['feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'reserved'],
  ['ff00::', 'multicast'],
  ['ff02::1', 'multicast'],
  ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'multicast'],
];

const INVALID = [
  '',
  'localhost',
  '1.2.3',
  '1.2.3.4.5',
  '256.0.0.1',
  '01.2.3.4',
  '1.2.3.04',
  '1..2.3',
  ' 1.2.3.4',
  '1.2.3.4 ',
  ':',
  ':::',
  '1::2::3',
  ':1::',
  '1::2:',
  '12345::',
  '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7',
  '::1:2:3:4:5:6:7:8',
  '1:2:3:4:5:6:7:8::',
  '::ffff:1.2.3',
  '::ffff:1.2.3.4:5',
  '1.2.3.4::',
  'g::1',
  'fe80::1%',
  '[::1]',
];

describe('classifyAddress', () => {
  it.each(V4)('IPv4 %s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
    expect(classifyAddress(ip, 4)).toBe(expected);
  });

  it.each(V6)('IPv6 %s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
    expect(classifyAddress(ip, 6)).toBe(expected);
  });

  it.each(INVALID)('rejects %j as invalid (fails closed)', (text) => {
    expect(classifyAddress(text)).toBe('invalid');
  });

  it('agrees with net.isIP on which inputs are addresses', () => {
    for (const [ip] of V4) expect(net.isIP(ip)).toBe(4);
    for (const [ip] of V6) expect(net.isIP(ip)).toBe(6);
    for (const text of INVALID) expect(net.isIP(text)).toBe(0);
  });

  it('refuses a v6 text when the caller says family 4, and a v4 text for family 6', () => {
    expect(classifyAddress('::1', 4)).toBe('invalid');
    expect(classifyAddress('127.0.0.1', 6)).toBe('invalid');
  });

  it('isPrivateClass is true for every class but public; isAlwaysDeniedClass names what allowPrivateDestinations does not unlock', () => {
    const all: AddressClass[] = ['public', 'loopback', 'private', 'link-local', 'metadata', 'cgnat', 'ula', 'unspecified', 'multicast', 'reserved', 'invalid'];
    expect(all.filter((c) => !isPrivateClass(c))).toEqual(['public']);
    expect(all.filter(isAlwaysDeniedClass)).toEqual(['metadata', 'unspecified', 'multicast', 'invalid']);
  });

  it.each(['169.254.169.254', '::ffff:169.254.169.254', 'fd00:ec2::254', '2002:a9fe:a9fe::', '0.0.0.0', '::', '224.0.0.1', 'nonsense'])(
    '%s is denied by default and stays denied with allowPrivateDestinations',
    (ip) => {
      const c = classifyAddress(ip);
      expect(isPrivateClass(c)).toBe(true);
      expect(isAlwaysDeniedClass(c)).toBe(true);
    },
  );
});

describe('parseIPv4 / parseIPv6', () => {
  it('parses dotted quads to unsigned numbers', () => {
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('1.2.3.4')).toBe(0x01020304);
    expect(parseIPv4('1.2.3.4x')).toBe(-1);
  });

  it('expands :: in every position', () => {
    const b = new Uint8Array(16);
    expect(parseIPv6('1::', b)).toBe(true);
    expect(Array.from(b)).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1::2', b)).toBe(true);
    expect(Array.from(b)).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(parseIPv6('1:2:3:4:5:6:7::', b)).toBe(true);
    expect(b[15]).toBe(0);
    expect(b[13]).toBe(7);
    expect(parseIPv6('::2:3:4:5:6:7:8', b)).toBe(true);
    expect(b[1]).toBe(0);
    expect(b[3]).toBe(2);
    expect(parseIPv6('1:2::7:1.2.3.4', b)).toBe(true);
    expect(Array.from(b)).toEqual([0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4]);
  });

  it('matches Node on 2000 generated addresses', () => {
    // Deterministic generator: random groups, random "::" compression, random case.
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const b = new Uint8Array(16);
    for (let k = 0; k < 2000; k++) {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(rnd(3) === 0 ? '0' : rnd(0x10000).toString(16));
      let text = groups.join(':');
      if (rnd(2) === 0) {
        const from = rnd(8);
        const len = 1 + rnd(8 - from);
        text = groups.slice(0, from).join(':') + '::' + groups.slice(from + len).join(':');
      }
      if (rnd(2) === 0) text = text.toUpperCase();
      expect(parseIPv6(text, b), text).toBe(net.isIPv6(text));
      // Compare bytes with a BlockList lookup: the exact address must match its own /128.
      const list = new net.BlockList();
      list.addAddress(text, 'ipv6');
      const canonical = Array.from({ length: 8 }, (_, g) => ((b[g * 2]! << 8) | b[g * 2 + 1]!).toString(16)).join(':');
      expect(list.check(canonical, 'ipv6'), `${text} vs ${canonical}`).toBe(true);
    }
  });
});

describe('parseCidr / cidrContains', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0', true],
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['172.16.0.0/12', '172.31.255.255', true],
    ['172.16.0.0/12', '172.32.0.0', false],
    ['100.64.0.0/10', '100.127.1.1', true],
    ['100.64.0.0/10', '100.128.0.0', false],
    ['0.0.0.0/0', '203.0.113.9', true],
    ['0.0.0.0/0', '::1', false],
    ['1.2.3.4', '1.2.3.4', true],
    ['1.2.3.4', '1.2.3.5', false],
    ['10.0.0.0/8', '::ffff:10.1.1.1', true],
    ['10.0.0.0/8', '::ffff:11.1.1.1', false],
    ['10.0.0.0/8', '64:ff9b::10.1.1.1', false],
    ['fc00::/7', 'fdff::1', true],
    ['fc00::/7', 'fe00::', false],
    ['fc00::/7', 'fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', false],
    ['2001:db8::/33', '2001:db8:7fff::1', true],
    ['2001:db8::/33', '2001:db8:8000::', false],
    ['::/0', '::1', true],
    ['::/0', '1.2.3.4', false],
    ['::1', '::1', true],
    ['10.0.0.0/8', 'not-an-ip', false],
  ] as const)('%s contains %s: %s', (cidr, ip, expected) => {
    expect(cidrContains(parseCidr(cidr), ip)).toBe(expected);
  });

  it('canonicalises the network text', () => {
    expect(parseCidr('2001:DB8:0:0::/32').text).toBe('2001:db8::/32');
    expect(parseCidr('10.0.0.0/8').text).toBe('10.0.0.0/8');
    expect(parseCidr('::1').text).toBe('::1/128');
    expect(parseCidr('1:0:0:1::/64').text).toBe('1:0:0:1::/64');
  });

  it.each([
    ['10.0.0.1/8', 'host bits set; did you mean 10.0.0.0/8?'],
    ['fd00::1/8', 'host bits set; did you mean fd00::/8?'],
    ['10.0.0.0/33', 'prefix length must be 0..32'],
    ['::/129', 'prefix length must be 0..128'],
    ['10.0.0.0/08', 'prefix length must be 0..32'],
    ['10.0.0.0/', 'prefix length must be 0..32'],
    ['10.0.0.0/-1', 'prefix length must be 0..32'],
    ['example.com/8', 'not an IP address or CIDR block'],
    ['fe80::1%eth0/64', 'not an IP address or CIDR block'],
  ])('rejects %s: %s', (text, reason) => {
    expect(() => parseCidr(text)).toThrow(reason);
    expect(tryParseCidr(text)).toBeNull();
  });
});

describe('parseHostPort / isHostName', () => {
  it.each([
    ['127.0.0.1:8080', '127.0.0.1', 8080],
    ['[::1]:8080', '::1', 8080],
    ['[FE80::1]:0', 'fe80::1', 0],
    ['localhost:8080', 'localhost', 8080],
    ['Proxy.Example.COM:65535', 'proxy.example.com', 65535],
    ['0.0.0.0:1', '0.0.0.0', 1],
  ] as const)('parses %s', (text, host, port) => {
    expect(parseHostPort(text, true)).toEqual({ host, port });
  });

  it.each([
    [':8080', 'has no host; write 127.0.0.1:8080'],
    ['8080', 'needs a port'],
    ['localhost', 'needs a port'],
    ['::1:8080', 'put IPv6 addresses in brackets'],
    ['[::1]', 'needs a port'],
    ['[::1:8080', 'missing ]'],
    ['[1.2.3.4]:80', 'is not an IPv6 address'],
    ['[fe80::1%eth0]:80', 'is not an IPv6 address'],
    ['127.0.0.1:65536', 'is not a port'],
    ['127.0.0.1:080', 'is not a port'],
    ['127.0.0.1:+80', 'is not a port'],
    ['127.0.0.1:', 'is not a port'],
    ['1.2.3:80', 'is not an IPv4 address or a host name'],
    ['bad_host!:80', 'is not an IPv4 address or a host name'],
  ])('rejects %s (%s)', (text, reason) => {
    expect(() => parseHostPort(text, true)).toThrow(reason);
  });

  it('rejects port 0 where an ephemeral port makes no sense', () => {
    expect(() => parseHostPort('127.0.0.1:0', false)).toThrow('port 0 is not allowed here');
  });

  it.each([
    ['example.com', true],
    ['a', true],
    ['_dmarc.example.com', true],
    ['xn--bcher-kva.example', true],
    ['a'.repeat(63) + '.com', true],
    ['a'.repeat(64) + '.com', false],
    [('a'.repeat(63) + '.').repeat(4).slice(0, 253), true],
    [('a'.repeat(63) + '.').repeat(4).slice(0, 252) + 'ab', false],
    ['example.com.', false],
    ['.example.com', false],
    ['a..b', false],
    ['-a.com', false],
    ['a-.com', false],
    ['1.2.3', false],
    ['1.2.3.com', true],
    ['exa mple.com', false],
    ['', false],
  ])('isHostName(%j) is %s', (text, expected) => {
    expect(isHostName(text)).toBe(expected);
  });
});
