/**
 * PROXY protocol parser (src/proxy/proxy-protocol.ts):
 * - split invariance: valid v1/v2 headers (random addresses, ports, TLVs) followed by random client bytes,
 *   cut into random fragments, give the header generated and its exact length, as the whole input does;
 * - addresses come out as Node prints them (net.SocketAddress is the oracle);
 * - v1 lines, mutated, are accepted exactly when a reference built on net.isIPv4/isIPv6 accepts them;
 * - garbage, and valid prefixes followed by garbage, never throw, split the same way as whole,
 *   and are never answered 'more' past the bound (107 bytes for v1, 16 + maxV2Length for v2).
 */
import fc from 'fast-check';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_PROXY_V2_LENGTH, PROXY_V1_MAX_LENGTH, PROXY_V2_FIXED_LENGTH, ProxyProtocolParser,
  type ProxyAddress, type ProxyHeader, type ProxyParse,
} from '../../src/proxy/proxy-protocol.js';
import { checkProperty } from '../helpers/property.js';

const BUDGET = { numRuns: 3000, timeMs: 10_000, floor: 500 };
const SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

interface Case { bytes: Buffer; header: ProxyHeader }

/** Node's own text for an address (the form a socket's remoteAddress takes). */
const nodeForm = (address: string, family: 'ipv4' | 'ipv6'): string => new net.SocketAddress({ address, family }).address;

// ---- generators ----------------------------------------------------------------

/** A 16-bit group biased towards 0 and 0xffff, so zero runs and mapped/compatible forms occur. */
const groupArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(0xffff) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xff }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);
const groupsArb = fc.array(groupArb, { minLength: 8, maxLength: 8 });
const ipv4Arb = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const portArb = fc.oneof(fc.constantFrom(0, 1, 80, 443, 65535), fc.integer({ min: 0, max: 65535 }));

/** How one IPv6 address is spelled: dotted tail, which zero run becomes `::`, per-group padding and case. */
const spellingArb = fc.record({
  tail: fc.boolean(),
  compress: fc.nat(),
  pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
  upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
});
type Spelling = typeof spellingArb extends fc.Arbitrary<infer T> ? T : never;

const PLAIN: Spelling = { tail: false, compress: 0, pad: [0, 0, 0, 0, 0, 0, 0, 0], upper: [false, false, false, false, false, false, false, false] };

function ipv6Text(groups: number[], s: Spelling): string {
  const hexCount = s.tail ? 6 : 8;
  const parts = groups.slice(0, hexCount).map((g, k) => {
    const h = s.upper[k] ? g.toString(16).toUpperCase() : g.toString(16);
    return h.padStart(Math.min(4, h.length + s.pad[k]!), '0');
  });
  const tail = s.tail ? [`${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`] : [];
  const runs: [number, number][] = [];
  for (let k = 0; k < hexCount; k++) {
    if (groups[k] !== 0) continue;
    let j = k;
    while (j < hexCount && groups[j] === 0) j++;
    runs.push([k, j]);
    k = j;
  }
  // compress % (runs + 1) === runs.length: write every group out.
  const pick = s.compress % (runs.length + 1);
  if (pick === runs.length) return [...parts, ...tail].join(':');
  const [start, end] = runs[pick]!;
  return `${parts.slice(0, start).join(':')}::${[...parts.slice(end), ...tail].join(':')}`;
}

const fullIPv6 = (groups: number[]): string => groups.map((g) => g.toString(16)).join(':');

const v1Tcp4Arb: fc.Arbitrary<Case> = fc.tuple(ipv4Arb, ipv4Arb, portArb, portArb).map(([s, d, sp, dp]) => {
  const src = s.join('.');
  const dst = d.join('.');
  return {
    bytes: Buffer.from(`PROXY TCP4 ${src} ${dst} ${sp} ${dp}\r\n`, 'latin1'),
    header: { version: 1, local: false, source: { address: nodeForm(src, 'ipv4'), port: sp }, destination: { address: nodeForm(dst, 'ipv4'), port: dp } },
  };
});

