/**
 * The destination policy of one snapshot: the guard (private, loopback, link-local, metadata addresses)
 * and the compiled access.allow / access.deny rules, applied in two steps to every mode's destination.
 *
 * 1. The name, before resolution (`decideName`): a deny rule naming it refuses at once; with an allow
 *    list, an allow rule naming it admits the name (its addresses still pass the guard and the deny
 *    rules); with no allow rule for it and no address rules in the allow list, it is refused before any
 *    DNS query (nothing about it leaves the proxy).
 * 2. Each resolved address (`decideAddressesWithRules`), the address dialled being the one checked:
 *    - unspecified, multicast and unparseable addresses: never dialled;
 *    - a cloud metadata address: only when an allow rule names exactly that address (a /32 or /128 —
 *      `0.0.0.0/0` does not open it);
 *    - other non-public addresses: with allowPrivateDestinations, or when an allow address rule covers
 *      them (an allow CIDR is an explicit opening; an allow *name* never opens a private address, so a
 *      name that rebinds to 10.0.0.1 stays refused);
 *    - a deny address rule covering it (or the IPv4 it embeds): refused — deny wins;
 *    - with an allow list: admitted when the name was allowed or an allow address rule covers it.
 *    Refused addresses are dropped; when none is left the first refusal is the answer (a metadata one
 *    is named first).
 * In report mode the allow/deny rules refuse nothing: what they would refuse is returned as a
 * `Reported` (the log's `would_deny`, dfp_would_deny_total); the guard is enforced in both modes.
 */
import type { AccessConfig } from '../config/types.js';
import { classifyAddress, classifyIPv4, classifyIPv6, embeddedIPv4, isPrivateClass, type AddressClass } from './address.js';
import type { Cidr } from './cidr.js';
import { AccessRuleSet, type AccessRule } from './access-rules.js';
import { denyReasonForAddress } from './deny-reasons.js';
import type { Denial } from './decision.js';

export interface AccessPolicy {
  readonly report: boolean;
  readonly allowPrivate: boolean;
  readonly allow: AccessRuleSet;
  readonly deny: AccessRuleSet;
  /** Some allow or deny rule exists: decisions depend on the name and the port, not only the addresses. */
  readonly hasRules: boolean;
}

export function compileAccessPolicy(access: AccessConfig): AccessPolicy {
  const allow = new AccessRuleSet('allow', access.allow.map((e) => ({ text: e.rule, name: e.name })));
  const deny = new AccessRuleSet('deny', access.deny.map((e) => ({ text: e.rule, name: e.name })));
  return { report: access.mode === 'report', allowPrivate: access.allowPrivateDestinations, allow, deny, hasRules: allow.size + deny.size > 0 };
}

/** A decision of report mode: the addresses are dialled, and the rule that would have refused is logged. */
export class Reported<A> {
  constructor(
    readonly addresses: readonly A[],
    readonly wouldDeny: Denial,
  ) {}
}

/** What the name decided: an allow rule named it (its addresses need no allow rule of their own). */
export const NAME_ALLOWED = 1;
/** No rule named it: the addresses decide. */
export const NAME_OPEN = 0;

/**
 * Step 1, on a host name (lower case, no trailing dot) and port. A Denial from a rule is returned in
 * both modes: the caller enforces it, or in report mode records it and goes on as NAME_OPEN.
 */
export function decideName(policy: AccessPolicy, name: string, port: number): typeof NAME_ALLOWED | typeof NAME_OPEN | Denial {
  const denied = policy.deny.size > 0 ? policy.deny.matchName(name, port) : null;
  if (denied !== null) return ruleDenial(denied, 'REQUEST_DENIED', null);
  if (policy.allow.size === 0) return NAME_OPEN;
  if (policy.allow.matchName(name, port) !== null) return NAME_ALLOWED;
  if (policy.allow.hasAddressRules) return NAME_OPEN;
  return notAllowed('REQUEST_DENIED', `${name}:${port}`);
}

/** A denial an allow/deny rule made (as opposed to the guard): report mode only reports these. */
export function isRuleDenial(d: Denial): boolean {
  return d.reason === 'deny_rule' || d.reason === 'not_allowed';
}

/**
 * Step 2: the addresses that may be dialled, in order (the same array when all may), a Denial, or in
 * report mode a Reported when only rules would refuse some. `nameAllowed`: step 1 gave NAME_ALLOWED.
 */
