/**
 * Token buckets shared by every replica through Redis (`rateLimit.store: redis://HOST:PORT`). Same
 * buckets as rate-limit.ts — one token per request or new tunnel, at most `burst`, refilled at
 * `ratePerSecond` — but each bucket is a Redis hash at `keyPrefix + key` (the user, else the client
 * address; the key is a command argument, never part of a command, so it needs no escaping) and every
 * decision is one atomic round trip: EVALSHA of TAKE_SCRIPT below (loaded on every connection; should
 * Redis have lost it all the same, the client retries with EVAL). The script reads the time with
 * `redis.call('TIME')`: the replicas' clocks differ, Redis's is the one clock they share. A bucket's key
 * expires when the bucket would be full again, so idle keys cost Redis nothing.
 *
 * Fail mode: while Redis is unreachable — refused, reset, stalled, slower than `timeoutMs` — each
 * process answers from its own local buckets (`fallback`, the in-process RateLimiter). That is neither
 * fail-open (no limit) nor fail-closed (refuse everyone): the limit becomes per replica, so N replicas
 * let through up to N times the shared rate, until Redis answers again. `degraded` is true from the
 * first failed decision to the next one Redis answers; `stats` counts who answered. A decision never
 * waits longer than `timeoutMs`, and nothing queues without bound: the client rejects commands at once
 * while it is disconnected (no offline queue), holds at most MAX_IN_FLIGHT commands (a stalled Redis
 * fills that, then decisions fall back at once), and reconnects in the background with a capped
 * exponential backoff that never gives up. A decision that timed out may still be applied by Redis
 * later: that request then counts in both its local bucket and the shared one (the conservative side).
 */
import { createClient, defineScript, type CommandParser } from '@redis/client';
import type { RateLimiter } from './rate-limit.js';

export interface RedisRateLimitOptions {
  readonly host: string;
  readonly port: number;
  readonly ratePerSecond: number;
  readonly burst: number;
  /** Prepended to every rate-limit key (default 'dfp:rl:'). */
  readonly keyPrefix?: string;
  /** The longest one decision waits for Redis before the fallback answers (default 50). */
  readonly timeoutMs?: number;
  /** The local buckets that answer while Redis is unreachable; same rate and burst, one per process. */
  readonly fallback: RateLimiter;
  /** Milliseconds (default performance.now); only stamps `degradedSinceMs` — the buckets run on Redis's clock. */
  readonly now?: () => number;
  /** Told when `degraded` flips (with the error that made it true), to log it once rather than per decision. */
  readonly onDegradedChange?: (degraded: boolean, cause: Error | null) => void;
}

/**
 * KEYS[1]: the bucket, a hash {tokens, at (µs on Redis's clock)}. ARGV[1]: tokens per second; ARGV[2]:
 * burst. Returns 0 when a token was taken, else the whole seconds until one is there (at least 1). Like
 * the local buckets, a refused take writes nothing (refilling is lazy, the stored state still holds).
 * `redis.replicate_commands()` lets Redis 3.2–4 write after TIME; from 5 on it is the default (a no-op).
 */
const TAKE_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if state[1] then
  tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000000) end