const v1Tcp6Arb: fc.Arbitrary<Case> = fc.tuple(groupsArb, groupsArb, spellingArb, spellingArb, portArb, portArb).map(([s, d, ss, ds, sp, dp]) => {
  let src = ipv6Text(s, ss);
  let dst = ipv6Text(d, ds);
  const lineOf = () => `PROXY TCP6 ${src} ${dst} ${sp} ${dp}\r\n`;
  if (lineOf().length > PROXY_V1_MAX_LENGTH) {
    src = ipv6Text(s, PLAIN);
    dst = ipv6Text(d, PLAIN);
  }
  return {
    bytes: Buffer.from(lineOf(), 'latin1'),
    header: { version: 1, local: false, source: { address: nodeForm(src, 'ipv6'), port: sp }, destination: { address: nodeForm(dst, 'ipv6'), port: dp } },
  };
});

/** Anything but CR and LF may follow `PROXY UNKNOWN `. */
const unknownRestArb = fc.option(
  fc.uint8Array({ maxLength: PROXY_V1_MAX_LENGTH - 16 }).map((a) => Buffer.from(a.filter((c) => c !== 0x0d && c !== 0x0a))),
);

const v1UnknownArb: fc.Arbitrary<Case> = unknownRestArb.map((rest) => ({
  bytes: Buffer.concat([Buffer.from('PROXY UNKNOWN', 'latin1'), rest === null ? Buffer.alloc(0) : Buffer.concat([Buffer.from(' '), rest]), Buffer.from('\r\n')]),
  header: { version: 1, local: true, source: null, destination: null },
}));

const tlvsArb = fc.oneof(
  fc.array(fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 80 }) }), { maxLength: 6 }).map((list) =>
    Buffer.concat(list.map(({ type, value }) => {
      const head = Buffer.alloc(3);
      head[0] = type;
      head.writeUInt16BE(value.length, 1);
      return Buffer.concat([head, value]);
    }))),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), // not TLV-shaped: still skipped
);

function v2Bytes(verCmd: number, family: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = verCmd;
  fixed[1] = family;
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}

const v2ProxyInetArb: fc.Arbitrary<Case> = fc.tuple(ipv4Arb, ipv4Arb, portArb, portArb, tlvsArb).map(([s, d, sp, dp, tlvs]) => {
  const block = Buffer.alloc(12);
  block.set(s, 0);
  block.set(d, 4);
  block.writeUInt16BE(sp, 8);
  block.writeUInt16BE(dp, 10);
  return {
    bytes: v2Bytes(0x21, 0x11, Buffer.concat([block, tlvs])),
    header: { version: 2, local: false, source: { address: s.join('.'), port: sp }, destination: { address: d.join('.'), port: dp } },
  };
});

const v2ProxyInet6Arb: fc.Arbitrary<Case> = fc.tuple(groupsArb, groupsArb, portArb, portArb, tlvsArb).map(([s, d, sp, dp, tlvs]) => {
  const block = Buffer.alloc(36);
  s.forEach((g, k) => block.writeUInt16BE(g, 2 * k));
  d.forEach((g, k) => block.writeUInt16BE(g, 16 + 2 * k));
  block.writeUInt16BE(sp, 32);
  block.writeUInt16BE(dp, 34);
  return {
    bytes: v2Bytes(0x21, 0x21, Buffer.concat([block, tlvs])),
    header: {
      version: 2, local: false,
      source: { address: nodeForm(fullIPv6(s), 'ipv6'), port: sp },
      destination: { address: nodeForm(fullIPv6(d), 'ipv6'), port: dp },
    },
  };
});

/** PROXY over AF_UNSPEC or AF_UNIX: the socket's own address is kept. */
const v2ProxyNoAddressArb: fc.Arbitrary<Case> = fc.tuple(fc.constantFrom(0x00, 0x31), fc.uint8Array({ minLength: 216, maxLength: 216 }), tlvsArb)
  .map(([family, unix, tlvs]) => ({
    bytes: v2Bytes(0x21, family, family === 0x31 ? Buffer.concat([Buffer.from(unix), tlvs]) : tlvs),
    header: { version: 2, local: false, source: null, destination: null },
  }));

/** LOCAL: any family byte, any block, all ignored. */
const v2LocalArb: fc.Arbitrary<Case> = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }))
  .map(([family, body]) => ({ bytes: v2Bytes(0x20, family, Buffer.from(body)), header: { version: 2, local: true, source: null, destination: null } }));

const validArb: fc.Arbitrary<Case> = fc.oneof(v1Tcp4Arb, v1Tcp6Arb, v1UnknownArb, v2ProxyInetArb, v2ProxyInet6Arb, v2ProxyNoAddressArb, v2LocalArb);

const trailingArb = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const cutsArb = fc.array(fc.nat(), { maxLength: 8 });

