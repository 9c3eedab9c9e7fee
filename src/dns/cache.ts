/**
 * The DNS cache: a lookup answers hit, loading (join the query in flight) or
 * overflow (DNS_OVERLOADED at once), as Envoy's dynamic forward proxy cache.
 *
 * - Storage: lru-cache bounded by maxHosts (least recently used goes first).
 * - TTL from the records, clamped to [minTtl, maxTtl]; failures cached for negativeTtl.
 * - One timer per host: at expiry a host used within hostTtl is re-resolved;
 *   one unused for hostTtl is dropped. A failed refresh keeps serving the last
 *   good addresses for at most maxTtl past their expiry, retried every negativeTtl.
 * - `localhost` / `*.localhost` are answered with loopback, never asked of DNS.
 */
import { LRUCache } from 'lru-cache';
import { ProxyError } from '../errors.js';
import type { DnsConfig } from '../config/types.js';
import { coarseNowMs, nowMs } from './clock.js';
import { loopbackAddresses, type ResolvedAddress } from './family.js';
import { HostEntry } from './host.js';
import { lookupHost } from './lookup.js';
import { isLocalhostName, normalizeHost } from './name.js';
import { DnsResolver, type QueryKind, type QueryResult } from './resolver.js';

export type { ResolvedAddress } from './family.js';

export interface DnsStats {
  hits: number;
  misses: number;
  queries: Record<QueryKind, number>;
  refreshFailures: number;
  hosts: number;
  pending: number;
}

export interface DnsSnapshotEntry {
  host: string;
  addresses: string[];
  /** Until the addresses go stale (or the cached failure ends); 0 when past. */
  ttlLeftMs: number;
  hits: number;
  /** The cached failure's code (rcode when DNS gave one), when nothing is served. */
  error?: string;
}

/** Where the cache reads the time and arms its host timers; tests inject their own. */
export interface DnsCacheClock {
  /** Hot path (peek, resolve): monotonic ms, may be a few ms old. */
  coarseNowMs(): number;
  /** Exact monotonic ms: expiry times, timer delays. */
  nowMs(): number;
  setTimer<T>(callback: (arg: T) => void, delayMs: number, arg: T): NodeJS.Timeout;
  clearTimer(timer: NodeJS.Timeout): void;
}

/** clock.ts and unref'd global timers. */
const SYSTEM_CLOCK: DnsCacheClock = {
  coarseNowMs,
  nowMs,
  setTimer: (callback, delayMs, arg) => setTimeout(callback, delayMs, arg).unref(),
  clearTimer: (timer) => clearTimeout(timer),
};

function noop(): void {}

export class DnsCache {
  readonly #config: DnsConfig;
  readonly #clock: DnsCacheClock;
  readonly #resolver: DnsResolver;
  /** Recency and the maxHosts bound (evicts least recently used). */
  readonly #hosts: LRUCache<string, HostEntry>;
  /** The same entries by name, for peek: a plain Map get is cheaper than an LRU get. */
  readonly #index: Map<string, HostEntry>;
  readonly #loopback: readonly ResolvedAddress[];
  readonly #onTimer: (entry: HostEntry) => void;
  readonly #onQuery: (kind: QueryKind) => void;
  readonly #queries: Record<QueryKind, number>;
  #hits: number;
  #misses: number;
  #refreshFailures: number;
  #pending: number;
  #isClosed: boolean;

