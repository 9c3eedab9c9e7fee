/**
 * An incremental, bounded PROXY protocol header parser (haproxy doc/proxy-protocol.txt,
 * versions 1 and 2). A balancer in front of dfp sends one header first on each
 * connection; the listener feeds the first chunks here, takes the client address from
 * the header and hands the bytes after it (`length` onwards) to HTTP or TLS.
 * A connection without a valid header is refused: the spec forbids guessing.
 *
 * Rules:
 * - The first byte picks the version: `P` → v1, CR → v2, anything else → 'not_proxy_protocol'
 *   (so `GET …` or a TLS record (0x16) is refused on its first byte). Each further byte of
 *   `PROXY ` or of the v2 signature is checked as it arrives.
 * - v1: `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN[ anything]\r\n`, CRLF
 *   within 107 bytes ('v1_too_long' once 107 bytes hold none). Single spaces; IPv4 dotted
 *   quads without leading zeros (policy/ip.ts parseIPv4), IPv6 text without a zone (an
 *   optional dotted-quad tail is allowed, as inet_pton allows it); ports 0..65535 without
 *   leading zeros. A bare CR or LF, or a byte that cannot appear in the line, → 'v1_malformed'
 *   at that byte, without waiting for the CRLF.
 * - v2: signature, version nibble 2 ('v2_bad_version'), command LOCAL 0 / PROXY 1
 *   ('v2_bad_command'), family byte 0x00 / 0x11 / 0x21 / 0x31 for PROXY ('v2_bad_family':
 *   DGRAM and unassigned values); for LOCAL the family and addresses are ignored, as the
 *   spec requires. Length above maxV2Length → 'v2_too_long', below the address block of a
 *   PROXY family → 'v2_short_address', both decided on the 16th byte. TLVs after the
 *   addresses are skipped uninterpreted; nothing past the length is read.
 * - Addresses come out as Node prints a socket's remoteAddress (libuv inet_ntop): dotted
 *   IPv4, compressed lower-case IPv6, `::ffff:a.b.c.d` for IPv4-mapped and `::a.b.c.d`
 *   for the deprecated IPv4-compatible form.
 * - `source`/`destination` are null for LOCAL, v1 UNKNOWN, and v2 PROXY with AF_UNSPEC or
 *   AF_UNIX (`local` stays false there): the caller keeps the socket's own address whenever
 *   `source` is null.
 *
 * A header read inside one chunk is parsed in place; one that spans chunks is copied into
 * a buffer of at most 107 bytes (v1) or 16 + its length (v2). So 'more' is never returned
 * once 107 (v1) or 16 + maxV2Length (v2) bytes were fed. Verdicts are sticky until reset().
 * push() never throws.
 */

import { formatIPv6, hasZone, parseIPv4, parseIPv6 } from '../policy/ip.js';

export interface ProxyAddress {
  readonly address: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** LOCAL (v2 command 0, or v1 "UNKNOWN"): the connection is the balancer's own (health check): keep the socket's own address. */
  readonly local: boolean;
  /** The original client and the address it connected to; null when local or the family is UNSPEC/UNIX (v2 AF_UNIX: treat like local). */
  readonly source: ProxyAddress | null;
  readonly destination: ProxyAddress | null;
}

export type ProxyProtocolReason =
  | 'not_proxy_protocol'
  | 'v1_too_long'
  | 'v1_malformed'
  | 'v2_bad_version'
  | 'v2_bad_command'
  | 'v2_bad_family'
  | 'v2_too_long'
  | 'v2_short_address';

export type ProxyParse =
  | { readonly state: 'more' }
  | { readonly state: 'done'; readonly header: ProxyHeader; readonly length: number }
  | { readonly state: 'error'; readonly reason: ProxyProtocolReason };

export interface ProxyProtocolOptions {
  /** Largest v2 length field accepted (bytes after the 16-byte fixed part); default 1024, at most 65535. */
  maxV2Length?: number;
}

/** The longest v1 line, CRLF included (`PROXY UNKNOWN` + two IPv6 addresses and ports). */
export const PROXY_V1_MAX_LENGTH = 107;
/** The v2 signature, version/command, family and length bytes. */
export const PROXY_V2_FIXED_LENGTH = 16;
export const DEFAULT_MAX_PROXY_V2_LENGTH = 1024;
const MAX_V2_LENGTH_FIELD = 0xffff;

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
/** `TCP4` / `TCP6` after `PROXY `; the 4th byte is checked apart. */
const V1_TCP = Buffer.from('TCP', 'latin1');
const V1_UNKNOWN = Buffer.from('UNKNOWN', 'latin1');
/** Index of the first byte after `PROXY `. */
const V1_PROTO_AT = V1_PREFIX.length;
/** Index of the space after `TCP4`, and of the byte after `UNKNOWN`. */
const V1_TCP_SPACE_AT = V1_PROTO_AT + 4;
const V1_UNKNOWN_END_AT = V1_PROTO_AT + V1_UNKNOWN.length;
/** A CR may stand at most here, so that its LF is the 107th byte. */
const V1_LAST_CR_AT = PROXY_V1_MAX_LENGTH - 2;