export function decideAddressesWithRules<A extends { readonly address: string }>(
  policy: AccessPolicy,
  addresses: readonly A[],
  port: number,
  nameAllowed: boolean,
): readonly A[] | Denial | Reported<A> {
  let kept: A[] | null = null;
  let first: Denial | null = null;
  let wouldDeny: Denial | null = null;
  for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i]!;
    let refusal = decideOne(policy, a.address, port, nameAllowed);
    if (refusal !== null && policy.report && isRuleDenial(refusal)) {
      wouldDeny ??= refusal;
      refusal = null;
    }
    if (refusal === null) {
      if (kept !== null) kept.push(a);
      continue;
    }
    if (first === null || (refusal.reason === 'metadata_destination' && first.reason !== 'metadata_destination')) first = refusal;
    kept ??= addresses.slice(0, i) as A[];
  }
  if (addresses.length === 0) return { reason: 'private_destination', code: 'DESTINATION_DENIED', detail: 'no address', rule: 'default: private destinations' };
  const result = kept ?? addresses;
  if (result.length === 0) return first!;
  return wouldDeny !== null ? new Reported(result, wouldDeny) : result;
}

/** The refusal of one address, or null. */
function decideOne(policy: AccessPolicy, address: string, port: number, nameAllowed: boolean): Denial | null {
  const cls = classifyAddress(address);
  if (cls === 'unspecified' || cls === 'multicast' || cls === 'invalid') return guardDenial(address, cls, 'default: never dialled');
  const embedded = policy.hasRules ? embeddedIPv4(address) : null;
  const allowRule = policy.allow.hasAddressRules ? matchAddress(policy.allow, address, embedded, port) : null;
  if (cls === 'metadata') {
    if (allowRule === null || !opensGuard(policy, address, port, cls)) return guardDenial(address, cls, 'default: cloud metadata');
  } else if (isPrivateClass(cls) && !policy.allowPrivate && (allowRule === null || !opensGuard(policy, address, port, cls))) {
    return guardDenial(address, cls, 'default: private destinations');
  }
  if (policy.deny.hasAddressRules) {
    const denied = matchAddress(policy.deny, address, embedded, port);
    if (denied !== null) return ruleDenial(denied, 'DESTINATION_DENIED', address);
  }
  if (policy.allow.size > 0 && !nameAllowed && allowRule === null) return notAllowed('DESTINATION_DENIED', address);
  return null;
}

function matchAddress(rules: AccessRuleSet, address: string, embedded: string | null, port: number): AccessRule | null {
  const direct = rules.matchAddress(address, port);
  if (embedded === null) return direct;
  const viaV4 = rules.matchAddress(embedded, port);
  if (direct === null) return viaV4;
  return viaV4 === null || direct.index <= viaV4.index ? direct : viaV4;
}

/**
 * Whether an allow rule opens this non-public address on purpose: for a metadata address, a rule naming
 * exactly it; otherwise a block lying wholly in the address's own class (its first and last addresses are
 * of that class: 10.1.0.0/16 or 127.0.0.1/32 open their addresses; 0.0.0.0/0, ::/0 or 2000::/3 open none —
 * they mean "the internet", not "my loopback"). Any matching rule may open it, whatever its index. Matched
 * by the address itself (an IPv4-mapped one by its IPv4), not through 6to4/NAT64 spellings.
 */
function opensGuard(policy: AccessPolicy, address: string, port: number, cls: AddressClass): boolean {
  for (const rule of policy.allow.allMatches(address, port)) {
    const cidr = rule.parsed.cidr;
    if (cidr === undefined) continue;
    if (cls === 'metadata' ? cidr.prefix === (cidr.family === 4 ? 32 : 128) : blockClass(cidr) === cls) return true;
  }
  return false;
}

const blockClasses = new WeakMap<Cidr, AddressClass | null>();

/** The class every address of the block has, judged by its first and last address; null when they differ. */
function blockClass(cidr: Cidr): AddressClass | null {
  let cls = blockClasses.get(cidr);
  if (cls !== undefined) return cls;
  const first = cidr.bytes;
  const last = Uint8Array.from(first);
  for (let bit = cidr.prefix; bit < last.length * 8; bit++) last[bit >> 3]! |= 0x80 >> (bit & 7);
  const a = cidr.family === 4 ? classifyIPv4(toUint32(first)) : classifyIPv6(Uint8Array.from(first));
  const b = cidr.family === 4 ? classifyIPv4(toUint32(last)) : classifyIPv6(last);
  cls = a === b ? a : null;
  blockClasses.set(cidr, cls);
  return cls;
}

function toUint32(b: Uint8Array): number {
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

function guardDenial(address: string, cls: AddressClass, rule: string): Denial {
  return { reason: denyReasonForAddress(cls), code: 'DESTINATION_DENIED', detail: `${address} is ${cls}`, rule };
}

/** A deny rule matched: the detail is the rule's id (the Proxy-Status details DESIGN shows), with the address when one was matched. */
function ruleDenial(rule: AccessRule, code: Denial['code'], address: string | null): Denial {
  return { reason: 'deny_rule', code, detail: address === null ? rule.id : `${address} matches ${rule.id}`, rule: rule.id };
}

function notAllowed(code: Denial['code'], what: string): Denial {
  return { reason: 'not_allowed', code, detail: `${what} is not in access.allow`, rule: 'access.allow' };
}
