/**
 * Address family policy (Envoy's lookupFamily names and meaning): which
 * queries a lookup makes, in which order, and how answers are ordered.
 *
 *   V4_ONLY       A only
 *   V6_ONLY       AAAA only
 *   V4_PREFERRED  A first; AAAA only if the name has no A records (NODATA)
 *   AUTO          AAAA first; A only if the name has no AAAA records
 *   ALL           A and AAAA together; addresses interleaved v6, v4, v6, …
 *                 (RFC 8305 §4: start with the preferred family, IPv6)
 */
import type { LookupFamily } from '../config/types.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface FamilyPlan {
  /** The family asked first (both at once when `isParallel`). */
  first: 4 | 6;
  /** Asked when `first` answers NODATA (or together with it when parallel); 0 = none. */
  second: 4 | 6 | 0;
  isParallel: boolean;
}

const PLANS: Record<LookupFamily, FamilyPlan> = {
  V4_ONLY: { first: 4, second: 0, isParallel: false },
  V6_ONLY: { first: 6, second: 0, isParallel: false },
  V4_PREFERRED: { first: 4, second: 6, isParallel: false },
  AUTO: { first: 6, second: 4, isParallel: false },
  ALL: { first: 6, second: 4, isParallel: true },
};

export function planFor(policy: LookupFamily): FamilyPlan {
  return PLANS[policy];
}

/** Interleave two families for Happy Eyeballs, starting with `first`. */
export function interleaveAddresses(
  first: readonly ResolvedAddress[],
  second: readonly ResolvedAddress[],
): ResolvedAddress[] {
  if (second.length === 0) return first.slice();
  if (first.length === 0) return second.slice();
  const out: ResolvedAddress[] = [];
  const n = Math.max(first.length, second.length);
  for (let k = 0; k < n; k++) {
    if (k < first.length) out.push(first[k]!);
    if (k < second.length) out.push(second[k]!);
  }
  return out;
}

const LOOPBACK_V4: ResolvedAddress = Object.freeze({ address: '127.0.0.1', family: 4 });
const LOOPBACK_V6: ResolvedAddress = Object.freeze({ address: '::1', family: 6 });

/** What `localhost` resolves to under each policy, without a query (RFC 6761 §6.3). */
export function loopbackAddresses(policy: LookupFamily): readonly ResolvedAddress[] {
  switch (policy) {
    case 'V4_ONLY':
    case 'V4_PREFERRED':
      return Object.freeze([LOOPBACK_V4]);
    case 'V6_ONLY':
    case 'AUTO':
      return Object.freeze([LOOPBACK_V6]);
    case 'ALL':
      return Object.freeze([LOOPBACK_V6, LOOPBACK_V4]);
  }
}
