import { describe, expect, it, onTestFinished } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DnsConfig, LookupFamily } from '../../../src/config/types.js';
import { DnsCache, type DnsCacheClock } from '../../../src/dns/cache.js';
import { ProxyError } from '../../../src/errors.js';
import { startDnsServer, type TestDnsServer } from '../../helpers/dns-server.js';
import { ManualClock, TIMER_SLACK_MS, settlesAtOnce, settlesBefore, timerStart, waitFor } from '../../helpers/wait.js';

/** The cache's clock and host timers on a ManualClock: TTLs, expiry and hostTtl move only when the test says. */
function cacheClock(clock: ManualClock): DnsCacheClock {
  return {
    coarseNowMs: () => clock.now(),
    nowMs: () => clock.now(),
    setTimer: (callback, delayMs, arg) => clock.setTimeout(() => callback(arg), delayMs) as unknown as NodeJS.Timeout,
    clearTimer: (timer) => clock.clearTimeout(timer),
  };
}

/** A cache on the test's own DNS server; with `clock`, on that clock (the queries themselves stay real). */
async function setup(overrides: Partial<DnsConfig> = {}, clock?: ManualClock): Promise<{ dns: TestDnsServer; cache: DnsCache }> {
  const dns = await startDnsServer();
  const cache = new DnsCache({
    servers: [dns.address],
    lookupFamily: 'V4_ONLY',
    minTtlMs: 100,
    maxTtlMs: 60_000,
    negativeTtlMs: 1_000,
    queryTimeoutMs: 1_000,
    retries: 0,
    hostTtlMs: 60_000,
    maxHosts: 100,
    maxPendingLookups: 100,
    preresolve: [],
    ...overrides,
  }, clock === undefined ? undefined : cacheClock(clock));
  onTestFinished(async () => {
    cache.close();
    await dns.close();
  });
  return { dns, cache };
}

async function rejection(p: Promise<unknown>): Promise<ProxyError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error('expected a rejection');
}

/** Wait for the lookups the cache started (refreshes run in the background) to finish. */
const lookupsDone = (cache: DnsCache) => waitFor(() => cache.stats().pending === 0);

function addressesOf(list: readonly { address: string }[] | undefined): string[] | undefined {
  return list?.map((a) => a.address);
}

describe('DnsCache: hits and TTL', () => {
  it('answers a second resolve and peek from cache within the TTL, without a query', async () => {
    const { dns, cache } = await setup();
    dns.set('example.test', { a: ['127.0.0.1', '127.0.0.2'], ttl: 30 });
    expect(addressesOf(await cache.resolve('example.test'))).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(addressesOf(await cache.resolve('example.test'))).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(addressesOf(cache.peek('example.test'))).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(dns.queries('example.test', 'A')).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, hosts: 1, pending: 0 });
    expect(cache.stats().queries.success).toBe(1);
    expect(cache.snapshot()[0]).toMatchObject({ host: 'example.test', addresses: ['127.0.0.1', '127.0.0.2'], hits: 2 });
  });

  it('answers a cached name with one settled promise, replaced when the answer changes', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ minTtlMs: 100 }, clock);
    dns.set('same.test', { a: ['127.0.0.1'], ttl: 0 });
    await cache.resolve('same.test');
    const first = cache.resolve('same.test');
    expect(cache.resolve('same.test')).toBe(first);
    dns.set('same.test', { a: ['127.0.0.2'], ttl: 30 });
    clock.advance(100); // the TTL (minTtl) runs out: the host in use is re-resolved
    await lookupsDone(cache);
    expect(dns.queries('same.test', 'A')).toBe(2);
    const second = cache.resolve('same.test');
    expect(second).not.toBe(first);
    expect(addressesOf(await second)).toEqual(['127.0.0.2']);
  });

  it('peek misses an unknown name without a query or a hit', async () => {
    const { dns, cache } = await setup();
    expect(cache.peek('unknown.test')).toBeUndefined();
    expect(dns.totalQueries()).toBe(0);
    expect(cache.stats().hits).toBe(0);
  });

  it('takes the TTL from the records (the smallest one)', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({}, clock);
    dns.set('ttl.test', { a: ['127.0.0.1', '127.0.0.2'], ttl: 7 });
    await cache.resolve('ttl.test');
    expect(cache.snapshot()[0]!.ttlLeftMs).toBe(7_000);
    clock.advance(2_500);
    expect(cache.snapshot()[0]!.ttlLeftMs).toBe(4_500);
  });

  it('clamps record TTLs to maxTtl and minTtl', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ minTtlMs: 2_000, maxTtlMs: 4_000 }, clock);
    dns.set('long.test', { a: ['127.0.0.1'], ttl: 86_400 });
    dns.set('zero.test', { a: ['127.0.0.1'], ttl: 0 });
    await cache.resolve('long.test');
    await cache.resolve('zero.test');
    const byHost = new Map(cache.snapshot().map((e) => [e.host, e.ttlLeftMs]));
    expect(byHost.get('long.test')).toBe(4_000);
    expect(byHost.get('zero.test')).toBe(2_000);
  });

  it('re-resolves a host in use when its TTL runs out, not before, and serves the new answer', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ minTtlMs: 150 }, clock);
    dns.set('moving.test', { a: ['127.0.0.1'], ttl: 0 });
    await cache.resolve('moving.test');
    dns.set('moving.test', { a: ['127.0.0.9'], ttl: 0 });
    clock.advance(149);
    expect(addressesOf(cache.peek('moving.test'))).toEqual(['127.0.0.1']);
    expect(cache.stats().pending).toBe(0);
    clock.advance(1);
    expect(cache.stats().pending).toBe(1); // the refresh starts when the TTL runs out
    await lookupsDone(cache);
    expect(dns.queries('moving.test', 'A')).toBe(2);
    expect(addressesOf(cache.peek('moving.test'))).toEqual(['127.0.0.9']);
  });
});

