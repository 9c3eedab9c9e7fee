/**
 * Token buckets per key (the authenticated user, else the client address): each request and each new
 * tunnel takes one token; a bucket holds at most `burst` tokens and refills at `ratePerSecond`. Buckets
 * are refilled lazily when a key is seen (no timers), and live in a bounded LRU: a flood of client
 * addresses evicts the least recently seen buckets instead of growing memory. An evicted key starts
 * again with a full bucket — the price of the bound, and why the bound is large.
 */
import { LRUCache } from 'lru-cache';

export interface RateLimitOptions {
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Keys kept at most (default 100,000: ~10 MB). */
  readonly maxKeys?: number;
  /** Milliseconds on a monotonic clock (default performance.now); tests inject their own. */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms on the limiter's clock). */
  at: number;
}

export class RateLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  private readonly buckets: LRUCache<string, Bucket>;
  private readonly now: () => number;
  private readonly perMs: number;

  constructor(opts: RateLimitOptions) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1)) throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
    this.ratePerSecond = opts.ratePerSecond;
    this.burst = opts.burst;
    this.perMs = opts.ratePerSecond / 1000;
    this.now = opts.now ?? (() => performance.now());
    this.buckets = new LRUCache<string, Bucket>({ max: opts.maxKeys ?? 100_000 });
  }

  /**
   * Take one token for `key`: 0 when granted, else the whole seconds to wait until one is there
   * (at least 1: the value of `Retry-After`). A refused take costs nothing.
   */
  take(key: string): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else if (now > b.at) {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000));
  }

  /** Keys currently held. */
  get size(): number {
    return this.buckets.size;
  }
}