  constructor(config: DnsConfig, clock: DnsCacheClock = SYSTEM_CLOCK) {
    this.#config = config;
    this.#clock = clock;
    this.#resolver = new DnsResolver(config);
    this.#hosts = new LRUCache<string, HostEntry>({
      max: Math.max(1, config.maxHosts),
      dispose: (entry) => this.#retire(entry),
    });
    this.#index = new Map();
    this.#loopback = loopbackAddresses(config.lookupFamily);
    this.#onTimer = (entry) => this.#onHostTimer(entry);
    this.#onQuery = (kind) => {
      this.#queries[kind]++;
    };
    this.#queries = { success: 0, nxdomain: 0, nodata: 0, timeout: 0, error: 0 };
    this.#hits = 0;
    this.#misses = 0;
    this.#refreshFailures = 0;
    this.#pending = 0;
    this.#isClosed = false;
  }

  /**
   * Synchronous fast path for a normalised name: fresh or stale-but-serving
   * addresses, else undefined. Counts a hit and marks the host used. One Map
   * get and a compare against the coarse clock; the LRU's recency is updated
   * at most once per clock tick per host, which is all eviction order needs.
   */
  peek(name: string): readonly ResolvedAddress[] | undefined {
    return this.#servingEntry(name)?.addresses;
  }

  /**
   * Resolve with cache and single flight. Rejects with ProxyError (DNS_*).
   * A cached name answers with one settled promise per answer (no allocation).
   * `signal` cancels this caller's wait (rejecting with signal.reason); the
   * shared query goes on for the other waiters and the cache.
   */
  resolve(name: string, signal?: AbortSignal): Promise<readonly ResolvedAddress[]> {
    const entry = this.#servingEntry(name);
    if (entry !== undefined) return (entry.settled ??= Promise.resolve(entry.addresses!));
    const waiting = this.#resolveMiss(name);
    return signal === undefined ? waiting : cancellableWait(waiting, signal);
  }

  /** The hit path shared by peek and resolve: one Map get, one compare, counters. */
  #servingEntry(name: string): HostEntry | undefined {
    const entry = this.#index.get(name);
    if (entry === undefined) return undefined;
    const now = this.#clock.coarseNowMs();
    if (now >= entry.serveUntilMs) return undefined;
    if (entry.lastUsedMs !== now) {
      entry.lastUsedMs = now;
      this.#hosts.get(name);
    }
    entry.hits++;
    this.#hits++;
    return entry;
  }

  /** Not served from cache: a cached failure, a lookup to join, or a new lookup. */
  #resolveMiss(name: string): Promise<readonly ResolvedAddress[]> {
    if (this.#isClosed) return Promise.reject(new ProxyError('DNS_FAILURE', 'DNS cache closed'));
    const now = this.#clock.coarseNowMs();
    let entry = this.#hosts.get(name);
    if (entry !== undefined) {
      entry.lastUsedMs = now;
      if (entry.waiting !== undefined) {
        this.#misses++;
        return entry.waiting;
      }
      if (entry.error !== undefined && now < entry.errorUntilMs) {
        entry.hits++;
        this.#hits++;
        return Promise.reject(entry.error);
      }
    } else if (isLocalhostName(name)) {
      this.#misses++;
      return Promise.resolve(this.#addLoopback(name));
    }
    if (this.#pending >= this.#config.maxPendingLookups) {
      return Promise.reject(new ProxyError('DNS_OVERLOADED', name));
    }
    this.#misses++;
    if (entry === undefined) {
      entry = new HostEntry(name, now, false);
      this.#add(entry);
    }
    return this.#startLookup(entry);
  }

  #addLoopback(name: string): readonly ResolvedAddress[] {
    const entry = new HostEntry(name, this.#clock.coarseNowMs(), true);
    this.#renewLoopback(entry, this.#clock.nowMs());
    this.#add(entry);
    return this.#loopback;
  }

  #add(entry: HostEntry): void {
    this.#hosts.set(entry.name, entry); // may evict the least recently used (dispose → #retire)
    this.#index.set(entry.name, entry);
  }

  #renewLoopback(entry: HostEntry, now: number): void {
    entry.setAddresses(this.#loopback, now, this.#config.maxTtlMs, this.#config.maxTtlMs);
    this.#arm(entry, this.#nextCheckMs(entry, now));
  }

  #startLookup(entry: HostEntry): Promise<readonly ResolvedAddress[]> {
    this.#pending++;
    const wasRefresh = entry.addresses !== undefined;
    const waiting = lookupHost(this.#resolver, entry.name, this.#config.lookupFamily, this.#onQuery).then(
      (result) => this.#finish(entry, result, wasRefresh),
      (err: unknown) => this.#finish(entry, internalFailure(entry.name, err), wasRefresh),
    );
    waiting.catch(noop); // waiters attach their own handlers; a refresh may have none
    entry.waiting = waiting;
    return waiting;
  }

  /** Record a lookup's outcome; what its waiters get. */
  #finish(entry: HostEntry, result: QueryResult, wasRefresh: boolean): readonly ResolvedAddress[] {
    this.#pending--;
    entry.waiting = undefined;
    const now = this.#clock.nowMs();
    if (result.kind === 'success') {
      if (!entry.isDead) {
        entry.setAddresses(Object.freeze(result.addresses), now, this.#clampTtlMs(result.ttlSeconds), this.#config.maxTtlMs);
        this.#arm(entry, this.#nextCheckMs(entry, now));
      }
      return result.addresses;
    }
    if (wasRefresh) this.#refreshFailures++;
    if (entry.addresses !== undefined && now < entry.serveUntilMs) {
      // Serve the last good answer; try again after negativeTtl (not past serveUntil).
      if (!entry.isDead) this.#arm(entry, Math.min(this.#config.negativeTtlMs, entry.serveUntilMs - now));
      return entry.addresses;
    }
    if (!entry.isDead) {
      entry.setError(result.error, now, this.#config.negativeTtlMs);
      this.#arm(entry, this.#config.negativeTtlMs);
    }
    throw result.error;
  }

  #clampTtlMs(ttlSeconds: number): number {
    const ttlMs = ttlSeconds * 1000;
    if (!(ttlMs >= this.#config.minTtlMs)) return this.#config.minTtlMs;
    return ttlMs > this.#config.maxTtlMs ? this.#config.maxTtlMs : ttlMs;
  }

  /** Next wake-up for a host with addresses: its expiry or when it would become unused. */
  #nextCheckMs(entry: HostEntry, now: number): number {
    const unusedAtMs = entry.lastUsedMs + this.#config.hostTtlMs;
    return Math.max(0, Math.min(entry.expiresAtMs, unusedAtMs) - now);
  }

  #arm(entry: HostEntry, delayMs: number): void {
    if (entry.timer !== undefined) this.#clock.clearTimer(entry.timer);
    // Node timers cap at 2^31-1 ms; a longer wait just wakes early and re-arms.
    entry.timer = this.#clock.setTimer(this.#onTimer, Math.min(Math.ceil(delayMs), 0x7fffffff), entry);
  }

  #onHostTimer(entry: HostEntry): void {
    entry.timer = undefined;
    if (entry.isDead || entry.waiting !== undefined) return;
    const now = this.#clock.nowMs();
    if (entry.addresses === undefined || now - entry.lastUsedMs >= this.#config.hostTtlMs) {
      // Unused for hostTtl, or a cached failure that has run out: forget the host.
      this.#hosts.delete(entry.name);
      return;
    }
    if (now < entry.expiresAtMs) {
      this.#arm(entry, this.#nextCheckMs(entry, now));
      return;
    }
    this.#refresh(entry, now);
  }

  /** The host is in use and its TTL ran out: re-resolve it in the background. */
  #refresh(entry: HostEntry, now: number): void {
    if (entry.isLoopback) {
      this.#renewLoopback(entry, now);
      return;
    }
    if (now >= entry.serveUntilMs) entry.dropAddresses();
    if (this.#pending >= this.#config.maxPendingLookups) {
      // Refreshes never exceed the bound: keep serving, try again later.
      if (entry.addresses === undefined) this.#hosts.delete(entry.name);
      else this.#arm(entry, Math.min(this.#config.negativeTtlMs, entry.serveUntilMs - now));
      return;
    }
    void this.#startLookup(entry).catch(noop);
  }

  /** lru-cache dispose: evicted, deleted or cleared. */
  #retire(entry: HostEntry): void {
    if (this.#index.get(entry.name) === entry) this.#index.delete(entry.name);
    entry.isDead = true;
    if (entry.timer !== undefined) this.#clock.clearTimer(entry.timer);
    entry.timer = undefined;
  }

  stats(): DnsStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      queries: { ...this.#queries },
      refreshFailures: this.#refreshFailures,
      hosts: this.#hosts.size,
      pending: this.#pending,
    };
  }

  /** For GET /dns: most recently used first. */
  snapshot(): DnsSnapshotEntry[] {
    const now = this.#clock.nowMs();
    const out: DnsSnapshotEntry[] = [];
    for (const entry of this.#hosts.values()) out.push(snapshotOf(entry, now));
    return out;
  }

  /** The resolvers in use (for GET /config). */
  servers(): string[] {
    return this.#resolver.servers();
  }

  /** Resolve config.preresolve (failures are cached, not thrown). Throws on an invalid name. */
  async start(): Promise<void> {
    const names = preresolveNames(this.#config.preresolve);
    const width = Math.max(1, Math.min(this.#config.maxPendingLookups, 64));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < names.length && !this.#isClosed) {
        await this.resolve(names[next++]!).catch(noop);
      }
    };
    const workers: Promise<void>[] = [];
    for (let k = 0; k < width && k < names.length; k++) workers.push(worker());
    await Promise.all(workers);
  }

  /** Stop timers and cancel queries in flight; their waiters are rejected (DNS_FAILURE). */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#hosts.clear();
    this.#resolver.cancel();
  }
}