describe('DnsCache: single flight', () => {
  it('makes one query per family for 200 concurrent resolves of a new name', async () => {
    const { dns, cache } = await setup({ lookupFamily: 'ALL' });
    dns.set('popular.test', { a: ['127.0.0.1'], aaaa: ['::1'], ttl: 30, delayMs: 50 });
    const all = await Promise.all(Array.from({ length: 200 }, () => cache.resolve('popular.test')));
    expect(dns.queries('popular.test', 'A')).toBe(1);
    expect(dns.queries('popular.test', 'AAAA')).toBe(1);
    for (const answer of all) expect(addressesOf(answer)).toEqual(['::1', '127.0.0.1']);
    expect(cache.stats()).toMatchObject({ misses: 200, pending: 0 });
  });

  it('shares one failure among concurrent waiters', async () => {
    const { dns, cache } = await setup();
    dns.set('gone.test', { rcode: 'NXDOMAIN', delayMs: 30 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => cache.resolve('gone.test')));
    expect(results.every((r) => r.status === 'rejected' && (r.reason as ProxyError).code === 'DNS_NXDOMAIN')).toBe(true);
    expect(dns.queries('gone.test', 'A')).toBe(1);
  });
});

describe('DnsCache: failures', () => {
  it('rejects NXDOMAIN as an answer (no timeout) with DNS_NXDOMAIN and rcode NXDOMAIN, then caches it', async () => {
    const { dns, cache } = await setup({ queryTimeoutMs: 5_000 });
    dns.set('gone.test', { rcode: 'NXDOMAIN' });
    const resolving = cache.resolve('gone.test');
    expect(await settlesBefore(resolving, 5_000)).toBe(true); // before the query's own deadline, armed first
    const err = await rejection(resolving);
    expect(cache.stats().queries.timeout).toBe(0);
    expect(err.code).toBe('DNS_NXDOMAIN');
    expect(err.rcode).toBe('NXDOMAIN');
    expect(err.status).toBe(502);
    expect((await rejection(cache.resolve('gone.test'))).code).toBe('DNS_NXDOMAIN');
    expect(dns.queries('gone.test')).toBe(1);
    expect(cache.stats().queries.nxdomain).toBe(1);
    expect(cache.snapshot()[0]).toMatchObject({ host: 'gone.test', addresses: [], error: 'NXDOMAIN' });
  });

  it('maps NODATA to DNS_FAILURE with rcode NODATA', async () => {
    const { dns, cache } = await setup();
    dns.set('empty.test', { rcode: 'NODATA' });
    const err = await rejection(cache.resolve('empty.test'));
    expect([err.code, err.rcode, err.status]).toEqual(['DNS_FAILURE', 'NODATA', 502]);
    expect(cache.stats().queries.nodata).toBe(1);
  });

  it('maps SERVFAIL and REFUSED to DNS_FAILURE with their rcode', async () => {
    const { dns, cache } = await setup();
    dns.set('broken.test', { rcode: 'SERVFAIL' });
    dns.set('refused.test', { rcode: 'REFUSED' });
    const servfail = await rejection(cache.resolve('broken.test'));
    const refused = await rejection(cache.resolve('refused.test'));
    expect([servfail.code, servfail.rcode]).toEqual(['DNS_FAILURE', 'SERVFAIL']);
    expect([refused.code, refused.rcode]).toEqual(['DNS_FAILURE', 'REFUSED']);
    expect(cache.stats().queries.error).toBe(2);
  });

  it('rejects a silent server with DNS_TIMEOUT at queryTimeout, not before, and caches the failure', async () => {
    const { dns, cache } = await setup({ queryTimeoutMs: 300, retries: 1 });
    dns.set('slow.test', { silent: true });
    const started = await timerStart();
    const resolving = cache.resolve('slow.test');
    // The resolver's deadline was armed first: its rejection comes before a timer of 2 × queryTimeout, however loaded.
    expect(await settlesBefore(resolving, 600)).toBe(true);
    const err = await rejection(resolving);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
    expect(err.code).toBe('DNS_TIMEOUT');
    expect(err.status).toBe(504);
    expect(cache.stats().queries.timeout).toBe(1);
    const before = cache.stats();
    const again = cache.resolve('slow.test');
    expect(await settlesAtOnce(again)).toBe(true); // the cached failure, without a lookup
    expect((await rejection(again)).code).toBe('DNS_TIMEOUT');
    expect(cache.stats()).toMatchObject({ hits: before.hits + 1, misses: before.misses, pending: 0 });
  });

  it('asks again once negativeTtl has passed, not before', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ negativeTtlMs: 150 }, clock);
    dns.set('flaky.test', { rcode: 'SERVFAIL' });
    await rejection(cache.resolve('flaky.test'));
    dns.set('flaky.test', { a: ['127.0.0.1'] });
    clock.advance(149);
    expect((await rejection(cache.resolve('flaky.test'))).rcode).toBe('SERVFAIL');
    expect(dns.queries('flaky.test', 'A')).toBe(1);
    clock.advance(1);
    expect(addressesOf(await cache.resolve('flaky.test'))).toEqual(['127.0.0.1']);
    expect(dns.queries('flaky.test', 'A')).toBe(2);
  });

  it('keeps serving the last good addresses when a refresh fails, retries every negativeTtl, and counts the failures', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ minTtlMs: 100, negativeTtlMs: 50 }, clock);
    dns.set('shaky.test', { a: ['127.0.0.7'], ttl: 0 });
    await cache.resolve('shaky.test');
    dns.set('shaky.test', { rcode: 'SERVFAIL' });
    for (const [step, failures] of [[100, 1], [49, 1], [1, 2]] as const) {
      clock.advance(step);
      await lookupsDone(cache);
      expect(cache.stats().refreshFailures).toBe(failures);
      expect(addressesOf(cache.peek('shaky.test'))).toEqual(['127.0.0.7']);
    }
    expect(dns.queries('shaky.test', 'A')).toBe(3);
    expect(addressesOf(await cache.resolve('shaky.test'))).toEqual(['127.0.0.7']);
  });

  it('stops serving stale addresses maxTtl after they expired, not before', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ minTtlMs: 100, maxTtlMs: 300, negativeTtlMs: 50 }, clock);
    dns.set('dying.test', { a: ['127.0.0.7'], ttl: 0 });
    await cache.resolve('dying.test');
    dns.set('dying.test', { rcode: 'SERVFAIL' });
    // Expires at 100 ms; refreshes fail every 50 ms from then on; served until 100 + 300 ms.
    for (let t = 50; t < 400; t += 50) {
      clock.advance(50);
      await lookupsDone(cache);
      expect(addressesOf(cache.peek('dying.test')), `at ${t} ms`).toEqual(['127.0.0.7']);
    }
    clock.advance(49);
    expect(addressesOf(cache.peek('dying.test'))).toEqual(['127.0.0.7']); // 399 ms
    clock.advance(1);
    expect(cache.peek('dying.test')).toBeUndefined(); // 400 ms
    await lookupsDone(cache);
    // Refreshes failed at 100, 150, … 350 ms; the lookup at 400 ms has nothing left to refresh.
    expect(cache.stats().refreshFailures).toBe(6);
    const err = await rejection(cache.resolve('dying.test'));
    expect([err.code, err.rcode]).toEqual(['DNS_FAILURE', 'SERVFAIL']);
  });
});