const KIND_NONE = 0;
const KIND_V1 = 1;
const KIND_V2 = 2;
const V1_PROTO_NONE = 0;
const V1_PROTO_TCP = 1;
const V1_PROTO_UNKNOWN = 2;

const V2_COMMAND_LOCAL = 0;
const V2_COMMAND_PROXY = 1;
const V2_FAMILY_UNSPEC = 0x00;
const V2_FAMILY_TCP4 = 0x11;
const V2_FAMILY_TCP6 = 0x21;
const V2_FAMILY_UNIX_STREAM = 0x31;

/** Bytes that can stand in the address/port part of a TCP4/TCP6 line: hex digits, `.`, `:`, space. */
const V1_ADDRESS_CHAR = buildAddressCharTable();

function buildAddressCharTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x46; c++) table[c] = 1;
  for (let c = 0x61; c <= 0x66; c++) table[c] = 1;
  table[0x2e] = 1;
  table[0x3a] = 1;
  table[SPACE] = 1;
  return table;
}

const MORE: ProxyParse = Object.freeze({ state: 'more' });

/** Address bytes a v2 PROXY family needs (both addresses and ports); -1 for a family refused here. */
function v2AddressLength(family: number): number {
  switch (family) {
    case V2_FAMILY_UNSPEC: return 0;
    case V2_FAMILY_TCP4: return 12;
    case V2_FAMILY_TCP6: return 36;
    case V2_FAMILY_UNIX_STREAM: return 216;
    default: return -1;
  }
}

export class ProxyProtocolParser {
  private readonly maxV2Length: number;
  private verdict!: ProxyParse | null;
  private kind!: number;
  /** Header bytes already checked (the next byte to look at). */
  private scanned!: number;
  /** v1: which protocol token follows `PROXY `. */
  private v1Proto!: number;
  /** v2: the command and family bytes, and the length field as it is assembled. */
  private v2Command!: number;
  private v2Family!: number;
  private v2Length!: number;
  /** v2: 16 + length once the length is known; 0 before. */
  private v2Total!: number;
  /** The header bytes so far when it spans chunks; null while it can be read in place. */
  private held!: Buffer | null;
  private heldLength!: number;

  constructor(opts?: ProxyProtocolOptions) {
    const maxV2Length = opts?.maxV2Length ?? DEFAULT_MAX_PROXY_V2_LENGTH;
    if (!Number.isInteger(maxV2Length) || maxV2Length < 0 || maxV2Length > MAX_V2_LENGTH_FIELD) {
      throw new RangeError(`maxV2Length must be an integer in 0..${MAX_V2_LENGTH_FIELD}, got ${maxV2Length}`);
    }
    this.maxV2Length = maxV2Length;
    this.reset();
  }

  reset(): void {
    this.verdict = null;
    this.kind = KIND_NONE;
    this.scanned = 0;
    this.v1Proto = V1_PROTO_NONE;
    this.v2Command = 0;
    this.v2Family = 0;
    this.v2Length = 0;
    this.v2Total = 0;
    this.held = null;
    this.heldLength = 0;
  }

  /** Feed the next chunk; the parser keeps what it needs across calls (copy only when a header spans chunks). */
  push(chunk: Buffer): ProxyParse {
    if (this.verdict !== null) return this.verdict;
    if (this.held !== null) return this.pushHeld(chunk);
    if (chunk.length === 0) return MORE;
    const r = this.scan(chunk, chunk.length);
    if (r !== MORE) return this.settle(r);
    // The whole chunk is a header prefix (scan asks for more only below the capacity).
    this.held = Buffer.allocUnsafe(this.capacity());
    chunk.copy(this.held, 0, 0, chunk.length);
    this.heldLength = chunk.length;
    return MORE;
  }

  /** Rare path: the header spans chunks, so its bytes are gathered in `held`, never past the header's end. */
  private pushHeld(chunk: Buffer): ProxyParse {
    let off = 0;
    for (;;) {
      const cap = this.capacity();
      let held = this.held!;
      if (cap > held.length) {
        held = Buffer.allocUnsafe(cap);
        this.held!.copy(held, 0, 0, this.heldLength);
        this.held = held;
      }
      let take = cap - this.heldLength;
      if (take > chunk.length - off) take = chunk.length - off;
      chunk.copy(held, this.heldLength, off, off + take);
      this.heldLength += take;
      off += take;
      const r = this.scan(held, this.heldLength);
      if (r !== MORE) return this.settle(r);
      // 'more' with bytes left means held was full and the v2 length just raised the capacity.
      if (off === chunk.length) return MORE;
    }
  }