// ---- feeding -------------------------------------------------------------------

function fragments(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

/** Push the chunks until a verdict: the last answer and how many bytes were fed up to it. */
function feed(chunks: readonly Buffer[], maxV2Length?: number): { r: ProxyParse; fed: number } {
  const p = new ProxyProtocolParser(maxV2Length === undefined ? undefined : { maxV2Length });
  let r: ProxyParse = { state: 'more' };
  let fed = 0;
  for (const c of chunks) {
    r = p.push(c);
    fed += c.length;
    if (r.state !== 'more') break;
  }
  return { r, fed };
}

// ---- mutation ------------------------------------------------------------------

const NEAR_BYTES = Buffer.from('0123456789abcdefABCDEF:.% \r\nxX[]-+', 'latin1');
const mutationArb = fc.array(
  fc.record({ op: fc.integer({ min: 0, max: 2 }), at: fc.nat(), byte: fc.oneof(fc.integer({ min: 0, max: NEAR_BYTES.length - 1 }).map((k) => NEAR_BYTES[k]!), fc.integer({ min: 0, max: 255 })) }),
  { minLength: 1, maxLength: 4 },
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Buffer, ops: Mutation): Buffer {
  const b = [...bytes];
  for (const { op, at, byte } of ops) {
    const i = at % (b.length + 1);
    if (op === 0 && i < b.length) b[i] = byte;
    else if (op === 1) b.splice(i, 0, byte);
    else if (i < b.length) b.splice(i, 1);
  }
  return Buffer.from(b);
}

// ---- reference for v1 -----------------------------------------------------------

const PORT_TEXT = /^(0|[1-9][0-9]{0,4})$/;

function referencePort(text: string): number {
  return PORT_TEXT.test(text) && Number(text) <= 65535 ? Number(text) : -1;
}

/** What a v1 line (bytes starting `PROXY `) should give: a header and length, or null (rejected). */
function referenceV1(bytes: Buffer): { header: ProxyHeader; length: number } | null {
  const text = bytes.toString('latin1');
  const cr = text.indexOf('\r');
  const lf = text.indexOf('\n');
  if (cr < 0 || lf !== cr + 1 || cr + 2 > PROXY_V1_MAX_LENGTH) return null;
  const line = text.slice(6, cr);
  const length = cr + 2;
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { header: { version: 1, local: true, source: null, destination: null }, length };
  const fields = line.split(' ');
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) return null;
  const family = fields[0] === 'TCP4' ? 'ipv4' : 'ipv6';
  const isAddress = (a: string) => (family === 'ipv4' ? net.isIPv4(a) : net.isIPv6(a) && !a.includes('%'));
  const [, src, dst, sp, dp] = fields as [string, string, string, string, string];
  const srcPort = referencePort(sp);
  const dstPort = referencePort(dp);
  if (!isAddress(src) || !isAddress(dst) || srcPort < 0 || dstPort < 0) return null;
  const at = (address: string, port: number): ProxyAddress => ({ address: nodeForm(address, family), port });
  return { header: { version: 1, local: false, source: at(src, srcPort), destination: at(dst, dstPort) }, length };
}

// ---- properties ----------------------------------------------------------------

