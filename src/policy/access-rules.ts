/**
 * access.allow / access.deny rules: parse one rule string, and compile a list of them once per config
 * snapshot into tables that answer "which rule matches this name (or address) and port" without walking
 * the list per request.
 *
 * Syntax (one string per rule):
 * - names: `example.com` (that name only), `*.example.com` (any name strictly below it, any depth; not
 *   the apex), `*` (any name). One trailing dot is ignored, on rules and on looked-up names.
 * - addresses: `1.2.3.4`, `10.0.0.0/8`, `2001:db8::1`, `2001:db8::/32`, `[2001:db8::1]`, `[2001:db8::/32]`.
 *   IPv4 only as a dotted quad (ip.ts: resolvers disagree on the other spellings), host bits clear, no zone.
 * - an optional `:PORT` or `:LO-HI` (1..65535) after a name, an IPv4 address or block, or a bracketed
 *   IPv6 form. An unbracketed IPv6 form has no port (its last group would be ambiguous). No port: any.
 *
 * Matching semantics are cidr.ts's `cidrContains`: an IPv4-mapped address (::ffff:a.b.c.d) matches IPv4
 * blocks by its embedded address and IPv6 blocks (::ffff:0:0/96) as itself; a plain IPv4 address matches
 * IPv4 blocks only. Of the rules that match, the lowest index wins.
 *
 * Tables: exact names and suffixes in Maps (a lookup tries only the suffixes at the name's label
 * boundaries, and only those whose length some rule has), and per address family one Map per prefix
 * length in use, keyed by the masked address. Lookups allocate nothing but the substrings they look up.
 */
import { parseCidr, type Cidr } from './cidr.js';
import { isHostName, parsePort } from './host-port.js';
import { isIPv4Mapped, parseIPv4, parseIPv6 } from './ip.js';

export interface ParsedAccessRule {
  readonly kind: 'name' | 'suffix' | 'any' | 'address';
  /** The exact name, or the suffix without `*.`; lower-case, no trailing dot. */
  readonly name?: string;
  readonly cidr?: Cidr;
  /** Inclusive port range; 1..65535 when the rule names no port. */
  readonly portLo: number;
  readonly portHi: number;
}

export interface AccessRule {
  readonly list: 'allow' | 'deny';
  /** Position in its list, from 0. */
  readonly index: number;
  /** As written in the config. */
  readonly text: string;
  /** The optional name the config gives it. */
  readonly name: string | null;
  /** How logs and Proxy-Status name it: `deny rule 2: *.example.net`, or `deny rule "partners": *.example.net` when named. */
  readonly id: string;
  readonly parsed: ParsedAccessRule;
}

const CH_STAR = 0x2a;
const CH_DOT = 0x2e;
const CH_SLASH = 0x2f;
const CH_COLON = 0x3a;
const CH_LBRACKET = 0x5b;
const CH_RBRACKET = 0x5d;
const CH_PERCENT = 0x25;
const CH_DASH = 0x2d;

/** Parse and lookup scratch for IPv6 bytes (single-threaded; never held across calls). */
const scratch16 = new Uint8Array(16);

const LEGACY_IPV4 = 'write IPv4 addresses as four decimal numbers (0-255, no leading zeros)';

// ---------------------------------------------------------------- parsing

/**
 * Parse one rule. Throws an Error whose message is a one-line reason; it quotes a part of the rule when
 * that helps, never the whole (the config layer adds the key and the rule).
 * Upper case is folded (names and IPv6 hex compare lower-case); everything else must be exact.
 */
