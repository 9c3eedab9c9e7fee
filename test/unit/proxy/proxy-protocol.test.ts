import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_PROXY_V2_LENGTH, PROXY_V1_MAX_LENGTH, ProxyProtocolParser, type ProxyHeader, type ProxyParse,
  type ProxyProtocolOptions,
} from '../../../src/proxy/proxy-protocol.js';

const SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const CLIENT = Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n', 'latin1');
const TLS_FIRST_BYTES = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);

const v1 = (line: string): Buffer => Buffer.from(line, 'latin1');

interface V2Options {
  verCmd?: number;
  family?: number;
  /** The address block (addresses and ports), before the TLVs. */
  addresses?: Buffer;
  tlvs?: Buffer;
  /** Overrides the length field (the bytes sent stay as built). */
  length?: number;
}

function v2(o: V2Options = {}): Buffer {
  const body = Buffer.concat([o.addresses ?? Buffer.alloc(0), o.tlvs ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(4);
  fixed[0] = o.verCmd ?? 0x21;
  fixed[1] = o.family ?? 0x11;
  fixed.writeUInt16BE(o.length ?? body.length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

function v4Block(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  b.set(src, 0);
  b.set(dst, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

/** Two IPv6 addresses given as full text, and ports. */
function v6Block(src: string, dst: string, sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  bytesOfV6(src).copy(b, 0);
  bytesOfV6(dst).copy(b, 16);
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

/** 8 groups, no `::` (test input only). */
function bytesOfV6(text: string): Buffer {
  const groups = text.split(':');
  expect(groups).toHaveLength(8);
  const b = Buffer.alloc(16);
  groups.forEach((g, k) => b.writeUInt16BE(parseInt(g, 16), 2 * k));
  return b;
}

function tlv(type: number, value: Buffer): Buffer {
  const b = Buffer.alloc(3);
  b[0] = type;
  b.writeUInt16BE(value.length, 1);
  return Buffer.concat([b, value]);
}

/** Push the chunks in order until a verdict. */
function parse(chunks: readonly Buffer[], opts?: ProxyProtocolOptions): ProxyParse {
  const p = new ProxyProtocolParser(opts);
  let r: ProxyParse = { state: 'more' };
  for (const c of chunks) {
    r = p.push(c);
    if (r.state !== 'more') break;
  }
  return r;
}

/**
 * The verdict whole, byte by byte, and in two pieces at every offset, each asserted equal;
 * 'more' must come before the verdict only. Returns the verdict.
 */
function parseAllWays(bytes: Buffer, opts?: ProxyProtocolOptions): ProxyParse {
  const whole = parse([bytes], opts);
  const p = new ProxyProtocolParser(opts);
  let byByte: ProxyParse = { state: 'more' };
  for (let i = 0; i < bytes.length && byByte.state === 'more'; i++) byByte = p.push(bytes.subarray(i, i + 1));
  expect(byByte, 'byte by byte').toEqual(whole);
  for (let cut = 0; cut <= bytes.length; cut++) {
    expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)], opts), `cut at ${cut}`).toEqual(whole);
  }
  return whole;
}

const done = (header: ProxyHeader, length: number): ProxyParse => ({ state: 'done', header, length });
const error = (reason: string): ProxyParse => ({ state: 'error', reason } as ProxyParse);
const addr = (address: string, port: number) => ({ address, port });

describe('PROXY v1: valid lines, whole and at every split, with the client bytes after them', () => {
  const cases: [string, string, ProxyHeader][] = [
    ['TCP4', 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n',
      { version: 1, local: false, source: addr('192.168.0.1', 56324), destination: addr('192.168.0.11', 443) }],
    ['TCP4 at the bounds', 'PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n',
      { version: 1, local: false, source: addr('0.0.0.0', 0), destination: addr('255.255.255.255', 65535) }],
    ['TCP6, normalised as Node prints it', 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:10.0.0.1 1 2\r\n',
      { version: 1, local: false, source: addr('2001:db8::1', 1), destination: addr('::ffff:10.0.0.1', 2) }],
    ['TCP6 full-width groups', 'PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 0000:0000:0000:0000:0000:0000:0000:0001 65535 65535\r\n',
      { version: 1, local: false, source: addr('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535), destination: addr('::1', 65535) }],
    ['UNKNOWN, short form', 'PROXY UNKNOWN\r\n', { version: 1, local: true, source: null, destination: null }],
    ['UNKNOWN with the rest of the line ignored', 'PROXY UNKNOWN 1.2.3.4 junk \x01\xff 9\r\n',
      { version: 1, local: true, source: null, destination: null }],
  ];

  it.each(cases)('%s', (_name, line, header) => {
    const bytes = v1(line);
    expect(parseAllWays(bytes)).toEqual(done(header, bytes.length));
    const withClient = Buffer.concat([bytes, CLIENT]);
    expect(parseAllWays(withClient)).toEqual(done(header, bytes.length));
  });

  it('the longest line (107 bytes, UNKNOWN with two full IPv6 addresses) is accepted', () => {
    const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const bytes = v1(`PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`);
    expect(bytes.length).toBe(PROXY_V1_MAX_LENGTH);
    expect(parseAllWays(Buffer.concat([bytes, CLIENT]))).toEqual(done({ version: 1, local: true, source: null, destination: null }, 107));
  });

  it('a TCP6 address with a dotted-quad tail is read (inet_pton accepts it)', () => {
    const bytes = v1('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 0:0:0:0:0:ffff:1.2.3.4 65535 65535\r\n');
    expect(parseAllWays(bytes)).toEqual(done(
      { version: 1, local: false, source: addr('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535), destination: addr('::ffff:1.2.3.4', 65535) },
      bytes.length,
    ));
  });
});

describe('PROXY v1: rejections, with their reason', () => {
  const cases: [string, string, string][] = [
    ['108 bytes without CRLF', 'v1_too_long', `PROXY UNKNOWN ${'x'.repeat(200)}`],
    ['CRLF one byte past the bound', 'v1_too_long', `PROXY UNKNOWN ${'x'.repeat(107 - 14 - 1)}\r\n`],
    ['a bare LF ends no line', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'],
    ['a CR not followed by LF', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'],
    ['an unknown protocol', 'v1_malformed', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['TCP5', 'v1_malformed', 'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['lower-case tcp4', 'v1_malformed', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['UNKNOWN glued to more text', 'v1_malformed', 'PROXY UNKNOWNX\r\n'],
    ['a truncated protocol', 'v1_malformed', 'PROXY TC\r\n'],
    ['no protocol', 'v1_malformed', 'PROXY \r\n'],
    ['double space', 'v1_malformed', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'],
    ['double space before the ports', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n'],
    ['a trailing space', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'],
    ['a missing port', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'],
    ['an extra field', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'],
    ['TCP4 without addresses', 'v1_malformed', 'PROXY TCP4\r\n'],
    ['a tab for a space', 'v1_malformed', 'PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n'],
    ['octal-looking IPv4 (leading zero)', 'v1_malformed', 'PROXY TCP4 010.0.0.1 5.6.7.8 1 2\r\n'],
    ['hex IPv4', 'v1_malformed', 'PROXY TCP4 0x7f.0.0.1 5.6.7.8 1 2\r\n'],
    ['short IPv4', 'v1_malformed', 'PROXY TCP4 127.1 5.6.7.8 1 2\r\n'],
    ['a 32-bit number', 'v1_malformed', 'PROXY TCP4 2130706433 5.6.7.8 1 2\r\n'],
    ['an octet above 255', 'v1_malformed', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'],
    ['IPv6 under TCP4', 'v1_malformed', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n'],
    ['IPv4 under TCP6', 'v1_malformed', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n'],
    ['an IPv6 zone', 'v1_malformed', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'],
    ['a bracketed IPv6', 'v1_malformed', 'PROXY TCP6 [::1] ::1 1 2\r\n'],
    ['IPv6 with too few groups', 'v1_malformed', 'PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n'],
    ['IPv6 with two ::', 'v1_malformed', 'PROXY TCP6 1::2::3 ::1 1 2\r\n'],
    ['a port with a leading zero', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'],
    ['port 00', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n'],
    ['port 65536', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'],
    ['a six-digit port', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n'],
    ['a hex port', 'v1_malformed', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 ff\r\n'],
    ['a lower-case prefix', 'not_proxy_protocol', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['PROXY without its space', 'not_proxy_protocol', 'PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
  ];

  it.each(cases)('%s → %s', (_name, reason, line) => {
    expect(parseAllWays(v1(line))).toEqual(error(reason));
  });

  it('a byte that cannot be in the line is refused on arrival, not at the CRLF', () => {
    const p = new ProxyProtocolParser();
    expect(p.push(v1('PROXY TCP4 1.2.3.4 '))).toEqual({ state: 'more' });
    expect(p.push(v1('h'))).toEqual(error('v1_malformed'));
    expect(parse([v1('PROXY TCP4 fe80::1%')])).toEqual(error('v1_malformed'));
    expect(parse([v1('PROXY X')])).toEqual(error('v1_malformed'));
    expect(parse([v1('PROXY UNKNOWN 1\n')])).toEqual(error('v1_malformed'));
  });

  it('106 bytes without CRLF still wait; the 107th decides', () => {
    const p = new ProxyProtocolParser();
    expect(p.push(v1(`PROXY UNKNOWN ${'x'.repeat(106 - 14)}`))).toEqual({ state: 'more' });
    expect(p.push(v1('x'))).toEqual(error('v1_too_long'));
    const q = new ProxyProtocolParser();
    expect(q.push(v1(`PROXY UNKNOWN ${'x'.repeat(105 - 14)}\r`))).toEqual({ state: 'more' });
    expect(q.push(v1('\nGET'))).toEqual(done({ version: 1, local: true, source: null, destination: null }, 107));
  });
});

describe('PROXY v2: valid headers, whole and at every split, with the client bytes after them', () => {
  const cases: [string, Buffer, ProxyHeader][] = [
    ['PROXY TCP over IPv4', v2({ addresses: v4Block([203, 0, 113, 7], [10, 0, 0, 1], 51234, 443) }),
      { version: 2, local: false, source: addr('203.0.113.7', 51234), destination: addr('10.0.0.1', 443) }],
    ['PROXY TCP over IPv6', v2({ family: 0x21, addresses: v6Block('2001:db8:0:0:0:0:0:1', '0:0:0:0:0:ffff:c000:201', 1, 65535) }),
      { version: 2, local: false, source: addr('2001:db8::1', 1), destination: addr('::ffff:192.0.2.1', 65535) }],
    ['IPv6 printed as libuv does (IPv4-compatible, zero runs)', v2({ family: 0x21, addresses: v6Block('0:0:0:0:0:0:102:304', '1:0:0:1:0:0:0:1', 0, 0) }),
      { version: 2, local: false, source: addr('::1.2.3.4', 0), destination: addr('1:0:0:1::1', 0) }],
    ['PROXY with TLVs after the addresses (skipped)',
      v2({ addresses: v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1000, 80), tlvs: Buffer.concat([tlv(0x01, Buffer.from('h2')), tlv(0x04, Buffer.alloc(0)), tlv(0x20, Buffer.alloc(40, 0xab))]) }),
      { version: 2, local: false, source: addr('1.2.3.4', 1000), destination: addr('5.6.7.8', 80) }],
    ['LOCAL with no address block', v2({ verCmd: 0x20, family: 0x00 }), { version: 2, local: true, source: null, destination: null }],
    ['LOCAL with an address block and TLVs (ignored)', v2({ verCmd: 0x20, family: 0x11, addresses: v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), tlvs: tlv(0xee, Buffer.alloc(5)) }),
      { version: 2, local: true, source: null, destination: null }],
    ['LOCAL ignores the family byte, even DGRAM or unassigned', v2({ verCmd: 0x20, family: 0x12, length: 0 }),
      { version: 2, local: true, source: null, destination: null }],
    ['PROXY over AF_UNSPEC: no address to take', v2({ family: 0x00, tlvs: Buffer.alloc(3) }),
      { version: 2, local: false, source: null, destination: null }],
    ['PROXY over AF_UNIX: treated like local', v2({ family: 0x31, addresses: Buffer.alloc(216, 0x2f) }),
      { version: 2, local: false, source: null, destination: null }],
  ];

  it.each(cases)('%s', (_name, bytes, header) => {
    expect(parseAllWays(bytes)).toEqual(done(header, bytes.length));
    expect(parseAllWays(Buffer.concat([bytes, CLIENT]))).toEqual(done(header, bytes.length));
    expect(parseAllWays(Buffer.concat([bytes, TLS_FIRST_BYTES]))).toEqual(done(header, bytes.length));
  });

  it('a header whose length is exactly maxV2Length is read; the TLV bytes are not interpreted', () => {
    const tlvs = Buffer.alloc(DEFAULT_MAX_PROXY_V2_LENGTH - 12, 0xff); // not even well-formed TLVs
    const bytes = v2({ addresses: v4Block([9, 9, 9, 9], [8, 8, 8, 8], 9, 8), tlvs });
    expect(parse([Buffer.concat([bytes, CLIENT])])).toEqual(
      done({ version: 2, local: false, source: addr('9.9.9.9', 9), destination: addr('8.8.8.8', 8) }, 16 + DEFAULT_MAX_PROXY_V2_LENGTH),
    );
  });

  it('the addresses are printed as Node prints a socket address', () => {
    const r = parse([v2({ family: 0x21, addresses: v6Block('fe80:0:0:0:0:0:0:abcd', '0:0:0:0:0:0:0:1', 1, 2) })]);
    expect(r.state).toBe('done');
    const header = (r as Extract<ProxyParse, { state: 'done' }>).header;
    for (const a of [header.source!.address, header.destination!.address]) {
      expect(net.isIP(a)).toBe(6);
      expect(new net.SocketAddress({ address: a, family: 'ipv6' }).address).toBe(a);
    }
  });
});

describe('PROXY v2: rejections, with their reason', () => {
  const v4 = v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  const cases: [string, string, Buffer][] = [
    ['version 1 in the binary format', 'v2_bad_version', v2({ verCmd: 0x11, addresses: v4 })],
    ['version 3', 'v2_bad_version', v2({ verCmd: 0x31, addresses: v4 })],
    ['command 2', 'v2_bad_command', v2({ verCmd: 0x22, addresses: v4 })],
    ['command 15', 'v2_bad_command', v2({ verCmd: 0x2f, addresses: v4 })],
    ['UDP over IPv4 on a TCP listener', 'v2_bad_family', v2({ family: 0x12, addresses: v4 })],
    ['UDP over IPv6', 'v2_bad_family', v2({ family: 0x22, addresses: Buffer.alloc(36) })],
    ['UNIX datagram', 'v2_bad_family', v2({ family: 0x32, addresses: Buffer.alloc(216) })],
    ['an unassigned family', 'v2_bad_family', v2({ family: 0x41, addresses: v4 })],
    ['AF_UNSPEC with STREAM', 'v2_bad_family', v2({ family: 0x01 })],
    ['AF_INET with an unassigned transport', 'v2_bad_family', v2({ family: 0x13, addresses: v4 })],
    ['IPv4 block one byte short', 'v2_short_address', v2({ addresses: v4.subarray(0, 11) })],
    ['IPv6 block one byte short', 'v2_short_address', v2({ family: 0x21, addresses: Buffer.alloc(35) })],
    ['UNIX block one byte short', 'v2_short_address', v2({ family: 0x31, addresses: Buffer.alloc(215) })],
    ['length above maxV2Length', 'v2_too_long', v2({ addresses: v4, tlvs: Buffer.alloc(DEFAULT_MAX_PROXY_V2_LENGTH - 11) })],
    ['a signature byte wrong', 'not_proxy_protocol', Buffer.concat([SIGNATURE.subarray(0, 11), Buffer.from('\r'), v2().subarray(12)])],
  ];

  it.each(cases)('%s → %s', (_name, reason, bytes) => {
    expect(parseAllWays(bytes)).toEqual(error(reason));
  });

  it('an oversize length is refused on the 16th byte, without waiting for the body', () => {
    const p = new ProxyProtocolParser();
    expect(p.push(v2({ length: 0xffff }))).toEqual(error('v2_too_long'));
    expect(parse([v2({ length: 100 })], { maxV2Length: 99 })).toEqual(error('v2_too_long'));
    expect(parse([v2({ length: 12 })], { maxV2Length: 11 })).toEqual(error('v2_too_long'));
  });

  it('version, command and family are refused at the byte that carries them', () => {
    expect(parse([Buffer.concat([SIGNATURE, Buffer.from([0x11])])])).toEqual(error('v2_bad_version'));
    expect(parse([Buffer.concat([SIGNATURE, Buffer.from([0x23])])])).toEqual(error('v2_bad_command'));
    expect(parse([Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x12])])])).toEqual(error('v2_bad_family'));
  });

  it('a truncated header waits for the rest (every proper prefix is \'more\')', () => {
    const bytes = v2({ family: 0x21, addresses: Buffer.alloc(36), tlvs: tlv(1, Buffer.alloc(10)) });
    for (let n = 0; n < bytes.length; n++) expect(parse([bytes.subarray(0, n)]), `${n} bytes`).toEqual({ state: 'more' });
  });

  it('a large maxV2Length (the spec maximum) is honoured', () => {
    const tlvs = Buffer.alloc(0xffff - 12);
    const bytes = v2({ addresses: v4, tlvs });
    const r = parse([bytes.subarray(0, 1000), bytes.subarray(1000, 40000), bytes.subarray(40000), CLIENT], { maxV2Length: 0xffff });
    expect(r).toMatchObject({ state: 'done', length: 16 + 0xffff, header: { source: addr('1.2.3.4', 1) } });
  });
});

describe('early mismatch: a client that speaks first is refused at once', () => {
  it.each([
    ['GET / HTTP/1.1 (first byte)', 'G'],
    ['POST (second byte)', 'PO'],
    ['PUT (second byte)', 'PU'],
    ['PRI * HTTP/2.0 (fourth byte)', 'PRI'],
    ['PROXY-like word (sixth byte)', 'PROXY_'],
    ['a blank line then a request', '\r\nG'],
    ['a TLS ClientHello (0x16)', '\x16'],
    ['SSH banner', 'S'],
    ['a NUL byte', '\0'],
  ])('%s', (_name, text) => {
    const bytes = v1(text);
    expect(parse([bytes])).toEqual(error('not_proxy_protocol'));
  });

  it('a full HTTP request and a full ClientHello record start are refused whole and at every split', () => {
    expect(parseAllWays(v1('GET / HTTP/1.1\r\nHost: a\r\n\r\n'))).toEqual(error('not_proxy_protocol'));
    expect(parseAllWays(TLS_FIRST_BYTES)).toEqual(error('not_proxy_protocol'));
  });

  it('the prefixes of both signatures wait', () => {
    for (const text of ['P', 'PROX', 'PROXY ', '\r', '\r\n\r\n\0', '\r\n\r\n\0\r\nQUIT']) {
      expect(parse([v1(text)]), JSON.stringify(text)).toEqual({ state: 'more' });
    }
  });
});

describe('parser state', () => {
  it('an empty chunk changes nothing', () => {
    const p = new ProxyProtocolParser();
    expect(p.push(Buffer.alloc(0))).toEqual({ state: 'more' });
    expect(p.push(v1('PROXY UNKNOWN\r'))).toEqual({ state: 'more' });
    expect(p.push(Buffer.alloc(0))).toEqual({ state: 'more' });
    expect(p.push(v1('\n'))).toEqual(done({ version: 1, local: true, source: null, destination: null }, 15));
  });

  it('the bytes of a chunk answered with \'more\' are copied: the caller may reuse its buffer', () => {
    const bytes = v1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
    const scratch = Buffer.from(bytes.subarray(0, 20));
    const p = new ProxyProtocolParser();
    expect(p.push(scratch)).toEqual({ state: 'more' });
    scratch.fill(0x41);
    expect(p.push(bytes.subarray(20))).toMatchObject({ state: 'done', header: { source: addr('1.2.3.4', 1) }, length: bytes.length });
  });

  it('the caller\'s bytes are not modified', () => {
    const bytes = Buffer.concat([v2({ addresses: v4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) }), CLIENT]);
    const copy = Buffer.from(bytes);
    parseAllWays(bytes);
    expect(bytes.equals(copy)).toBe(true);
  });

  it('a verdict is sticky until reset(), and reset() starts afresh', () => {
    const p = new ProxyProtocolParser();
    const first = p.push(v1('PROXY UNKNOWN\r\nGET'));
    expect(first).toEqual(done({ version: 1, local: true, source: null, destination: null }, 15));
    expect(p.push(v1('more client bytes'))).toBe(first);
    p.reset();
    expect(p.push(v1('GET'))).toEqual(error('not_proxy_protocol'));
    expect(p.push(v1('PROXY UNKNOWN\r\n'))).toEqual(error('not_proxy_protocol'));
    p.reset();
    expect(p.push(v1('PROXY TCP4 '))).toEqual({ state: 'more' });
    p.reset();
    expect(p.push(v2({ verCmd: 0x20, family: 0 }))).toEqual(done({ version: 2, local: true, source: null, destination: null }, 16));
  });

  it.each([-1, 65536, 1.5, Number.NaN])('maxV2Length %s is refused at construction', (maxV2Length) => {
    expect(() => new ProxyProtocolParser({ maxV2Length })).toThrow(RangeError);
  });
});
