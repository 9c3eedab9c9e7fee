/**
 * rateLimit.store: redis — token buckets shared by every replica, against a real redis-server on
 * 127.0.0.1. Two RedisRateLimiter instances stand in for two replicas: one burst between them, not one
 * each; concurrent takes are atomic; a Redis that stops, stalls or was never there leaves decisions to
 * each process's local buckets within timeoutMs (`degraded`, `stats`), and Redis answers again once
 * it is back on the same port. Last, two real dfp processes sharing one Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@redis/client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { RateLimiter } from '../../src/policy/rate-limit.js';
import { RedisRateLimiter, type RedisRateLimitOptions } from '../../src/policy/rate-limit-redis.js';
import { freePort, startEchoOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw-client.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { header, TIMER_SLACK_MS, waitFor } from '../helpers/wait.js';

/** A generous bound on one decision while Redis is down or stalled (timeoutMs is 50): not a measurement. */
const DECISION_BOUND_MS = 1_000;

type Limits = Pick<RedisRateLimitOptions, 'ratePerSecond' | 'burst'> & Partial<RedisRateLimitOptions>;

/** A RedisRateLimiter with its own local fallback buckets (same rate and burst), closed after the test. */
function limiter(port: number, limits: Limits): RedisRateLimiter {
  const fallback = new RateLimiter({ ratePerSecond: limits.ratePerSecond, burst: limits.burst });
  const l = new RedisRateLimiter({ host: '127.0.0.1', port, fallback, ...limits });
  onTestFinished(() => l.close());
  return l;
}

async function connected(...limiters: RedisRateLimiter[]): Promise<void> {
  await waitFor(() => limiters.every((l) => l.isConnected), 10_000);
}