export function parseAccessRule(text: string): ParsedAccessRule {
  if (text.length === 0) throw new Error('empty rule');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) throw new Error('a rule must not contain spaces or control characters');
    if (c > 0x7e) throw new Error('non-ASCII characters: write names in punycode (xn--…)');
    if (c === CH_PERCENT) throw new Error('zone ids (%…) are not allowed in rules');
  }
  const lower = text.toLowerCase();
  if (lower.charCodeAt(0) === CH_LBRACKET) return parseBracketed(lower);
  let first = -1;
  let last = -1;
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === CH_LBRACKET || c === CH_RBRACKET) throw new Error(`"${c === CH_LBRACKET ? '[' : ']'}" out of place: an IPv6 address with a port is written [2001:db8::1]:443`);
    if (c === CH_COLON) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first >= 0 && first !== last) return parseIPv6Block(lower, false, 1, 65535); // unbracketed IPv6: no port
  if (first < 0) return parseHost(lower, 1, 65535);
  if (first === 0) throw new Error('nothing before the port');
  const ports = parsePortSpec(lower, first + 1);
  return parseHost(lower.slice(0, first), ports >>> 16, ports & 0xffff);
}

function parseBracketed(lower: string): ParsedAccessRule {
  let close = -1;
  for (let i = 1; i < lower.length; i++) {
    if (lower.charCodeAt(i) === CH_RBRACKET) {
      close = i;
      break;
    }
  }
  if (close < 0) throw new Error('missing "]"');
  const inner = lower.slice(1, close);
  if (inner.length === 0) throw new Error('nothing inside "[]"');
  if (inner.indexOf(':') < 0) throw new Error(`[${inner}] is not an IPv6 address: brackets are only for IPv6 addresses and blocks`);
  let lo = 1;
  let hi = 65535;
  if (close + 1 < lower.length) {
    if (lower.charCodeAt(close + 1) !== CH_COLON) throw new Error('after "]" only ":PORT" or ":LO-HI" may follow');
    const ports = parsePortSpec(lower, close + 2);
    lo = ports >>> 16;
    hi = ports & 0xffff;
  }
  return parseIPv6Block(inner, true, lo, hi);
}

/** `PORT` or `LO-HI` from `from` to the end, packed as lo << 16 | hi. */
function parsePortSpec(text: string, from: number): number {
  if (from >= text.length) throw new Error('missing port after ":"');
  let dash = -1;
  for (let i = from; i < text.length; i++) {
    if (text.charCodeAt(i) === CH_DASH) {
      dash = i;
      break;
    }
  }
  const lo = checkPort(text, from, from, dash < 0 ? text.length : dash);
  const hi = dash < 0 ? lo : checkPort(text, from, dash + 1, text.length);
  if (lo > hi) throw new Error(`port range ${lo}-${hi} is backwards (write LO-HI)`);
  return ((lo << 16) | hi) >>> 0;
}

function checkPort(text: string, specFrom: number, from: number, to: number): number {
  const port = parsePort(text, from, to);
  if (port === 0) throw new Error('"0" is not a port: ports are 1..65535');
  if (port < 0) throw new Error(`"${text.slice(specFrom)}" is not a port or port range (1..65535, LO-HI)`);
  return port;
}

/** An IPv6 address or block (the text between brackets, or an unbracketed rule with two or more colons). */
function parseIPv6Block(text: string, bracketed: boolean, portLo: number, portHi: number): ParsedAccessRule {
  const slash = text.indexOf('/');
  if (!bracketed && slash >= 0 && text.indexOf(':', slash) >= 0) {
    throw new Error(`to give an IPv6 block a port, bracket it: [${text.slice(0, text.lastIndexOf(':'))}]${text.slice(text.lastIndexOf(':'))}`);
  }
  const slashAt = slash < 0 ? text.length : slash;
  if (!parseIPv6(text, scratch16, 0, slashAt)) throw new Error(`"${text.slice(0, slashAt)}" is not an IPv6 address`);
  const cidr = parseCidr(text); // its message is the reason: prefix length, host bits set
  // An IPv4-mapped block would match only the mapped spelling, never the IPv4 answers a name resolves to:
  // a deny rule written so would quietly let them through. The IPv4 form covers both.
  if (cidr.prefix >= 96 && isMappedPrefix(cidr.bytes)) {
    const b = cidr.bytes;
    throw new Error(`an IPv4-mapped block matches only that spelling: write the IPv4 form (${b[12]}.${b[13]}.${b[14]}.${b[15]}${cidr.prefix === 128 ? '' : `/${cidr.prefix - 96}`}), which covers both`);
  }
  return { kind: 'address', cidr, portLo, portHi };
}

