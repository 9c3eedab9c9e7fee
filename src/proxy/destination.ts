/**
 * From a host string to the addresses that may be dialled: normalise, resolve
 * (cache hit synchronously), then apply the destination policy to the resolved
 * addresses. The addresses returned are exactly the ones that were checked.
 */
import { ProxyError } from '../errors.js';
import type { HostTarget } from '../dns/name.js';
import type { ResolvedAddress } from '../dns/cache.js';
import { classifyAddress } from '../policy/address.js';
import { decideAddressesWithRules, decideName, NAME_ALLOWED, Reported } from '../policy/access-policy.js';
import { isDenial, type Denial } from '../policy/decision.js';
import type { ProxyContext } from './context.js';
import type { Checked, RuntimeSnapshot } from './snapshot.js';
import { RateLimiter } from '../policy/rate-limit.js';

const MAX_LITERALS = 4096;
/**
 * Decisions kept per address or address list (by port, with rules): a client varying the port must not
 * grow a list's map without bound (65,535 ports × every literal). A full map starts again.
 */
const MAX_KEYS_PER_ENTRY = 16;

/**
 * What a request's destination decision carries from the name step to the address step, and out to
 * the log: the Exchange and the SNI connection are one each (reset per request).
 */
export interface PolicyNote {
  /** An access.allow rule named the host: its addresses need no allow rule of their own. */
  nameAllowed: boolean;
  /** Report mode: the rule that would have refused (logged as would_deny), else null. */
  wouldDeny: Denial | null;
}

/**
 * The name step, then checked addresses for an IP literal or a cached name, synchronously; undefined
 * when the name must be resolved first (then resolveAndCheck). Throws the policy's ProxyError.
 */
export function checkedAddressesNow(ctx: ProxyContext, snap: RuntimeSnapshot, target: HostTarget, port: number, note: PolicyNote): readonly ResolvedAddress[] | undefined {
  note.nameAllowed = false;
  note.wouldDeny = null;
  const policy = snap.policy;
  if (target.kind === 'ip') {
    let byKey = snap.literals.get(target.address);
    if (byKey === undefined) {
      if (snap.literals.size >= MAX_LITERALS) snap.literals.clear();
      byKey = new Map();
      snap.literals.set(target.address, byKey);
    }
    const key = policy.hasRules ? port * 2 : 0;
    let result = byKey.get(key);
    if (result === undefined) {
      result = decideAddressesWithRules(policy, [{ address: target.address, family: target.family }], port, false);
      remember(byKey, key, result);
    }
    return unwrap(ctx, result, port, note);
  }
  if (policy.hasRules) {
    const verdict = decideName(policy, target.name, port);
    if (verdict === NAME_ALLOWED) note.nameAllowed = true;
    else if (verdict !== 0) {
      if (!policy.report) refuse(ctx, verdict);
      report(ctx, note, verdict);
    }
  }
  const addresses = ctx.dns.peek(target.name);
  if (addresses === undefined) return undefined;
  return checkedList(ctx, snap, addresses, port, note);
}

/** Resolve a name (cache miss) and check the result (after checkedAddressesNow's name step). Rejects with ProxyError. */
export async function resolveAndCheck(ctx: ProxyContext, snap: RuntimeSnapshot, name: string, port: number, note: PolicyNote): Promise<readonly ResolvedAddress[]> {
  const addresses = await ctx.dns.resolve(name);
  return checkedList(ctx, snap, addresses, port, note);
}

function checkedList(ctx: ProxyContext, snap: RuntimeSnapshot, addresses: readonly ResolvedAddress[], port: number, note: PolicyNote): readonly ResolvedAddress[] {
  let byKey = snap.checked.get(addresses);
  if (byKey === undefined) {
    byKey = new Map();
    snap.checked.set(addresses, byKey);
  }
  const policy = snap.policy;
  const key = policy.hasRules ? port * 2 + (note.nameAllowed ? 1 : 0) : 0;
  let result = byKey.get(key);
  if (result === undefined) {
    result = decideAddressesWithRules(policy, addresses, port, note.nameAllowed);
    remember(byKey, key, result);
  }
  return unwrap(ctx, result, port, note);
}

function remember(byKey: Map<number, Checked>, key: number, result: Checked): void {
  if (byKey.size >= MAX_KEYS_PER_ENTRY) byKey.clear();
  byKey.set(key, result);
}

function unwrap(ctx: ProxyContext, result: Checked, port: number, note: PolicyNote): readonly ResolvedAddress[] {
  let addresses: readonly ResolvedAddress[];
  if (result instanceof Reported) {
    if (note.wouldDeny === null) report(ctx, note, result.wouldDeny);
    addresses = result.addresses;
  } else if (isDenial(result)) {
    refuse(ctx, result);
  } else {
    addresses = result;
  }
  if (isLoop(ctx, addresses, port)) throw new ProxyError('LOOP_DETECTED', 'destination is this proxy');
  return addresses;
}

/**
 * rateLimit: take a token for `key` from the snapshot's buckets. null: granted now (or no limit); a
 * Promise: a shared store (Redis) answers later, resolving when granted and rejecting with the 429
 * ProxyError when not. Throws the 429 ProxyError when the local buckets refuse.
 */
export function takeToken(ctx: ProxyContext, snap: RuntimeSnapshot, key: string): Promise<void> | null {
  const limiter = snap.rateLimiter;
  if (limiter === null) return null;
  if (limiter instanceof RateLimiter) {
    const wait = limiter.take(key);
    if (wait > 0) throw rateLimited(ctx, wait);
    return null;
  }
  return limiter.take(key).then((wait) => {
    if (wait > 0) throw rateLimited(ctx, wait);
  });
}

/** rateLimit: the key's bucket is empty; `wait` whole seconds until a token (the Retry-After). */
export function rateLimited(ctx: ProxyContext, wait: number): ProxyError {
  ctx.metrics.rateLimited();
  ctx.metrics.denied('rate_limit');
  return new ProxyError('RATE_LIMITED', `retry in ${wait} s`, { headerValues: [String(wait)], rule: 'rateLimit.perClient' });
}

/** Report mode: what a rule would have refused, counted and kept for the log (the first per request). */
function report(ctx: ProxyContext, note: PolicyNote, denial: Denial): void {
  note.wouldDeny = denial;
  ctx.metrics.wouldDeny(denial.reason);
}

/** A policy denial, answered and counted: the one way a Denial becomes an error (and its metric label). */
export function refuse(ctx: ProxyContext, denial: Denial, headerValues?: readonly string[]): never {
  ctx.metrics.denied(denial.reason);
  throw new ProxyError(denial.code, denial.detail, { rule: denial.rule, headerValues });
}

/** The destination is one of our own sockets: a listener or the admin port (IPv4-mapped IPv6 compared as the IPv4 it maps). */
function isLoop(ctx: ProxyContext, addresses: readonly ResolvedAddress[], port: number): boolean {
  for (const l of ctx.loopAddresses) {
    if (l.port !== port) continue;
    const listenHost = unmapIPv4(l.host);
    const wildcard = listenHost === '0.0.0.0' || listenHost === '::';
    for (const a of addresses) {
      const address = unmapIPv4(a.address);
      if (address === listenHost) return true;
      if (wildcard && (classifyAddress(address) === 'loopback' || address === '0.0.0.0' || address === '::')) return true;
    }
  }
  return false;
}

/** `::ffff:127.0.0.1` → `127.0.0.1` (names and the canonical IPv6 form from dns/name.ts). */
function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && address.indexOf('.') > 0 ? address.slice(7) : address;
}