  /** The most header bytes that can be needed given what is known. */
  private capacity(): number {
    if (this.kind === KIND_V1) return PROXY_V1_MAX_LENGTH;
    return this.v2Total > 0 ? this.v2Total : PROXY_V2_FIXED_LENGTH;
  }

  private settle(r: ProxyParse): ProxyParse {
    this.verdict = r;
    this.held = null;
    this.heldLength = 0;
    return r;
  }

  /** Check b[scanned, n) (b[0, n) are the first header bytes); a verdict, or MORE. */
  private scan(b: Buffer, n: number): ProxyParse {
    if (this.kind === KIND_NONE) {
      const first = b[0]!;
      if (first === V1_PREFIX[0]) this.kind = KIND_V1;
      else if (first === V2_SIGNATURE[0]) this.kind = KIND_V2;
      else return fail('not_proxy_protocol');
    }
    return this.kind === KIND_V1 ? this.scanV1(b, n) : this.scanV2(b, n);
  }

  private scanV1(b: Buffer, n: number): ProxyParse {
    for (let i = this.scanned; i < n; i++) {
      if (i > V1_LAST_CR_AT) return fail('v1_too_long');
      const c = b[i]!;
      if (c === CR && i >= V1_PROTO_AT) {
        if (i + 1 === n) {
          this.scanned = i; // look at this CR again with its next byte
          return MORE;
        }
        if (b[i + 1] !== LF) return fail('v1_malformed');
        return parseV1Line(b, i);
      }
      const reason = this.checkV1Byte(c, i);
      if (reason !== null) return fail(reason);
    }
    this.scanned = n;
    return MORE;
  }

  /** Early rejection: could byte c stand at index i of a v1 line (before its CR)? */
  private checkV1Byte(c: number, i: number): ProxyProtocolReason | null {
    if (i < V1_PROTO_AT) return c === V1_PREFIX[i] ? null : 'not_proxy_protocol';
    if (c === LF) return 'v1_malformed'; // a bare LF: a CR's LF is taken with the CR
    if (i === V1_PROTO_AT) {
      if (c === V1_TCP[0]) this.v1Proto = V1_PROTO_TCP;
      else if (c === V1_UNKNOWN[0]) this.v1Proto = V1_PROTO_UNKNOWN;
      else return 'v1_malformed';
      return null;
    }
    const at = i - V1_PROTO_AT;
    if (this.v1Proto === V1_PROTO_TCP) {
      if (at < V1_TCP.length) return c === V1_TCP[at] ? null : 'v1_malformed';
      if (at === V1_TCP.length) return c === 0x34 || c === 0x36 ? null : 'v1_malformed'; // '4' | '6'
      if (i === V1_TCP_SPACE_AT) return c === SPACE ? null : 'v1_malformed';
      return V1_ADDRESS_CHAR[c] === 1 ? null : 'v1_malformed';
    }
    if (at < V1_UNKNOWN.length) return c === V1_UNKNOWN[at] ? null : 'v1_malformed';
    if (i === V1_UNKNOWN_END_AT) return c === SPACE ? null : 'v1_malformed';
    return null; // the rest of an UNKNOWN line is ignored
  }

  private scanV2(b: Buffer, n: number): ProxyParse {
    let i = this.scanned;
    for (; i < n && i < PROXY_V2_FIXED_LENGTH; i++) {
      const reason = this.checkV2Byte(b[i]!, i);
      if (reason !== null) return fail(reason);
    }
    this.scanned = i;
    if (this.v2Total === 0 || n < this.v2Total) return MORE;
    return this.parseV2Block(b);
  }

  /** One byte of the 16-byte fixed part; every rule is applied at the byte that decides it. */
  private checkV2Byte(c: number, i: number): ProxyProtocolReason | null {
    if (i < V2_SIGNATURE.length) return c === V2_SIGNATURE[i] ? null : 'not_proxy_protocol';
    switch (i) {
      case 12:
        if (c >> 4 !== 2) return 'v2_bad_version';
        this.v2Command = c & 0x0f;
        return this.v2Command === V2_COMMAND_LOCAL || this.v2Command === V2_COMMAND_PROXY ? null : 'v2_bad_command';
      case 13:
        this.v2Family = c;
        if (this.v2Command === V2_COMMAND_LOCAL) return null; // LOCAL: the family is ignored (spec §2.2)
        return v2AddressLength(c) < 0 ? 'v2_bad_family' : null;
      case 14:
        this.v2Length = c << 8;
        return null;
      default: {
        const length = this.v2Length | c;
        this.v2Length = length;
        if (length > this.maxV2Length) return 'v2_too_long';
        if (this.v2Command === V2_COMMAND_PROXY && length < v2AddressLength(this.v2Family)) return 'v2_short_address';
        this.v2Total = PROXY_V2_FIXED_LENGTH + length;
        return null;
      }
    }
  }