describe('DnsCache: bounds', () => {
  it('evicts the least recently used host beyond maxHosts', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ maxHosts: 2 }, clock);
    for (const name of ['a.test', 'b.test', 'c.test']) dns.set(name, { a: ['127.0.0.1'] });
    await cache.resolve('a.test');
    await cache.resolve('b.test');
    clock.advance(10); // recency is kept per tick of the cache's coarse clock
    cache.peek('a.test'); // a is now more recent than b
    await cache.resolve('c.test');
    expect(cache.stats().hosts).toBe(2);
    expect(cache.peek('b.test')).toBeUndefined();
    expect(cache.peek('a.test')).toBeDefined();
    await cache.resolve('b.test');
    expect(dns.queries('b.test', 'A')).toBe(2);
    expect(dns.queries('a.test', 'A')).toBe(1);
  });

  it('drops hosts unused for hostTtl, not before, even with a long record TTL', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ hostTtlMs: 150 }, clock);
    dns.set('idle.test', { a: ['127.0.0.1'], ttl: 3600 });
    await cache.resolve('idle.test');
    clock.advance(149);
    expect(cache.stats().hosts).toBe(1);
    clock.advance(1);
    expect(cache.stats().hosts).toBe(0);
    expect(cache.peek('idle.test')).toBeUndefined();
    expect(dns.queries('idle.test', 'A')).toBe(1); // dropped, not refreshed
  });

  it('keeps a host that is used within hostTtl, and drops it hostTtl after its last use', async () => {
    const clock = new ManualClock();
    const { dns, cache } = await setup({ hostTtlMs: 150 }, clock);
    dns.set('busy.test', { a: ['127.0.0.1'], ttl: 3600 });
    await cache.resolve('busy.test');
    for (let k = 0; k < 6; k++) {
      clock.advance(50);
      expect(cache.peek('busy.test')).toBeDefined();
    }
    expect(cache.stats().hosts).toBe(1); // 300 ms in all, used every 50
    clock.advance(149);
    expect(cache.stats().hosts).toBe(1);
    clock.advance(1);
    expect(cache.stats().hosts).toBe(0);
    expect(dns.queries('busy.test', 'A')).toBe(1);
  });

  it('answers DNS_OVERLOADED at once beyond maxPendingLookups, but lets waiters join', async () => {
    const { dns, cache } = await setup({ maxPendingLookups: 2 });
    for (const name of ['s1.test', 's2.test', 's3.test']) dns.set(name, { a: ['127.0.0.1'], delayMs: 150 });
    const first = cache.resolve('s1.test');
    const second = cache.resolve('s2.test');
    const joined = cache.resolve('s1.test');
    expect(cache.stats().pending).toBe(2);
    const overflow = cache.resolve('s3.test');
    expect(await settlesAtOnce(overflow)).toBe(true); // without waiting for the lookups in flight
    const err = await rejection(overflow);
    expect([err.code, err.status]).toEqual(['DNS_OVERLOADED', 503]);
    expect(dns.queries('s3.test')).toBe(0);
    await Promise.all([first, second, joined]);
    expect(addressesOf(await cache.resolve('s3.test'))).toEqual(['127.0.0.1']);
  });
});

