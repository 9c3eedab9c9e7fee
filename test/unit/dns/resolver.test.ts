import { describe, expect, it, onTestFinished } from 'vitest';
import dgram from 'node:dgram';
import { DnsResolver, mapResolverError } from '../../../src/dns/resolver.js';
import { combineParallel } from '../../../src/dns/lookup.js';
import { interleaveAddresses, loopbackAddresses, planFor } from '../../../src/dns/family.js';
import { ProxyError } from '../../../src/errors.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import { TIMER_SLACK_MS, settlesAtOnce, settlesBefore, timerStart } from '../../helpers/wait.js';

describe('c-ares error codes map once, to the error table', () => {
  const cases: Array<[string | undefined, string, string, string | undefined, number]> = [
    // c-ares code, result kind, ProxyError code, rcode, status
    ['ENOTFOUND', 'nxdomain', 'DNS_NXDOMAIN', 'NXDOMAIN', 502],
    ['ENODATA', 'nodata', 'DNS_FAILURE', 'NODATA', 502],
    ['ETIMEOUT', 'timeout', 'DNS_TIMEOUT', undefined, 504],
    ['ESERVFAIL', 'error', 'DNS_FAILURE', 'SERVFAIL', 502],
    ['EREFUSED', 'error', 'DNS_FAILURE', 'REFUSED', 502],
    ['ENOTIMP', 'error', 'DNS_FAILURE', 'NOTIMP', 502],
    ['EFORMERR', 'error', 'DNS_FAILURE', 'FORMERR', 502],
    ['ECONNREFUSED', 'error', 'DNS_FAILURE', undefined, 502],
    ['EBADRESP', 'error', 'DNS_FAILURE', undefined, 502],
    ['ECANCELLED', 'error', 'DNS_FAILURE', undefined, 502],
    [undefined, 'error', 'DNS_FAILURE', undefined, 502],
  ];
  for (const [cares, kind, code, rcode, status] of cases) {
    it(`${cares ?? 'no code'} → ${kind}, ${code}${rcode ? ` rcode=${rcode}` : ''}`, () => {
      const result = mapResolverError('name.test', cares === undefined ? new Error('x') : Object.assign(new Error(cares), { code: cares }));
      expect(result.kind).toBe(kind);
      expect(result.error).toBeInstanceOf(ProxyError);
      expect([result.error.code, result.error.rcode, result.error.status]).toEqual([code, rcode, status]);
      expect(result.error.detail).toContain('name.test');
    });
  }
});

