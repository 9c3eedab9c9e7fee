/**
 * From a host string to the addresses that may be dialled: normalise, resolve
 * (cache hit synchronously), then apply the destination policy to the resolved
 * addresses. The addresses returned are exactly the ones that were checked.
 */
import { ProxyError } from '../errors.js';
import type { HostTarget } from '../dns/name.js';
import type { ResolvedAddress } from '../dns/cache.js';
import { classifyAddress } from '../policy/address.js';
import { decideAddresses, isDenial, type Denial } from '../policy/decision.js';
import type { ProxyContext } from './context.js';
import type { RuntimeSnapshot } from './snapshot.js';

const MAX_LITERALS = 4096;

/**
 * Checked addresses for an IP literal or a cached name, synchronously; undefined
 * when the name must be resolved first. Throws the policy's ProxyError.
 */
export function checkedAddressesNow(ctx: ProxyContext, snap: RuntimeSnapshot, target: HostTarget, port: number): readonly ResolvedAddress[] | undefined {
  if (target.kind === 'ip') {
    let result = snap.literals.get(target.address);
    if (result === undefined) {
      result = decideAddresses(snap.config.access.allowPrivateDestinations, [{ address: target.address, family: target.family }]);
      if (snap.literals.size >= MAX_LITERALS) snap.literals.clear();
      snap.literals.set(target.address, result);
    }
    return unwrap(ctx, result, port);
  }
  const addresses = ctx.dns.peek(target.name);
  if (addresses === undefined) return undefined;
  return checkedList(ctx, snap, addresses, port);
}

/** Resolve a name (cache miss) and check the result. Rejects with ProxyError. */
export async function resolveAndCheck(ctx: ProxyContext, snap: RuntimeSnapshot, name: string, port: number): Promise<readonly ResolvedAddress[]> {
  const addresses = await ctx.dns.resolve(name);
  return checkedList(ctx, snap, addresses, port);
}

function checkedList(ctx: ProxyContext, snap: RuntimeSnapshot, addresses: readonly ResolvedAddress[], port: number): readonly ResolvedAddress[] {
  let result = snap.checked.get(addresses);
  if (result === undefined) {
    result = decideAddresses(snap.config.access.allowPrivateDestinations, addresses);
    snap.checked.set(addresses, result);
  }
  return unwrap(ctx, result, port);
}

function unwrap(ctx: ProxyContext, result: readonly ResolvedAddress[] | Denial, port: number): readonly ResolvedAddress[] {
  if (isDenial(result)) refuse(ctx, result);
  if (isLoop(ctx, result, port)) throw new ProxyError('LOOP_DETECTED', 'destination is this proxy');
  return result;
}

/** A policy denial, answered and counted: the one way a Denial becomes an error (and its metric label). */
export function refuse(ctx: ProxyContext, denial: Denial): never {
  ctx.metrics.denied(denial.reason);
  throw new ProxyError(denial.code, denial.detail, { rule: denial.rule });
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