  /** The whole v2 header is in b[0, v2Total): read the addresses; TLVs after them are skipped. */
  private parseV2Block(b: Buffer): ProxyParse {
    const length = this.v2Total;
    if (this.v2Command === V2_COMMAND_LOCAL) return done(2, true, null, null, length);
    const at = PROXY_V2_FIXED_LENGTH;
    switch (this.v2Family) {
      case V2_FAMILY_TCP4:
        return done(2, false,
          { address: formatIPv4Bytes(b, at), port: b.readUInt16BE(at + 8) },
          { address: formatIPv4Bytes(b, at + 4), port: b.readUInt16BE(at + 10) },
          length);
      case V2_FAMILY_TCP6:
        return done(2, false,
          { address: formatNodeIPv6(b.subarray(at, at + 16)), port: b.readUInt16BE(at + 32) },
          { address: formatNodeIPv6(b.subarray(at + 16, at + 32)), port: b.readUInt16BE(at + 34) },
          length);
      default: // AF_UNSPEC, AF_UNIX: no client address to take; keep the socket's own
        return done(2, false, null, null, length);
    }
  }
}

function fail(reason: ProxyProtocolReason): ProxyParse {
  return { state: 'error', reason };
}

function done(
  version: 1 | 2, local: boolean, source: ProxyAddress | null, destination: ProxyAddress | null, length: number,
): ProxyParse {
  return { state: 'done', header: { version, local, source, destination }, length };
}

/** Scratch for a v1 IPv6 address (module scratch: a parse never yields). */
const ipv6Scratch = new Uint8Array(16);

/**
 * The v1 line b[0, cr) ends in CRLF at cr. Every byte before cr has passed checkV1Byte, but
 * this checks the line whole, so it does not depend on that.
 */
function parseV1Line(b: Buffer, cr: number): ProxyParse {
  const length = cr + 2;
  const text = b.toString('latin1', V1_PROTO_AT, cr);
  if (text.startsWith('UNKNOWN') && (text.length === V1_UNKNOWN.length || text.charCodeAt(V1_UNKNOWN.length) === SPACE)) {
    return done(1, true, null, null, length);
  }
  const isV4 = text.startsWith('TCP4 ');
  if (!isV4 && !text.startsWith('TCP6 ')) return fail('v1_malformed');
  // Four fields after `TCPn `, separated by single spaces.
  const s1 = text.indexOf(' ', 5);
  const s2 = s1 < 0 ? -1 : text.indexOf(' ', s1 + 1);
  const s3 = s2 < 0 ? -1 : text.indexOf(' ', s2 + 1);
  if (s3 < 0 || text.indexOf(' ', s3 + 1) >= 0) return fail('v1_malformed');
  const src = readV1Address(text, 5, s1, isV4);
  const dst = readV1Address(text, s1 + 1, s2, isV4);
  const srcPort = parsePort(text, s2 + 1, s3);
  const dstPort = parsePort(text, s3 + 1, text.length);
  if (src === null || dst === null || srcPort < 0 || dstPort < 0) return fail('v1_malformed');
  return done(1, false, { address: src, port: srcPort }, { address: dst, port: dstPort }, length);
}

/** An address of the stated family in text[from, to), in Node's form; null when invalid. */
function readV1Address(text: string, from: number, to: number, isV4: boolean): string | null {
  if (isV4) return parseIPv4(text, from, to) >= 0 ? text.slice(from, to) : null; // strict form is Node's form
  const literal = text.slice(from, to);
  if (hasZone(literal) || !parseIPv6(literal, ipv6Scratch)) return null;
  return formatNodeIPv6(ipv6Scratch);
}

/** A decimal port 0..65535 in text[from, to), without leading zeros; -1 when invalid. */
function parsePort(text: string, from: number, to: number): number {
  const digits = to - from;
  if (digits < 1 || digits > 5) return -1;
  if (digits > 1 && text.charCodeAt(from) === 0x30) return -1;
  let value = 0;
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value <= 0xffff ? value : -1;
}

function formatIPv4Bytes(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * IPv6 text as Node prints a socket address (libuv uv_inet_ntop): RFC 5952 as formatIPv6,
 * except that an IPv4-compatible address (96 zero bits, then a non-zero 7th group) keeps
 * its dotted tail, `::1.2.3.4`, where RFC 5952 would write `::102:304`.
 */
export function formatNodeIPv6(b: Uint8Array): string {
  for (let k = 0; k < 12; k++) if (b[k] !== 0) return formatIPv6(b);
  if (b[12] === 0 && b[13] === 0) return formatIPv6(b);
  return `::${formatIPv4Bytes(b, 12)}`;
}