/** ::ffff:0:0/96: ten zero bytes, then two 0xff. */
function isMappedPrefix(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** A name, a pattern, an IPv4 address or an IPv4 block (no port, no brackets). */
function parseHost(host: string, portLo: number, portHi: number): ParsedAccessRule {
  if (host.indexOf('/') >= 0) return { kind: 'address', cidr: parseIPv4Block(host), portLo, portHi };
  if (host === '*') return { kind: 'any', portLo, portHi };
  if (host.length >= 2 && host.charCodeAt(0) === CH_STAR && host.charCodeAt(1) === CH_DOT) {
    const suffix = stripDot(host.slice(2));
    if (suffix.length === 0) throw new Error('"*." must be followed by a domain name, as in *.example.com');
    if (suffix.indexOf('*') >= 0) throw new Error('"*" is only allowed as a whole first label ("*.example.com") or alone ("*")');
    if (endsInNumber(suffix)) throw new Error('"*." must be followed by a domain name; for addresses write a block such as 10.0.0.0/8');
    if (!isHostName(suffix)) throw new Error(`"${suffix}" after "*." is not a domain name`);
    return { kind: 'suffix', name: suffix, portLo, portHi };
  }
  if (host.indexOf('*') >= 0) throw new Error('"*" is only allowed as a whole first label ("*.example.com") or alone ("*")');
  const v4 = parseIPv4(host);
  if (v4 >= 0) return { kind: 'address', cidr: parseCidr(host), portLo, portHi };
  const name = stripDot(host);
  if (name.length === 0) throw new Error('no host name');
  if (parseIPv4(name) >= 0) throw new Error('no trailing dot after an IPv4 address');
  if (endsInNumber(name)) throw new Error(`not a dotted-quad IPv4 address: ${LEGACY_IPV4}`);
  if (!isHostName(name)) throw new Error('not a host name, IP address, CIDR block or pattern');
  return { kind: 'name', name, portLo, portHi };
}

function parseIPv4Block(text: string): Cidr {
  const slash = text.indexOf('/');
  if (slash === 0) throw new Error('nothing before "/"');
  if (parseIPv4(text, 0, slash) < 0) {
    if (endsInNumber(text.slice(0, slash))) throw new Error(`not a dotted-quad IPv4 address: ${LEGACY_IPV4}`);
    throw new Error(`"${text.slice(0, slash)}" is not an IP address: "/" must follow an address`);
  }
  return parseCidr(text);
}

function stripDot(name: string): string {
  return name.length > 0 && name.charCodeAt(name.length - 1) === CH_DOT ? name.slice(0, -1) : name;
}

/**
 * The WHATWG URL host parser's "ends in a number": a last label of decimal digits or 0x + hex digits.
 * Browsers and curl read such hosts as IPv4 (`127.1`, `0x7f.1`, `2130706433`); a rule spelled that way
 * would not mean what a reader of the config expects, so it is refused rather than taken as a name.
 */
function endsInNumber(name: string): boolean {
  let start = name.lastIndexOf('.') + 1;
  if (start === name.length) return false;
  let hex = false;
  if (name.length - start >= 2 && name.charCodeAt(start) === 0x30 && name.charCodeAt(start + 1) === 0x78) {
    hex = true;
    start += 2;
  }
  for (let i = start; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const isDigit = c >= 0x30 && c <= 0x39;
    if (!isDigit && !(hex && c >= 0x61 && c <= 0x66)) return false;
  }
  return true;
}

// ---------------------------------------------------------------- compiled set

/** One rule in a table: its ports and index flattened so the lookup loop reads one object. */
class Slot {
  constructor(
    readonly lo: number,
    readonly hi: number,
    readonly index: number,
    readonly rule: AccessRule,
  ) {}
}

/** The rules of one IPv4 prefix length, keyed by the masked address as an int32 (a Smi on 64-bit V8). */
interface V4Table {
  readonly prefix: number;
  readonly mask: number;
  readonly slots: Map<number, Slot[]>;
  /** The index of its first rule (rules are added in index order). */
  readonly minIndex: number;
}

/** One IPv6 block: its four masked words; `next` chains blocks whose hashes collide. */
class V6Entry {
  next: V6Entry | null = null;
  readonly slots: Slot[] = [];
  constructor(
    readonly w0: number,
    readonly w1: number,
    readonly w2: number,
    readonly w3: number,
  ) {}
}

/**
 * The rules of one IPv6 prefix length, keyed by a 32-bit hash of the masked words (no string or BigInt
 * made per lookup); the entry's words are compared to confirm.
 */
interface V6Table {
  readonly prefix: number;
  readonly masks: Int32Array;
  readonly entries: Map<number, V6Entry>;
  readonly minIndex: number;
}

const NAME_LENGTHS = 256;

/** An error from AccessRuleSet's constructor: which entry, and parseAccessRule's reason. */
export class AccessRuleError extends Error {
  constructor(
    readonly index: number,
    readonly text: string,
    readonly reason: string,
  ) {
    super(`[${index}] "${text}": ${reason}`);
    this.name = 'AccessRuleError';
  }
}

export class AccessRuleSet {
  readonly size: number;
  readonly hasNameRules: boolean;
  readonly hasAddressRules: boolean;
  readonly rules: readonly AccessRule[];
  private readonly exact = new Map<string, Slot[]>();
  private readonly suffixes = new Map<string, Slot[]>();
  private readonly any: Slot[] = [];
  /** exactLengths[n] / suffixLengths[n] = 1 when some rule's name or suffix has n characters. */
  private readonly exactLengths = new Uint8Array(NAME_LENGTHS);
  private readonly suffixLengths = new Uint8Array(NAME_LENGTHS);
  private readonly v4: V4Table[] = [];
  private readonly v6: V6Table[] = [];

  /** Throws AccessRuleError (message `[INDEX] "TEXT": reason`) for the first rule that does not parse. */
  constructor(list: 'allow' | 'deny', entries: readonly { text: string; name?: string | null }[]) {
    const rules: AccessRule[] = [];
    for (let index = 0; index < entries.length; index++) {
      const { text, name = null } = entries[index]!;
      let parsed: ParsedAccessRule;
      try {
        parsed = parseAccessRule(text);
      } catch (err) {
        throw new AccessRuleError(index, text, (err as Error).message);
      }
      const id = name === null ? `${list} rule ${index}: ${text}` : `${list} rule "${name}": ${text}`;
      const rule: AccessRule = { list, index, text, name, id, parsed };
      rules.push(rule);
      this.add(new Slot(parsed.portLo, parsed.portHi, index, rule));
    }
    // Tables whose lowest index is lowest first: once a match is found, later tables that cannot beat it are skipped.
    this.v4.sort((a, b) => a.minIndex - b.minIndex);
    this.v6.sort((a, b) => a.minIndex - b.minIndex);
    this.rules = rules;
    this.size = rules.length;
    this.hasAddressRules = this.v4.length + this.v6.length > 0;
    this.hasNameRules = this.exact.size + this.suffixes.size + this.any.length > 0;
  }

  private add(slot: Slot): void {
    const p = slot.rule.parsed;
    if (p.kind === 'any') this.any.push(slot);
    else if (p.kind === 'name') addTo(this.exact, this.exactLengths, p.name!, slot);
    else if (p.kind === 'suffix') addTo(this.suffixes, this.suffixLengths, p.name!, slot);
    else if (p.cidr!.family === 4) this.addV4(p.cidr!, slot);
    else this.addV6(p.cidr!, slot);
  }

  private addV4(cidr: Cidr, slot: Slot): void {
    let table = this.v4.find((t) => t.prefix === cidr.prefix);
    if (table === undefined) {
      table = { prefix: cidr.prefix, mask: maskWord(cidr.prefix), slots: new Map(), minIndex: slot.index };
      this.v4.push(table);
    }
    const key = word(cidr.bytes, 0);
    const list = table.slots.get(key);
    if (list === undefined) table.slots.set(key, [slot]);
    else list.push(slot);
  }

  private addV6(cidr: Cidr, slot: Slot): void {
    let table = this.v6.find((t) => t.prefix === cidr.prefix);
    if (table === undefined) {
      const masks = new Int32Array(4);
      for (let k = 0; k < 4; k++) masks[k] = maskWord(cidr.prefix - 32 * k);
      table = { prefix: cidr.prefix, masks, entries: new Map(), minIndex: slot.index };
      this.v6.push(table);
    }
    const b = cidr.bytes;
    const w0 = word(b, 0);
    const w1 = word(b, 4);
    const w2 = word(b, 8);
    const w3 = word(b, 12);
    const h = hash4(w0, w1, w2, w3);
    const head = table.entries.get(h) ?? null;
    let e = head;
    while (e !== null && !(e.w0 === w0 && e.w1 === w1 && e.w2 === w2 && e.w3 === w3)) e = e.next;
    if (e === null) {
      e = new V6Entry(w0, w1, w2, w3);
      e.next = head;
      table.entries.set(h, e);
    }
    e.slots.push(slot);
  }

  /**
   * The lowest-index name rule (exact, suffix, any) that matches this host name and port, or null.
   * Names arrive lower-case, maybe with one trailing dot. Callers pass names only: `*` matches anything.
   */
  matchName(name: string, port: number): AccessRule | null {
    let end = name.length;
    if (end > 0 && name.charCodeAt(end - 1) === CH_DOT) end--;
    let best: Slot | null = null;
    if (end < NAME_LENGTHS && this.exactLengths[end] === 1) {
      best = firstFit(this.exact.get(end === name.length ? name : name.slice(0, end)), port, best);
    }
    const lengths = this.suffixLengths;
    if (this.suffixes.size > 0) {
      // Suffixes at label boundaries, longest first; a length no rule has costs one table read.
      for (let i = 0; i < end; i++) {
        if (name.charCodeAt(i) !== CH_DOT) continue;
        const length = end - i - 1;
        if (length < NAME_LENGTHS && lengths[length] === 1) best = firstFit(this.suffixes.get(name.slice(i + 1, end)), port, best);
      }
    }
    if (this.any.length > 0) best = firstFit(this.any, port, best);
    return best === null ? null : best.rule;
  }

  /**
   * The lowest-index address rule whose block contains this address and whose ports include port, or null.
   * The address is an IP literal as Node and the DNS cache print it; an IPv4-mapped address matches IPv4
   * blocks as its IPv4 and IPv6 blocks as itself. Not an IP literal: null.
   */
  matchAddress(address: string, port: number): AccessRule | null {
    const v4 = parseIPv4(address);
    let best: Slot | null = null;
    if (v4 >= 0) {
      best = matchV4(this.v4, v4 | 0, port, null);
    } else if (parseIPv6(address, scratch16)) {
      const b = scratch16;
      if (this.v4.length > 0 && isIPv4Mapped(b)) best = matchV4(this.v4, word(b, 12), port, null);
      if (this.v6.length > 0) best = matchV6(this.v6, word(b, 0), word(b, 4), word(b, 8), word(b, 12), port, best);
    }
    return best === null ? null : best.rule;
  }

  /**
   * For `dfp check --explain`: every rule that matches, in index order. An IP literal (bare, or IPv6 in
   * brackets) is matched against the address rules, anything else as a name against the name rules.
   */
  allMatches(nameOrAddress: string, port: number): AccessRule[] {
    let text = nameOrAddress;
    if (text.length > 2 && text.charCodeAt(0) === CH_LBRACKET && text.charCodeAt(text.length - 1) === CH_RBRACKET) text = text.slice(1, -1);
    const out: Slot[] = [];
    if (parseIPv4(text) >= 0 || text.indexOf(':') >= 0) this.collectAddress(text, port, out);
    else this.collectName(text, port, out);
    out.sort((a, b) => a.index - b.index);
    return out.map((s) => s.rule);
  }

  private collectName(name: string, port: number, out: Slot[]): void {
    const bare = stripDot(name);
    collect(this.exact.get(bare), port, out);
    for (let i = 0; i < bare.length; i++) {
      if (bare.charCodeAt(i) === CH_DOT) collect(this.suffixes.get(bare.slice(i + 1)), port, out);
    }
    collect(this.any, port, out);
  }

  private collectAddress(address: string, port: number, out: Slot[]): void {
    const v4 = parseIPv4(address);
    let a4 = v4 | 0;
    let hasV4 = v4 >= 0;
    const b = scratch16;
    const hasV6 = !hasV4 && parseIPv6(address, b);
    if (hasV6 && isIPv4Mapped(b)) {
      a4 = word(b, 12);
      hasV4 = true;
    }
    if (hasV4) for (const t of this.v4) collect(t.slots.get(a4 & t.mask), port, out);
    if (!hasV6) return;
    const w0 = word(b, 0);
    const w1 = word(b, 4);
    const w2 = word(b, 8);
    const w3 = word(b, 12);
    for (const t of this.v6) {
      const e = findV6(t, w0, w1, w2, w3);
      if (e !== null) collect(e.slots, port, out);
    }
  }
}

function addTo(map: Map<string, Slot[]>, lengths: Uint8Array, key: string, slot: Slot): void {
  if (key.length < NAME_LENGTHS) lengths[key.length] = 1;
  const list = map.get(key);
  if (list === undefined) map.set(key, [slot]);
  else list.push(slot);
}

/**
 * The first slot of `list` (in index order) whose ports include `port`, if its index is below `best`'s;
 * else `best`. Several rules may share a key with different ports, hence a list.
 */
function firstFit(list: Slot[] | undefined, port: number, best: Slot | null): Slot | null {
  if (list === undefined) return best;
  const limit = best === null ? 0x7fffffff : best.index;
  for (let i = 0; i < list.length; i++) {
    const s = list[i]!;
    if (s.index >= limit) return best;
    if (port >= s.lo && port <= s.hi) return s;
  }
  return best;
}

function collect(list: Slot[] | undefined, port: number, out: Slot[]): void {
  if (list === undefined) return;
  for (const s of list) if (port >= s.lo && port <= s.hi) out.push(s);
}

function matchV4(tables: V4Table[], a: number, port: number, best: Slot | null): Slot | null {
  for (let i = 0; i < tables.length; i++) {
    const t = tables[i]!;
    if (best !== null && t.minIndex >= best.index) break; // sorted by minIndex: none further can win
    best = firstFit(t.slots.get(a & t.mask), port, best);
  }
  return best;
}

function matchV6(tables: V6Table[], w0: number, w1: number, w2: number, w3: number, port: number, best: Slot | null): Slot | null {
  for (let i = 0; i < tables.length; i++) {
    const t = tables[i]!;
    if (best !== null && t.minIndex >= best.index) break;
    const e = findV6(t, w0, w1, w2, w3);
    if (e !== null) best = firstFit(e.slots, port, best);
  }
  return best;
}

function findV6(t: V6Table, w0: number, w1: number, w2: number, w3: number): V6Entry | null {
  const m = t.masks;
  const a0 = w0 & m[0]!;
  const a1 = w1 & m[1]!;
  const a2 = w2 & m[2]!;
  const a3 = w3 & m[3]!;
  let e = t.entries.get(hash4(a0, a1, a2, a3)) ?? null;
  while (e !== null && !(e.w0 === a0 && e.w1 === a1 && e.w2 === a2 && e.w3 === a3)) e = e.next;
  return e;
}

/** Four bytes from `at`, big-endian, as an int32. */
function word(b: Uint8Array, at: number): number {
  return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
}

/** The int32 mask of the first `bits` bits (clamped to 0..32). */
function maskWord(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return -1;
  return -1 << (32 - bits);
}

/** A 31-bit hash (a Smi) of four words; equal words give equal hashes, collisions are confirmed by the entry. */
function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b ^ (a >>> 15), 0x85ebca77);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae3d) ^ Math.imul(c, 0x27d4eb2f) ^ Math.imul(d, 0x165667b1);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}