describe('DnsCache: family policy', () => {
  const both = { a: ['127.0.0.1', '127.0.0.2'], aaaa: ['::1', '::2'] };
  const cases: Array<[LookupFamily, { a?: string[]; aaaa?: string[] }, string[] | string, number, number]> = [
    // policy, records, expected addresses or error rcode, A queries, AAAA queries
    ['V4_ONLY', both, ['127.0.0.1', '127.0.0.2'], 1, 0],
    ['V4_ONLY', { aaaa: ['::1'] }, 'NODATA', 1, 0],
    ['V6_ONLY', both, ['::1', '::2'], 0, 1],
    ['V6_ONLY', { a: ['127.0.0.1'] }, 'NODATA', 0, 1],
    ['V4_PREFERRED', both, ['127.0.0.1', '127.0.0.2'], 1, 0],
    ['V4_PREFERRED', { aaaa: ['::1'] }, ['::1'], 1, 1],
    ['AUTO', both, ['::1', '::2'], 0, 1],
    ['AUTO', { a: ['127.0.0.1'] }, ['127.0.0.1'], 1, 1],
    ['ALL', both, ['::1', '127.0.0.1', '::2', '127.0.0.2'], 1, 1],
    ['ALL', { a: ['127.0.0.1'] }, ['127.0.0.1'], 1, 1],
    ['ALL', { aaaa: ['::1', '::2'] }, ['::1', '::2'], 1, 1],
    ['ALL', {}, 'NODATA', 1, 1],
  ];
  for (const [policy, records, expected, aQueries, aaaaQueries] of cases) {
    const has = `${records.a ? 'A' : ''}${records.aaaa ? 'AAAA' : ''}` || 'no records';
    it(`${policy} with ${has}: ${Array.isArray(expected) ? expected.join(' ') : expected}, ${aQueries} A and ${aaaaQueries} AAAA queries`, async () => {
      const { dns, cache } = await setup({ lookupFamily: policy });
      dns.set('host.test', { ...records, ttl: 30 });
      if (Array.isArray(expected)) {
        expect(addressesOf(await cache.resolve('host.test'))).toEqual(expected);
      } else {
        expect((await rejection(cache.resolve('host.test'))).rcode).toBe(expected);
      }
      expect([dns.queries('host.test', 'A'), dns.queries('host.test', 'AAAA')]).toEqual([aQueries, aaaaQueries]);
    });
  }

  it('ALL prefers NXDOMAIN over NODATA, and a timeout over NODATA', async () => {
    const { dns, cache } = await setup({ lookupFamily: 'ALL', queryTimeoutMs: 200 });
    dns.set('gone.test', { rcode: 'NXDOMAIN' });
    dns.set('slow.test', { silent: true });
    expect((await rejection(cache.resolve('gone.test'))).code).toBe('DNS_NXDOMAIN');
    expect((await rejection(cache.resolve('slow.test'))).code).toBe('DNS_TIMEOUT');
  });
});

