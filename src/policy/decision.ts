/**
 * Policy decisions as values, as smokescreen's `Decider.Decide` returns `Decision{Result, Reason}`: a denial
 * carries its stable reason (deny-reasons.ts), the error-table code it is answered with, a one-line detail
 * and the rule that decided. The reply, the dfp_denied_total label and the access log's `rule` all come from
 * that one value (proxy/destination.ts turns it into the error); nothing here throws.
 */
import type { ErrorCode } from '../errors.js';
import { compileAccessPolicy, decideAddressesWithRules } from './access-policy.js';
import type { DenyReason } from './deny-reasons.js';

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
 * The guard alone (no allow/deny rules) on resolved addresses: those that may be dialled, in order (the same
 * array when all are), or the denial when none is left. The proxy's own decision, decideAddressesWithRules
 * with an empty rule set: loopback, private, link-local, ULA and CGNAT are refused unless allowPrivate;
 * cloud metadata, unspecified and multicast always.
 */
export function decideAddresses<A extends { readonly address: string }>(allowPrivate: boolean, addresses: readonly A[]): readonly A[] | Denial {
  return decideAddressesWithRules(allowPrivate ? GUARD_OPEN : GUARD, addresses, 0, false) as readonly A[] | Denial;
}

const GUARD = guardOnly(false);
const GUARD_OPEN = guardOnly(true);

function guardOnly(allowPrivate: boolean) {
  return compileAccessPolicy({ mode: 'enforce', allowPrivateDestinations: allowPrivate, allow: [], deny: [], connectPorts: [], upgrades: [], connectSni: 'off' });
}
