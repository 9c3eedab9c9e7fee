/**
 * One c-ares resolver per cache (never the process-global one): A/AAAA
 * queries with record TTLs, a hard deadline per query, and the one place
 * c-ares error codes become ProxyErrors.
 *
 * Deadline: c-ares' own timeout is per try and grows between tries (and since
 * 1.26 adapts to measured server latency), so the configured queryTimeout is
 * enforced here as well: a query not answered by then resolves as `timeout`
 * and its late answer is ignored.
 */
import { promises as dnsPromises } from 'node:dns';
import { ProxyError } from '../errors.js';
import type { DnsConfig } from '../config/types.js';
import type { ResolvedAddress } from './family.js';

export type QueryKind = 'success' | 'nxdomain' | 'nodata' | 'timeout' | 'error';

export type QueryResult =
  | { kind: 'success'; addresses: ResolvedAddress[]; ttlSeconds: number }
  | { kind: Exclude<QueryKind, 'success'>; error: ProxyError };

type Failure = Extract<QueryResult, { error: ProxyError }>;

/** c-ares codes whose name is a DNS response code. */
const RCODES: Record<string, string> = {
  ESERVFAIL: 'SERVFAIL',
  EREFUSED: 'REFUSED',
  ENOTIMP: 'NOTIMP',
  EFORMERR: 'FORMERR',
};

/** Translate a c-ares error (dns.promises rejection) for `name`. */
export function mapResolverError(name: string, err: unknown): Failure {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOTFOUND':
      return { kind: 'nxdomain', error: new ProxyError('DNS_NXDOMAIN', name, { rcode: 'NXDOMAIN', cause: err }) };
    case 'ENODATA':
      return { kind: 'nodata', error: new ProxyError('DNS_FAILURE', name, { rcode: 'NODATA', cause: err }) };
    case 'ETIMEOUT':
      return timeoutFailure(name, err);
  }
  const rcode = typeof code === 'string' ? RCODES[code] : undefined;
  if (rcode !== undefined) return { kind: 'error', error: new ProxyError('DNS_FAILURE', name, { rcode, cause: err }) };
  const detail = typeof code === 'string' ? `${name} (${code})` : name;
  return { kind: 'error', error: new ProxyError('DNS_FAILURE', detail, { cause: err }) };
}

function timeoutFailure(name: string, cause?: unknown): Failure {
  return { kind: 'timeout', error: new ProxyError('DNS_TIMEOUT', name, { cause }) };
}

interface TtlRecord {
  address: string;
  ttl: number;
}

function toResult(records: TtlRecord[], family: 4 | 6, name: string): QueryResult {
  if (records.length === 0) return mapResolverError(name, { code: 'ENODATA' });
  const addresses: ResolvedAddress[] = new Array(records.length);
  let ttlSeconds = Number.POSITIVE_INFINITY;
  for (let k = 0; k < records.length; k++) {
    const r = records[k]!;
    addresses[k] = { address: r.address, family };
    if (r.ttl < ttlSeconds) ttlSeconds = r.ttl;
  }
  return { kind: 'success', addresses, ttlSeconds };
}

export class DnsResolver {
  readonly #resolver: dnsPromises.Resolver;
  readonly #deadlineMs: number;

  constructor(config: Pick<DnsConfig, 'servers' | 'queryTimeoutMs' | 'retries'>) {
    const tries = Math.max(1, config.retries + 1);
    // Per-try timeout: the deadline shared between tries (c-ares wants >= 1 ms).
    const timeout = Math.max(1, Math.floor(config.queryTimeoutMs / tries));
    this.#resolver = new dnsPromises.Resolver({ timeout, tries });
    if (config.servers.length > 0) this.#resolver.setServers(config.servers);
    this.#deadlineMs = config.queryTimeoutMs;
  }

  /** The servers this resolver asks (for GET /config and logs). */
  servers(): string[] {
    return this.#resolver.getServers();
  }

  /** One A (4) or AAAA (6) query. Never rejects: failures come back as results. */
  query(name: string, family: 4 | 6): Promise<QueryResult> {
    const pending =
      family === 4 ? this.#resolver.resolve4(name, { ttl: true }) : this.#resolver.resolve6(name, { ttl: true });
    return new Promise<QueryResult>((settle) => {
      const deadline = setTimeout(() => settle(timeoutFailure(name)), this.#deadlineMs);
      pending.then(
        (records) => {
          clearTimeout(deadline);
          settle(toResult(records, family, name));
        },
        (err: unknown) => {
          clearTimeout(deadline);
          settle(mapResolverError(name, err));
        },
      );
    });
  }

  /** Cancel every query in flight (they settle as ECANCELLED errors). */
  cancel(): void {
    this.#resolver.cancel();
  }
}
