/**
 * One lookup of a name under a family policy: the A and/or AAAA queries it
 * needs (at most one of each), combined into one answer or one failure.
 */
import type { LookupFamily } from '../config/types.js';
import { interleaveAddresses, planFor, type ResolvedAddress } from './family.js';
import type { DnsResolver, QueryKind, QueryResult } from './resolver.js';

export type OnQuery = (kind: QueryKind) => void;

const NONE: readonly ResolvedAddress[] = [];

/** Resolve `name` by policy. Never rejects. `onQuery` sees each query's result kind (for stats). */
export async function lookupHost(
  resolver: DnsResolver,
  name: string,
  policy: LookupFamily,
  onQuery: OnQuery,
): Promise<QueryResult> {
  const plan = planFor(policy);
  if (plan.isParallel && plan.second !== 0) {
    const [first, second] = await Promise.all([
      countedQuery(resolver, name, plan.first, onQuery),
      countedQuery(resolver, name, plan.second, onQuery),
    ]);
    return combineParallel(first, second);
  }
  const first = await countedQuery(resolver, name, plan.first, onQuery);
  // The fallback family is asked only when the name exists without records of the first.
  if (first.kind !== 'nodata' || plan.second === 0) return first;
  return countedQuery(resolver, name, plan.second, onQuery);
}

async function countedQuery(resolver: DnsResolver, name: string, family: 4 | 6, onQuery: OnQuery): Promise<QueryResult> {
  const result = await resolver.query(name, family);
  onQuery(result.kind);
  return result;
}

/**
 * Both families at once: any addresses win (interleaved, shortest TTL). With
 * none, NXDOMAIN from either is the answer; then a real failure over NODATA.
 */
export function combineParallel(first: QueryResult, second: QueryResult): QueryResult {
  if (first.kind === 'success' || second.kind === 'success') {
    const a = first.kind === 'success' ? first : undefined;
    const b = second.kind === 'success' ? second : undefined;
    return {
      kind: 'success',
      addresses: interleaveAddresses(a?.addresses ?? NONE, b?.addresses ?? NONE),
      ttlSeconds: Math.min(a?.ttlSeconds ?? Number.POSITIVE_INFINITY, b?.ttlSeconds ?? Number.POSITIVE_INFINITY),
    };
  }
  if (first.kind === 'nxdomain') return first;
  if (second.kind === 'nxdomain') return second;
  return first.kind === 'nodata' ? second : first;
}
