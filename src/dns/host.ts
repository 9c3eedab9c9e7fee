/**
 * One cached host: its last good addresses, when they go stale and when they
 * stop being served, a cached failure, the lookup in flight and its timer.
 * Plain state; the rules live in cache.ts.
 */
import type { ProxyError } from '../errors.js';
import type { ResolvedAddress } from './family.js';

export class HostEntry {
  readonly name: string;
  /** Last good answer, ordered by the family policy; undefined when none is served. */
  addresses: readonly ResolvedAddress[] | undefined;
  /** Fresh until (monotonic ms): the TTL from the records, clamped. */
  expiresAtMs: number;
  /** `addresses` as a settled promise, made on the first resolve() hit, reused until they change. */
  settled: Promise<readonly ResolvedAddress[]> | undefined;
  /** Served until (monotonic ms): expiry + maxTtl, or 0 when there is nothing to serve. */
  serveUntilMs: number;
  /** Cached failure (NXDOMAIN, NODATA, timeout, …) for a host with nothing to serve. */
  error: ProxyError | undefined;
  errorUntilMs: number;
  lastUsedMs: number;
  hits: number;
  /** The lookup in flight; every waiter shares it (single flight). */
  waiting: Promise<readonly ResolvedAddress[]> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** `localhost` and `*.localhost`: answered without a query, renewed in place. */
  readonly isLoopback: boolean;
  /** Evicted or closed: a lookup finishing later must not touch the cache. */
  isDead: boolean;

  constructor(name: string, nowMs: number, isLoopback: boolean) {
    this.name = name;
    this.addresses = undefined;
    this.settled = undefined;
    this.expiresAtMs = 0;
    this.serveUntilMs = 0;
    this.error = undefined;
    this.errorUntilMs = 0;
    this.lastUsedMs = nowMs;
    this.hits = 0;
    this.waiting = undefined;
    this.timer = undefined;
    this.isLoopback = isLoopback;
    this.isDead = false;
  }

  setAddresses(addresses: readonly ResolvedAddress[], nowMs: number, ttlMs: number, maxStaleMs: number): void {
    if (addresses !== this.addresses) this.settled = undefined;
    this.addresses = addresses;
    this.expiresAtMs = nowMs + ttlMs;
    this.serveUntilMs = this.expiresAtMs + maxStaleMs;
    this.error = undefined;
    this.errorUntilMs = 0;
  }

  setError(error: ProxyError, nowMs: number, negativeTtlMs: number): void {
    this.addresses = undefined;
    this.settled = undefined;
    this.serveUntilMs = 0;
    this.expiresAtMs = 0;
    this.error = error;
    this.errorUntilMs = nowMs + negativeTtlMs;
  }

  dropAddresses(): void {
    this.addresses = undefined;
    this.settled = undefined;
    this.serveUntilMs = 0;
  }
}