describe('PROXY protocol parser, properties', () => {
  it('valid headers + client bytes in random fragments: the generated header and its exact length, as whole', () => {
    checkProperty(
      fc.property(validArb, trailingArb, cutsArb, (c, trailing, cuts) => {
        const input = Buffer.concat([c.bytes, trailing]);
        const expected: ProxyParse = { state: 'done', header: c.header, length: c.bytes.length };
        expect(feed([input]).r).toEqual(expected);
        expect(feed(fragments(input, cuts)).r).toEqual(expected);
      }),
      BUDGET,
    );
  });

  it('addresses are in the form Node prints: net.isIP agrees and Node\'s normaliser leaves them unchanged', () => {
    checkProperty(
      fc.property(fc.oneof(v1Tcp6Arb, v2ProxyInet6Arb, v1Tcp4Arb, v2ProxyInetArb), (c) => {
        const { r } = feed([c.bytes]);
        if (r.state !== 'done') throw new Error(`not done: ${JSON.stringify(r)}`);
        for (const a of [r.header.source!, r.header.destination!]) {
          const family = net.isIP(a.address);
          expect(family).not.toBe(0);
          expect(nodeForm(a.address, family === 4 ? 'ipv4' : 'ipv6')).toBe(a.address);
        }
      }),
      BUDGET,
    );
  });

  it('mutated v1 lines: accepted exactly when the net.isIP reference accepts, with the same header and length', () => {
    const v1Arb = fc.oneof(v1Tcp4Arb, v1Tcp6Arb, v1UnknownArb);
    checkProperty(
      fc.property(v1Arb, mutationArb, trailingArb, cutsArb, (c, ops, trailing, cuts) => {
        const input = Buffer.concat([mutate(c.bytes, ops), trailing]);
        const whole = feed([input]).r;
        expect(feed(fragments(input, cuts)).r).toEqual(whole);
        if (input.length === 0 || !input.subarray(0, 6).equals(Buffer.from('PROXY '))) return;
        const ref = referenceV1(input);
        const label = JSON.stringify(input.toString('latin1'));
        if (ref === null) expect(whole.state, label).not.toBe('done');
        else expect(whole, label).toEqual({ state: 'done', header: ref.header, length: ref.length });
      }),
      BUDGET,
    );
  });

  it('garbage and valid prefixes + garbage: never throws, splits as whole, never \'more\' past the bound', () => {
    const garbageArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.tuple(validArb, fc.nat(), fc.uint8Array({ maxLength: 300 })).map(([c, cut, g]) => Buffer.concat([c.bytes.subarray(0, cut % (c.bytes.length + 1)), g])),
      fc.tuple(validArb, mutationArb).map(([c, ops]) => mutate(c.bytes, ops)),
      fc.tuple(fc.constantFrom(SIGNATURE, Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '), Buffer.from('PROXY UNKNOWN ')), fc.uint8Array({ maxLength: 300 }))
        .map(([p, g]) => Buffer.concat([p, g])),
      // long v1 lines without CRLF, and v1 address parts from the right alphabet
      fc.tuple(fc.constantFrom('PROXY UNKNOWN ', 'PROXY TCP6 ', 'PROXY TCP4 '), fc.string({ unit: fc.constantFrom(...'0123456789abcdef:. x\r\n'), maxLength: 200 }))
        .map(([p, g]) => Buffer.from(p + g, 'latin1')),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdef:. x'), minLength: 80, maxLength: 200 }).map((g) => Buffer.from(`PROXY UNKNOWN ${g}`, 'latin1')),
      // v2 fixed parts that pass the version check, with any family and length
      fc.tuple(fc.constantFrom(0x20, 0x21), fc.oneof(fc.constantFrom(0x00, 0x11, 0x21, 0x31, 0x12), fc.integer({ min: 0, max: 255 })),
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffff })), fc.uint8Array({ maxLength: 400 }))
        .map(([verCmd, family, length, body]) => {
          const fixed = Buffer.from([verCmd, family, length >> 8, length & 0xff]);
          return Buffer.concat([SIGNATURE, fixed, body]);
        }),
    );
    const maxArb = fc.option(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 11, 12, 35, 36, 216, DEFAULT_MAX_PROXY_V2_LENGTH)));
    checkProperty(
      fc.property(garbageArb, maxArb, cutsArb, (input, maybeMax, cuts) => {
        const max = maybeMax ?? undefined;
        const whole = feed([input], max);
        const split = feed(fragments(input, cuts), max);
        expect(split.r).toEqual(whole.r);
        const bound = input[0] === 0x50 ? PROXY_V1_MAX_LENGTH - 1 : PROXY_V2_FIXED_LENGTH + (max ?? DEFAULT_MAX_PROXY_V2_LENGTH) - 1;
        if (whole.r.state === 'more') expect(input.length).toBeLessThanOrEqual(bound);
        if (whole.r.state === 'done') {
          // Self-delimiting: the header alone gives the same answer; the bound holds.
          expect(whole.r.length).toBeLessThanOrEqual(Math.min(input.length, bound + 1));
          expect(feed([input.subarray(0, whole.r.length)], max).r).toEqual(whole.r);
        }
        // And it always ends: padding past the bound brings a verdict.
        const padding = Math.max(PROXY_V1_MAX_LENGTH, PROXY_V2_FIXED_LENGTH + (max ?? DEFAULT_MAX_PROXY_V2_LENGTH));
        const padded = feed([input, Buffer.alloc(padding, 0x41)], max);
        expect(padded.r.state).not.toBe('more');
      }),
      BUDGET,
    );
  });
});