end
if tokens < 1 then
  return math.max(1, math.ceil((1 - tokens) / rate))
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1)
return 0
`;

const TAKE = defineScript({
  SCRIPT: TAKE_SCRIPT,
  NUMBER_OF_KEYS: 1,
  parseCommand(parser: CommandParser, key: string, rate: string, burst: string) {
    parser.pushKey(key);
    parser.push(rate, burst);
  },
  transformReply: (reply: unknown) => reply as number,
});

/** Commands sent and not yet answered, at most: beyond it a decision falls back at once. */
const MAX_IN_FLIGHT = 10_000;
/** Reconnect backoff: 50 ms doubling to this cap, plus up to 100 ms of jitter; never gives up. */
const MAX_RECONNECT_DELAY_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;

function reconnectDelayMs(retries: number): number {
  return Math.min(50 * 2 ** Math.min(retries, 16), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
}

function makeClient(host: string, port: number) {
  return createClient({
    socket: { host, port, connectTimeout: CONNECT_TIMEOUT_MS, reconnectStrategy: reconnectDelayMs },
    disableOfflineQueue: true,
    commandsQueueMaxLength: MAX_IN_FLIGHT,
    scripts: { take: TAKE },
  });
}

const OFFLINE = new Error('redis rate-limit store: not connected');
const TIMED_OUT = new Error('redis rate-limit store: no answer in time');
const BAD_REPLY = new Error('redis rate-limit store: unexpected reply');

function ignore(): void {}

export class RedisRateLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly keyPrefix: string;
  readonly timeoutMs: number;
  /** Decisions answered by Redis, and by the fallback. */
  readonly stats: { redis: number; fallback: number };
  private readonly client: ReturnType<typeof makeClient>;
  private readonly fallback: RateLimiter;
  private readonly now: () => number;
  private readonly onDegradedChange: ((degraded: boolean, cause: Error | null) => void) | null;
  private readonly rateArg: string;
  private readonly burstArg: string;
  private isDegraded: boolean;
  private degradedAt: number;
  private isClosed: boolean;

  /** Does not wait for Redis, and does not throw when it is unreachable: the client connects in the background. */
  constructor(opts: RedisRateLimitOptions) {
    if (!(opts.ratePerSecond > 0) || !(opts.burst >= 1)) throw new RangeError('ratePerSecond must be > 0 and burst >= 1');
    const timeoutMs = opts.timeoutMs ?? 50;
    if (!(timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0');
    this.ratePerSecond = opts.ratePerSecond;
    this.burst = opts.burst;
    this.keyPrefix = opts.keyPrefix ?? 'dfp:rl:';
    this.timeoutMs = timeoutMs;
    this.stats = { redis: 0, fallback: 0 };
    this.fallback = opts.fallback;
    this.now = opts.now ?? (() => performance.now());
    this.onDegradedChange = opts.onDegradedChange ?? null;
    this.rateArg = String(opts.ratePerSecond);
    this.burstArg = String(opts.burst);
    this.isDegraded = false;
    this.degradedAt = 0;
    this.isClosed = false;
    this.client = makeClient(opts.host, opts.port);
    // The client emits 'error' for every failed (re)connect; the failure reaches us through the
    // decisions, so the event only needs a listener (without one, Node would throw it).
    this.client.on('error', ignore);
    // Load the script on every (re)connection, ahead of any decision (commands go out in order), so the
    // first decision on a fresh or restarted Redis is one round trip too, not EVALSHA → NOSCRIPT → EVAL.
    this.client.on('ready', () => this.client.scriptLoad(TAKE_SCRIPT).catch(ignore));
    // Retries until connected or closed; close() makes it reject, which is expected.
    this.client.connect().catch(ignore);
  }

  /** True from a decision Redis could not answer to the next one it did. */
  get degraded(): boolean {
    return this.isDegraded;
  }

  /** Whether the client holds a ready connection to Redis now (decisions are tried there only then). */
  get isConnected(): boolean {
    return this.client.isReady;
  }

  /** When the current degradation began (on `now`), or null while Redis answers. */
  get degradedSinceMs(): number | null {
    return this.isDegraded ? this.degradedAt : null;
  }

  /**
   * Take one token for `key`: 0 when granted, else the whole seconds to wait (at least 1) — what
   * RateLimiter.take means, decided by Redis when it answers within `timeoutMs`, else by the fallback.
   * Never rejects.
   */
  take(key: string): Promise<number> {
    // Disconnected: answer at once rather than arm a timer for a command the client would refuse.
    if (!this.client.isReady) return Promise.resolve(this.takeLocally(key, OFFLINE));
    return new Promise<number>((resolve) => {
      let isSettled = false;
      const fallBack = () => {
        if (isSettled) return;
        isSettled = true;
        resolve(this.takeLocally(key, TIMED_OUT));
      };
      // Timers run before the loop reads sockets: after a stall of the event loop itself, the reply may
      // already be waiting. setImmediate runs after that read, so such a reply still wins.
      const timer = setTimeout(() => setImmediate(fallBack), this.timeoutMs);
      this.client.take(this.keyPrefix + key, this.rateArg, this.burstArg).then(
        (wait: unknown) => {
          if (isSettled) return;
          isSettled = true;
          clearTimeout(timer);
          resolve(typeof wait === 'number' ? this.answered(wait) : this.takeLocally(key, BAD_REPLY));
        },
        (err: unknown) => {
          if (isSettled) return;
          isSettled = true;
          clearTimeout(timer);
          resolve(this.takeLocally(key, err instanceof Error ? err : new Error(String(err))));
        },
      );
    });
  }

  /** Stop reconnecting and drop the connection; decisions still pending are answered by the fallback. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    // destroy, not close: close waits for the replies in flight, which a stalled Redis never sends.
    this.client.destroy();
  }

  private answered(wait: number): number {
    this.stats.redis++;
    if (this.isDegraded) {
      this.isDegraded = false;
      this.onDegradedChange?.(false, null);
    }
    return wait;
  }

  private takeLocally(key: string, cause: Error): number {
    this.stats.fallback++;
    if (!this.isDegraded) {
      this.isDegraded = true;
      this.degradedAt = this.now();
      this.onDegradedChange?.(true, cause);
    }
    return this.fallback.take(key);
  }
}
