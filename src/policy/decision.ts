/**
 * Policy decisions as values, as smokescreen's `Decider.Decide` returns `Decision{Result, Reason}`: a denial
 * carries its stable reason (deny-reasons.ts), the error-table code it is answered with, a one-line detail
 * and the rule that decided. The reply, the dfp_denied_total label and the access log's `rule` all come from
 * that one value (proxy/destination.ts turns it into the error); nothing here throws.
 */
import type { ErrorCode } from '../errors.js';
import { classifyAddress, isAlwaysDeniedClass, isPrivateClass } from './address.js';
import { denyReasonForAddress, type DenyReason } from './deny-reasons.js';

export interface Denial {
  readonly reason: DenyReason;
  readonly code: Extract<ErrorCode, 'DESTINATION_DENIED' | 'REQUEST_DENIED' | 'AUTH_REQUIRED'>;
  readonly detail: string;
  /** The rule that decided, as the access log names it (a config key, or `default: …` for a built-in rule). */
  readonly rule: string;
}

export function isDenial(x: unknown): x is Denial {
  return typeof x === 'object' && x !== null && (x as Denial).code !== undefined && (x as Denial).reason !== undefined;
}

/** A CONNECT may reach only access.connectPorts (empty: any port). */
export function decideConnectPort(connectPorts: readonly number[], port: number): Denial | null {
  if (connectPorts.length === 0 || connectPorts.includes(port)) return null;
  return { reason: 'connect_port', code: 'REQUEST_DENIED', detail: `CONNECT to port ${port} is not allowed`, rule: 'access.connectPorts' };
}

/** Configured routes exist and none matched. */
export function noRoute(host: string): Denial {
  return { reason: 'no_route', code: 'REQUEST_DENIED', detail: `no route for ${host}`, rule: 'routes' };
}

/**
 * The resolved addresses that may be dialled: those the policy allows, in order (the same array when all
 * are), or the denial when none is left. Loopback, private, link-local, ULA and CGNAT addresses are refused
 * unless allowPrivateDestinations; cloud metadata, unspecified and multicast addresses always are (listing
 * them in access.allow comes with the policy rules).
 */
export function decideAddresses<A extends { readonly address: string }>(allowPrivate: boolean, addresses: readonly A[]): readonly A[] | Denial {
  let allowed: A[] | null = null;
  let refused: string | null = null;
  let refusedClass: ReturnType<typeof classifyAddress> = 'public';
  for (let i = 0; i < addresses.length; i++) {
    const a = addresses[i]!;
    const cls = classifyAddress(a.address);
    const deny = allowPrivate ? isAlwaysDeniedClass(cls) : isPrivateClass(cls);
    if (deny) {
      // The first refused address names the reason (a metadata address wins: it is the one to know about).
      if (refused === null || (cls === 'metadata' && refusedClass !== 'metadata')) {
        refused = a.address;
        refusedClass = cls;
      }
      allowed ??= addresses.slice(0, i) as A[];
    } else if (allowed !== null) {
      allowed.push(a);
    }
  }
  if (allowed === null) return addresses.length > 0 ? addresses : { reason: 'private_destination', code: 'DESTINATION_DENIED', detail: 'no address', rule: 'default: private destinations' };
  if (allowed.length > 0) return allowed;
  return {
    reason: denyReasonForAddress(refusedClass),
    code: 'DESTINATION_DENIED',
    detail: `${refused} is ${refusedClass}`,
    rule: refusedClass === 'metadata' ? 'default: cloud metadata' : allowPrivate ? 'default: never dialled' : 'default: private destinations',
  };
}