describe('DnsCache: localhost and preresolve', () => {
  const cases: Array<[LookupFamily, string[]]> = [
    ['V4_ONLY', ['127.0.0.1']],
    ['V4_PREFERRED', ['127.0.0.1']],
    ['V6_ONLY', ['::1']],
    ['AUTO', ['::1']],
    ['ALL', ['::1', '127.0.0.1']],
  ];
  for (const [policy, expected] of cases) {
    it(`${policy}: localhost and *.localhost resolve to ${expected.join(' ')} without a query`, async () => {
      const { dns, cache } = await setup({ lookupFamily: policy });
      expect(addressesOf(await cache.resolve('localhost'))).toEqual(expected);
      expect(addressesOf(await cache.resolve('app.localhost'))).toEqual(expected);
      expect(addressesOf(cache.peek('localhost'))).toEqual(expected);
      expect(dns.totalQueries()).toBe(0);
    });
  }

  it('start() resolves preresolve names, so the first peek hits', async () => {
    const { dns, cache } = await setup({ preresolve: ['Warm.Test.', 'cold.test', '127.0.0.1'] });
    dns.set('warm.test', { a: ['127.0.0.1'] });
    await cache.start();
    expect(addressesOf(cache.peek('warm.test'))).toEqual(['127.0.0.1']);
    expect(dns.queries('warm.test', 'A')).toBe(1);
    expect(dns.queries('cold.test', 'A')).toBe(1); // NXDOMAIN is cached, not thrown
    expect(cache.stats().hosts).toBe(2);
  });

  it('start() rejects an invalid preresolve name, naming the key', async () => {
    const { cache } = await setup({ preresolve: ['ok.test', 'bad..name'] });
    await expect(cache.start()).rejects.toThrow(/dns\.preresolve\[1\].*HOST_LABEL_EMPTY/);
  });

  it('an aborted wait rejects that caller only; the query goes on for the others', async () => {
    const { dns, cache } = await setup();
    dns.set('late.test', { a: ['127.0.0.1'], delayMs: 150 });
    const controller = new AbortController();
    const mine = cache.resolve('late.test', controller.signal);
    const theirs = cache.resolve('late.test');
    // Abort once the query is at the server: a 5 ms poll armed before its 150 ms answer delay sees it first.
    await waitFor(() => dns.queries('late.test', 'A') === 1);
    controller.abort();
    expect(await settlesAtOnce(mine)).toBe(true);
    await expect(mine).rejects.toMatchObject({ name: 'AbortError' });
    expect(addressesOf(await theirs)).toEqual(['127.0.0.1']);
    expect(addressesOf(cache.peek('late.test'))).toEqual(['127.0.0.1']);
    expect(dns.queries('late.test', 'A')).toBe(1);
  });

  it('close() rejects waiters at once and later resolves', async () => {
    const { dns, cache } = await setup({ queryTimeoutMs: 5_000 });
    dns.set('slow.test', { silent: true });
    const waiting = cache.resolve('slow.test');
    await sleep(20);
    cache.close();
    expect(await settlesAtOnce(waiting)).toBe(true); // not at its 5 s query timeout
    expect((await rejection(waiting)).code).toBe('DNS_FAILURE');
    expect((await rejection(cache.resolve('other.test'))).code).toBe('DNS_FAILURE');
  });
});