/** A plain client to look at what the limiter left in Redis. */
async function inspect(redis: RedisServer) {
  const client = createClient({ socket: { host: redis.host, port: redis.port, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  onTestFinished(() => client.destroy());
  return client;
}

/** The decision and how long it took (ms). */
async function timedTake(l: RedisRateLimiter, key: string): Promise<{ wait: number; ms: number }> {
  const start = performance.now();
  const wait = await l.take(key);
  return { wait, ms: performance.now() - start };
}

describe('RedisRateLimiter against redis-server', () => {
  it('two replicas sharing a key share one burst of 5 (not 10), then both refuse with the same Retry-After; the key expires when full', async () => {
    const redis = await startRedisServer();
    const a = limiter(redis.port, { ratePerSecond: 0.1, burst: 5 });
    const b = limiter(redis.port, { ratePerSecond: 0.1, burst: 5 });
    await connected(a, b);
    const granted = [await a.take('alice'), await b.take('alice'), await a.take('alice'), await b.take('alice'), await a.take('alice')];
    expect(granted).toEqual([0, 0, 0, 0, 0]);
    // One token every 10 s: the next is 10 s away (9 if the test machine took over a second to get here).
    const refusedA = await a.take('alice');
    const refusedB = await b.take('alice');
    for (const wait of [refusedA, refusedB]) {
      expect(wait).toBeGreaterThanOrEqual(9);
      expect(wait).toBeLessThanOrEqual(10);
    }
    // Another key has its own bucket.
    expect(await b.take('10.0.0.7')).toBe(0);
    expect(a.stats).toEqual({ redis: 4, fallback: 0 });
    expect(b.stats).toEqual({ redis: 4, fallback: 0 });
    expect(a.degraded || b.degraded).toBe(false);

    const client = await inspect(redis);
    expect((await client.keys('*')).sort()).toEqual(['dfp:rl:10.0.0.7', 'dfp:rl:alice']);
    // Full again in (5 - 0) / 0.1 s = 50 s, and for 10.0.0.7 in 1 / 0.1 s = 10 s: that is when the keys go.
    const ttlAlice = await client.pTTL('dfp:rl:alice');
    const ttlOther = await client.pTTL('dfp:rl:10.0.0.7');
    expect(ttlAlice).toBeGreaterThan(40_000);
    expect(ttlAlice).toBeLessThanOrEqual(50_001);
    expect(ttlOther).toBeGreaterThan(5_000);
    expect(ttlOther).toBeLessThanOrEqual(10_001);
  });

  it('refills at ratePerSecond on Redis time and drops the key once full; a custom keyPrefix names the key', async () => {
    const redis = await startRedisServer();
    const client = await inspect(redis);
    const fast = limiter(redis.port, { ratePerSecond: 2, burst: 1 });
    const prefixed = limiter(redis.port, { ratePerSecond: 0.1, burst: 1, keyPrefix: 'test:' });
    await connected(fast, prefixed);
    expect(await fast.take('k')).toBe(0);
    expect(await fast.take('k')).toBe(1); // under 500 ms to the next token, rounded up to whole seconds
    await new Promise((r) => setTimeout(r, 600));
    expect(await fast.take('k')).toBe(0);
    // Full again 500 ms after that take: the key is gone then.
    const start = performance.now();
    while ((await client.exists('dfp:rl:k')) === 1 && performance.now() - start < 3_000) await new Promise((r) => setTimeout(r, 20));
    expect(await client.exists('dfp:rl:k')).toBe(0);
    expect(fast.stats).toEqual({ redis: 3, fallback: 0 });

    expect(await prefixed.take('p')).toBe(0);
    expect(await client.exists('test:p')).toBe(1);
    expect(await client.exists('dfp:rl:p')).toBe(0);

    // A Redis that lost its scripts: EVALSHA is refused, the client runs EVAL, still Redis's answer.
    await client.scriptFlush();
    expect(await prefixed.take('q')).toBe(0);
    expect(prefixed.stats).toEqual({ redis: 2, fallback: 0 });
  });

  it('200 concurrent takes over two replicas with burst 50 grant exactly 50', async () => {
    const redis = await startRedisServer();
    // A long timeout here: this asserts atomicity, and a timed-out decision would be the fallback's.
    const limits = { ratePerSecond: 0.001, burst: 50, timeoutMs: 5_000 };
    const a = limiter(redis.port, limits);
    const b = limiter(redis.port, limits);
    await connected(a, b);
    const waits = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? a : b).take('shared')));
    expect(waits.filter((w) => w === 0)).toHaveLength(50);
    expect(waits.filter((w) => w >= 1)).toHaveLength(150);
    expect(a.stats.redis + b.stats.redis).toBe(200);
    expect(a.stats.fallback + b.stats.fallback).toBe(0);
  });

  it('Redis stopped mid-way: the local buckets answer within timeoutMs and degraded is true; restarted on the same port: Redis answers again', async () => {
    const redis = await startRedisServer();
    const changes: boolean[] = [];
    const l = limiter(redis.port, { ratePerSecond: 0.1, burst: 3, timeoutMs: 50, onDegradedChange: (d) => changes.push(d) });
    await connected(l);
    expect([await l.take('bob'), await l.take('bob'), await l.take('bob')]).toEqual([0, 0, 0]);
    expect(await l.take('bob')).toBeGreaterThanOrEqual(9); // the shared bucket is empty
    expect(l.stats).toEqual({ redis: 4, fallback: 0 });

    await redis.stop('SIGKILL');
    // The local bucket for bob is fresh: 3 granted, then refused; each decision prompt.
    const local = [await timedTake(l, 'bob'), await timedTake(l, 'bob'), await timedTake(l, 'bob'), await timedTake(l, 'bob')];
    expect(local.map((d) => d.wait === 0)).toEqual([true, true, true, false]);
    expect(local[3]!.wait).toBeGreaterThanOrEqual(9);
    for (const d of local) expect(d.ms).toBeLessThan(DECISION_BOUND_MS);
    expect(l.degraded).toBe(true);
    expect(l.degradedSinceMs).not.toBeNull();
    expect(l.stats).toEqual({ redis: 4, fallback: 4 });

    // Back on the same port, empty (no persistence): the limiter loads its script again on reconnecting.
    await redis.start();
    await waitFor(() => l.isConnected, 10_000);
    expect(await l.take('bob')).toBe(0);
    expect(l.degraded).toBe(false);
    expect(l.degradedSinceMs).toBeNull();
    expect(l.stats).toEqual({ redis: 5, fallback: 4 });
    expect(changes).toEqual([true, false]);
  });

  it('Redis stalled (SIGSTOP, connection open): a decision waits timeoutMs, then the fallback answers; resumed: Redis again', async () => {
    const redis = await startRedisServer();
    const l = limiter(redis.port, { ratePerSecond: 0.1, burst: 2, timeoutMs: 50 });
    await connected(l);
    expect(await l.take('carol')).toBe(0);
    redis.pause();
    const stalled = [await timedTake(l, 'carol'), await timedTake(l, 'carol')];
    for (const d of stalled) {
      expect(d.wait).toBe(0); // the local bucket is fresh
      expect(d.ms).toBeGreaterThanOrEqual(50 - TIMER_SLACK_MS); // it did wait for Redis
      expect(d.ms).toBeLessThan(DECISION_BOUND_MS);
    }
    expect(l.isConnected).toBe(true);
    expect(l.degraded).toBe(true);
    expect(l.stats).toEqual({ redis: 1, fallback: 2 });
    redis.resume();
    // The first decision Redis answers in time ends the degradation.
    for (let i = 0; i < 100 && l.degraded; i++) await l.take(`probe-${i}`);
    expect(l.degraded).toBe(false);
    // The two timed-out takes still ran in Redis when it woke (the documented price): the shared
    // bucket (burst 2) was emptied by them.
    expect(await l.take('carol')).toBeGreaterThanOrEqual(9);
  });

  it('an event loop stalled past timeoutMs still takes a reply that arrived meanwhile, not the fallback', async () => {
    const redis = await startRedisServer();
    const l = limiter(redis.port, { ratePerSecond: 0.1, burst: 2, timeoutMs: 50 });
    await connected(l);
    const decision = l.take('frank');
    await new Promise((r) => setImmediate(r)); // the client writes its commands in a setImmediate: now sent
    const until = performance.now() + 300;
    while (performance.now() < until); // block the loop past the timeout; Redis answers meanwhile
    expect(await decision).toBe(0);
    expect(l.stats).toEqual({ redis: 1, fallback: 0 });
    expect(l.degraded).toBe(false);
  });

  it('an unreachable Redis at start: the constructor does not throw, take() answers from the fallback at once', async () => {
    const port = await freePort(); // nothing listens there
    const fallback = new RateLimiter({ ratePerSecond: 0.1, burst: 2 });
    const l = new RedisRateLimiter({ host: '127.0.0.1', port, ratePerSecond: 0.1, burst: 2, fallback });
    onTestFinished(() => l.close());
    const decisions = [await timedTake(l, 'dave'), await timedTake(l, 'dave'), await timedTake(l, 'dave')];
    expect(decisions.map((d) => d.wait === 0)).toEqual([true, true, false]);
    for (const d of decisions) expect(d.ms).toBeLessThan(DECISION_BOUND_MS);
    expect(l.degraded).toBe(true);
    expect(l.isConnected).toBe(false);
    expect(l.stats).toEqual({ redis: 0, fallback: 3 });
    // Still retrying in the background, still answering; close() stops it and take() still answers.
    await new Promise((r) => setTimeout(r, 300));
    expect(await l.take('erin')).toBe(0);
    await l.close();
    expect(await l.take('erin')).toBe(0);
    expect(l.stats.fallback).toBe(5);
  });

  it('rejects a rate, burst or timeout it cannot use', () => {
    const fallback = new RateLimiter({ ratePerSecond: 1, burst: 1 });
    const base = { host: '127.0.0.1', port: 1, fallback };
    expect(() => new RedisRateLimiter({ ...base, ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => new RedisRateLimiter({ ...base, ratePerSecond: 1, burst: 0 })).toThrow(RangeError);
    expect(() => new RedisRateLimiter({ ...base, ratePerSecond: 1, burst: 1, timeoutMs: 0 })).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------------------------------------------
// Two real dfp processes sharing one Redis (`rateLimit.store: redis://HOST:PORT`).
// ---------------------------------------------------------------------------------------------------

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Dfp {
  port: number;
  admin: number;
  child: ChildProcess;
  stderr(): string;
}

async function startDfp(configFile: string): Promise<Dfp> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', configFile, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--log-level', 'warn'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const start = performance.now();
  for (;;) {
    const m = /dfp listening on 127\.0\.0\.1:(\d+), admin on 127\.0\.0\.1:(\d+)/.exec(err);
    if (m) return { port: Number(m[1]), admin: Number(m[2]), child, stderr: () => err };
    if (child.exitCode !== null) throw new Error(`dfp exited ${child.exitCode}: ${err}`);
    if (performance.now() - start > 15_000) throw new Error(`dfp did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function metric(d: Dfp, name: string): Promise<number> {
  const res = await rawRequest(d.admin, 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n');
  const line = res.responses[0]!.body.toString().split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe('two dfp processes with rateLimit.store: redis', () => {
  it('share one burst through Redis (4 across both, the 5th is 429); with Redis stopped each answers from its own local buckets, no 5xx', async () => {
    const redis = await startRedisServer();
    const origin = await startEchoOrigin();
    const dir = mkdtempSync(join(tmpdir(), 'dfp-rl-redis-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'dfp.yaml');
    writeFileSync(
      config,
      [
        'access:',
        '  allowPrivateDestinations: true',
        'rateLimit:',
        '  perClient: { requestsPerSecond: 0.1, burst: 4 }',
        `  store: ${redis.url}`,
        '',
      ].join('\n'),
    );
    const [a, b] = await Promise.all([startDfp(config), startDfp(config)]);
    const get = async (d: Dfp, path: string) => (await rawRequest(d.port, `GET http://127.0.0.1:${origin.port}${path} HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0];

    // Both key on the client address, 127.0.0.1: one shared bucket of 4.
    for (const [d, i] of [[a, 1], [b, 2], [a, 3], [b, 4]] as const) expect((await get(d, `/shared-${i}`))?.status).toBe(200);
    for (const d of [a, b]) {
      const refused = await get(d, '/shared-5');
      expect(refused?.status).toBe(429);
      expect(Number(header(refused, 'retry-after'))).toBeGreaterThanOrEqual(9);
    }
    expect(await metric(a, 'dfp_rate_limited_total')).toBe(1);
    expect(await metric(b, 'dfp_rate_limited_total')).toBe(1);
    expect(origin.seen).toHaveLength(4);

    // Redis gone: each process falls back to its own fresh local bucket of 4 (the limit is per replica now).
    await redis.stop();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(a, `/local-a-${i}`))?.status ?? 0);
    statuses.push((await get(b, '/local-b'))?.status ?? 0);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 200]);
    expect(await metric(a, 'dfp_rate_limited_total')).toBe(2);
    expect(await metric(b, 'dfp_rate_limited_total')).toBe(1);
    expect(origin.seen).toHaveLength(9);
  }, 60_000);
});