describe('DnsResolver', () => {
  it('returns addresses with the smallest record TTL', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    dns.set('two.test', { a: ['127.0.0.1', '127.0.0.2'], aaaa: ['::1'], ttl: 42 });
    const resolver = new DnsResolver({ servers: [dns.address], queryTimeoutMs: 1_000, retries: 0 });
    expect(await resolver.query('two.test', 4)).toEqual({
      kind: 'success',
      addresses: [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }],
      ttlSeconds: 42,
    });
    expect(await resolver.query('two.test', 6)).toMatchObject({ kind: 'success', addresses: [{ address: '::1', family: 6 }] });
    expect(resolver.servers()).toEqual([dns.address]);
  });

  it('enforces queryTimeout itself, whatever c-ares does between tries', async () => {
    const dns = await startDnsServer({ unknown: 'silent' });
    onTestFinished(() => dns.close());
    const resolver = new DnsResolver({ servers: [dns.address], queryTimeoutMs: 200, retries: 3 });
    const started = await timerStart();
    const querying = resolver.query('silent.test', 4);
    // c-ares alone would go on for four tries with growing timeouts (~750 ms); the deadline, armed
    // first, answers before a timer of queryTimeout + 100 ms armed after it, however loaded the machine.
    expect(await settlesBefore(querying, 300)).toBe(true);
    const result = await querying;
    expect(performance.now() - started).toBeGreaterThanOrEqual(200 - TIMER_SLACK_MS);
    expect(result.kind).toBe('timeout');
    expect(dns.queries('silent.test', 'A')).toBeGreaterThanOrEqual(1);
  });

  it('reports a DNS server that is not listening as a failure, not a hang', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    const resolver = new DnsResolver({ servers: [`127.0.0.1:${port}`], queryTimeoutMs: 5_000, retries: 1 });
    const querying = resolver.query('any.test', 4);
    expect(await settlesBefore(querying, 5_000)).toBe(true); // before its own deadline, armed first
    const result = await querying;
    // ICMP port unreachable on loopback: c-ares ECONNREFUSED, an error, not the deadline's timeout.
    expect(result.kind).toBe('error');
    expect(result.kind === 'success' ? '' : result.error.detail).toBe('any.test (ECONNREFUSED)');
  });

  it('cancel() settles queries in flight at once', async () => {
    const dns = await startDnsServer({ unknown: 'silent' });
    onTestFinished(() => dns.close());
    const resolver = new DnsResolver({ servers: [dns.address], queryTimeoutMs: 5_000, retries: 0 });
    const pending = resolver.query('silent.test', 4);
    await new Promise((r) => setTimeout(r, 20));
    resolver.cancel();
    expect(await settlesAtOnce(pending)).toBe(true);
    expect(await pending).toMatchObject({ kind: 'error', error: { code: 'DNS_FAILURE', detail: 'silent.test (ECANCELLED)' } });
  });
});

describe('family policy helpers', () => {
  const v4 = (address: string) => ({ address, family: 4 as const });
  const v6 = (address: string) => ({ address, family: 6 as const });

  it('interleaves families starting with the first, leftovers at the end', () => {
    expect(interleaveAddresses([v6('::1'), v6('::2'), v6('::3')], [v4('1.1.1.1')]).map((a) => a.address)).toEqual([
      '::1', '1.1.1.1', '::2', '::3',
    ]);
    expect(interleaveAddresses([], [v4('1.1.1.1')]).map((a) => a.address)).toEqual(['1.1.1.1']);
  });

  it('plans match the Envoy meanings', () => {
    expect(planFor('V4_ONLY')).toEqual({ first: 4, second: 0, isParallel: false });
    expect(planFor('V6_ONLY')).toEqual({ first: 6, second: 0, isParallel: false });
    expect(planFor('V4_PREFERRED')).toEqual({ first: 4, second: 6, isParallel: false });
    expect(planFor('AUTO')).toEqual({ first: 6, second: 4, isParallel: false });
    expect(planFor('ALL')).toEqual({ first: 6, second: 4, isParallel: true });
    expect(loopbackAddresses('ALL').map((a) => a.address)).toEqual(['::1', '127.0.0.1']);
  });

  it('combines parallel answers: addresses win with the shortest TTL; NXDOMAIN beats failures beats NODATA', () => {
    const fail = (kind: 'nxdomain' | 'nodata' | 'timeout' | 'error') => ({ kind, error: new ProxyError('DNS_FAILURE', kind) });
    const ok = (ttlSeconds: number, address: string) => ({ kind: 'success' as const, addresses: [v4(address)], ttlSeconds });
    expect(combineParallel(ok(30, '1.1.1.1'), ok(10, '2.2.2.2'))).toMatchObject({ kind: 'success', ttlSeconds: 10 });
    expect(combineParallel(fail('timeout'), ok(10, '2.2.2.2'))).toMatchObject({ kind: 'success', ttlSeconds: 10 });
    expect(combineParallel(fail('nodata'), fail('nxdomain')).kind).toBe('nxdomain');
    expect(combineParallel(fail('nodata'), fail('timeout')).kind).toBe('timeout');
    expect(combineParallel(fail('error'), fail('nodata')).kind).toBe('error');
    expect(combineParallel(fail('nodata'), fail('nodata')).kind).toBe('nodata');
  });
});