function snapshotOf(entry: HostEntry, now: number): DnsSnapshotEntry {
  if (entry.addresses === undefined) {
    const item: DnsSnapshotEntry = {
      host: entry.name,
      addresses: [],
      ttlLeftMs: Math.max(0, Math.round(entry.errorUntilMs - now)),
      hits: entry.hits,
    };
    if (entry.error !== undefined) item.error = entry.error.rcode ?? entry.error.code;
    return item;
  }
  return {
    host: entry.name,
    addresses: entry.addresses.map((a) => a.address),
    ttlLeftMs: Math.max(0, Math.round(entry.expiresAtMs - now)),
    hits: entry.hits,
  };
}

function cancellableWait<T>(waiting: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    waiting.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function preresolveNames(list: readonly string[]): string[] {
  const names: string[] = [];
  for (let k = 0; k < list.length; k++) {
    let target;
    try {
      target = normalizeHost(list[k]!);
    } catch (err) {
      const reason = err instanceof ProxyError ? err.detail : String(err);
      throw new Error(`dns.preresolve[${k}]: invalid host name ${JSON.stringify(list[k])} (${reason})`);
    }
    if (target.kind === 'name') names.push(target.name);
  }
  return names;
}

function internalFailure(name: string, err: unknown): QueryResult {
  return { kind: 'error', error: new ProxyError('DNS_FAILURE', name, { cause: err }) };
}
