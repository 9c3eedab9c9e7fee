/**
 * access.allow / access.deny end to end, in every mode: forward (absolute-form), CONNECT, gateway (Host
 * and a route's rewrite header) and the SNI listener. Names are decided before resolution (a denied
 * name is never asked of DNS), addresses after it (the address dialled is the one checked); deny wins;
 * an allow *name* never opens a private address, an allow *address rule* does; report mode lets
 * through and logs `would_deny`; the guard is enforced in both modes. Each denial is checked in the
 * reply (status, Proxy-Status details naming the rule), the log (`rule`) and dfp_denied_total{reason}.
 */
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { makeCertificates } from '../../src/cli/cert.js';
import type { AccessEntry, Config } from '../../src/config/types.js';
import { startMeteredHarness } from '../helpers/metered.js';
import { startEchoOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

const rules = (...texts: string[]): AccessEntry[] => texts.map((rule) => ({ rule, name: null }));

async function start(tweak: (c: Config) => void, allowPrivate = true) {
  return startMeteredHarness((c) => {
    c.access.allowPrivateDestinations = allowPrivate;
    c.routes = [
      { match: { hosts: ['front.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: 'x-dest', tls: null } },
      { match: { hosts: [], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } },
    ];
    tweak(c);
  });
}

/** The status line's code of a CONNECT (the tunnel is closed right after). */
function connectStatus(port: number, authority: string, extra = ''): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extra}\r\n`));
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end >= 0) {
        s.destroy();
        resolve({ status: Number(got.slice(9, 12)), head: got.slice(0, end) });
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed before a head: ${JSON.stringify(got)}`)));
  });
}

type Mode = 'forward' | 'connect' | 'gateway' | 'rewrite';

/** One request to name:port in `mode`: the status and Proxy-Status. */
async function ask(port: number, mode: Mode, name: string, target: number): Promise<{ status: number; proxyStatus: string | undefined }> {
  if (mode === 'connect') {
    const r = await connectStatus(port, `${name}:${target}`);
    return { status: r.status, proxyStatus: /\r\nproxy-status: ([^\r]*)/i.exec(r.head)?.[1] };
  }
  const head =
    mode === 'forward'
      ? `GET http://${name}:${target}/ HTTP/1.1\r\nHost: ${name}:${target}\r\n\r\n`
      : mode === 'gateway'
        ? `GET / HTTP/1.1\r\nHost: ${name}:${target}\r\n\r\n`
        : `GET / HTTP/1.1\r\nHost: front.test\r\nx-dest: ${name}:${target}\r\n\r\n`;
  const res = await rawRequest(port, head);
  return { status: res.responses[0]!.status!, proxyStatus: header(res.responses[0], 'proxy-status') };
}

const MODES: Mode[] = ['forward', 'connect', 'gateway', 'rewrite'];

describe('access.allow / access.deny in every mode', () => {
  for (const mode of MODES) {
    it(`${mode}: an allowed name passes, a deny rule wins over allow, an unlisted name is refused before DNS`, async () => {
      const origin = await startEchoOrigin();
      const p = await start((c) => {
        c.access.allow = rules('*.ok.test');
        c.access.deny = rules('bad.ok.test');
      });
      for (const n of ['a.ok.test', 'bad.ok.test', 'other.test']) p.dns.set(n, { a: ['127.0.0.1'] });

      expect((await ask(p.port, mode, 'a.ok.test', origin.port)).status).toBe(200);

      const denied = await ask(p.port, mode, 'bad.ok.test', origin.port);
      expect(denied.status).toBe(403);
      expect(denied.proxyStatus).toBe('dfp; error=http_request_denied; details="deny rule 0: bad.ok.test"');
      expect(p.dns.queries('bad.ok.test')).toBe(0);

      const unlisted = await ask(p.port, mode, 'other.test', origin.port);
      expect(unlisted.status).toBe(403);
      expect(unlisted.proxyStatus).toBe(`dfp; error=http_request_denied; details="other.test:${origin.port} is not in access.allow"`);
      expect(p.dns.queries('other.test')).toBe(0);

      await waitFor(() => p.log.records.length === 3);
      // A tunnel is logged when it closes: order by host.
      expect(p.log.records.map((r) => [r.host, r.status, r.rule]).sort()).toEqual([
        ['a.ok.test', 200, null],
        ['bad.ok.test', 403, 'deny rule 0: bad.ok.test'],
        ['other.test', 403, 'access.allow'],
      ]);
      expect(p.value('dfp_denied_total{reason="deny_rule"}')).toBe(1);
      expect(p.value('dfp_denied_total{reason="not_allowed"}')).toBe(1);
    });
  }

  it('a port or a port range in a rule: the same name on another port is not allowed', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => {
      c.access.allow = rules(`api.test:${origin.port}`, `range.test:${origin.port - 1}-${origin.port + 1}`);
    });
    p.dns.set('api.test', { a: ['127.0.0.1'] });
    p.dns.set('range.test', { a: ['127.0.0.1'] });
    expect((await ask(p.port, 'forward', 'api.test', origin.port)).status).toBe(200);
    expect((await ask(p.port, 'forward', 'range.test', origin.port)).status).toBe(200);
    expect((await ask(p.port, 'forward', 'api.test', origin.port + 1)).status).toBe(403);
    expect((await ask(p.port, 'connect', 'range.test', origin.port + 2)).status).toBe(403);
  });

  it('rules have names: logs and Proxy-Status say the name', async () => {
    const p = await start((c) => {
      c.access.deny = [{ rule: '*.tracker.test', name: 'trackers' }];
    });
    const r = await ask(p.port, 'forward', 'x.tracker.test', 80);
    expect(r.proxyStatus).toBe('dfp; error=http_request_denied; details="deny rule \\"trackers\\": *.tracker.test"');
    await waitFor(() => p.log.records.length === 1);
    expect(p.log.records[0]!.rule).toBe('deny rule "trackers": *.tracker.test');
  });
});

describe('address rules decide on the resolved addresses (the address dialled is the one checked)', () => {
  it('a deny CIDR refuses a name that resolves into it; of mixed answers only the others are dialled', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => {
      c.access.deny = rules('127.0.0.2/32');
    });
    p.dns.set('two.test', { a: ['127.0.0.2'] });
    p.dns.set('mixed.test', { a: ['127.0.0.2', '127.0.0.1'] });
    const r = await ask(p.port, 'forward', 'two.test', origin.port);
    expect(r.status).toBe(403);
    expect(r.proxyStatus).toBe('dfp; error=destination_ip_prohibited; details="127.0.0.2 matches deny rule 0: 127.0.0.2/32"');
    expect((await ask(p.port, 'forward', 'mixed.test', origin.port)).status).toBe(200);
    expect((await ask(p.port, 'connect', 'mixed.test', origin.port)).status).toBe(200);
    await waitFor(() => p.log.records.length === 3);
    expect(p.log.records[1]).toMatchObject({ host: 'mixed.test', status: 200, address: '127.0.0.1' });
    expect(p.log.records[2]).toMatchObject({ host: 'mixed.test', status: 200, address: '127.0.0.1' });
  });

  it('a deny CIDR also covers an IP literal and the IPv6 spellings that embed the address', async () => {
    const p = await start((c) => {
      c.access.deny = rules('127.0.0.0/8');
    });
    for (const lit of ['127.0.0.1', '[::ffff:127.0.0.1]']) {
      const res = await rawRequest(p.port, `GET http://${lit}:9/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(403);
      expect(header(res.responses[0], 'proxy-status')).toContain('deny rule 0: 127.0.0.0/8');
    }
    p.dns.set('nat64.test', { aaaa: ['64:ff9b::7f00:1'] });
    const res = await rawRequest(p.port, 'GET http://nat64.test:9/ HTTP/1.1\r\nHost: nat64.test\r\n\r\n');
    expect(res.responses[0]?.status).toBe(403);
  });

  it('rebinding: an allowed name that resolves to a private address stays refused; an allow address rule opens exactly that address', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => {
      c.access.allow = rules('*.ok.test', '127.0.0.1/32');
    }, false);
    p.dns.set('rebind.ok.test', { a: ['10.0.0.1'] });
    p.dns.set('loop.ok.test', { a: ['127.0.0.2'] });
    p.dns.set('opened.ok.test', { a: ['127.0.0.1'] });
    const rebind = await ask(p.port, 'forward', 'rebind.ok.test', origin.port);
    expect(rebind.status).toBe(403);
    expect(rebind.proxyStatus).toBe('dfp; error=destination_ip_prohibited; details="10.0.0.1 is private (default: private destinations)"');
    expect((await ask(p.port, 'connect', 'loop.ok.test', origin.port)).status).toBe(403);
    expect((await ask(p.port, 'forward', 'opened.ok.test', origin.port)).status).toBe(200);
  });

  it('cloud metadata: a /16 allow rule does not open 169.254.169.254, and names resolving there are refused', async () => {
    const p = await start((c) => {
      c.access.allow = rules('169.254.0.0/16', '*.ok.test');
    });
    p.dns.set('meta.ok.test', { a: ['169.254.169.254'] });
    const r = await ask(p.port, 'forward', 'meta.ok.test', 80);
    expect(r.status).toBe(403);
    expect(r.proxyStatus).toBe('dfp; error=destination_ip_prohibited; details="169.254.169.254 is metadata (default: cloud metadata)"');
    expect(p.value('dfp_denied_total{reason="metadata_destination"}')).toBe(1);
  });
});

describe('access.mode: report', () => {
  it('lets through what the rules would deny, logs would_deny and counts it; the guard is still enforced', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => {
      c.access.mode = 'report';
      c.access.allow = rules('*.ok.test');
      c.access.deny = rules('bad.ok.test');
    });
    p.dns.set('bad.ok.test', { a: ['127.0.0.1'] });
    p.dns.set('other.test', { a: ['127.0.0.1'] });
    p.dns.set('a.ok.test', { a: ['127.0.0.1'] });
    expect((await ask(p.port, 'forward', 'bad.ok.test', origin.port)).status).toBe(200);
    expect((await ask(p.port, 'connect', 'other.test', origin.port)).status).toBe(200);
    expect((await ask(p.port, 'gateway', 'a.ok.test', origin.port)).status).toBe(200);
    await waitFor(() => p.log.records.length === 3);
    expect(p.log.records.map((r) => [r.host, r.status, r.wouldDeny])).toEqual([
      ['bad.ok.test', 200, 'deny rule 0: bad.ok.test'],
      ['other.test', 200, 'access.allow'],
      ['a.ok.test', 200, null],
    ]);
    expect(p.value('dfp_would_deny_total{reason="deny_rule"}')).toBe(1);
    expect(p.value('dfp_would_deny_total{reason="not_allowed"}')).toBe(1);
    expect(p.value('dfp_denied_total{reason="deny_rule"}')).toBe(0);
  });

  it('report mode still refuses private and metadata destinations', async () => {
    const p = await start((c) => {
      c.access.mode = 'report';
      c.access.allow = rules('*.ok.test');
    }, false);
    p.dns.set('inside.test', { a: ['10.1.2.3'] });
    const r = await ask(p.port, 'forward', 'inside.test', 80);
    expect(r.status).toBe(403);
    expect(r.proxyStatus).toContain('10.1.2.3 is private');
  });
});

describe('the SNI listener obeys the same rules', () => {
  const certs = makeCertificates(['sni.ok.test', 'bad.ok.test']);

  it('an allowed server name is spliced to its origin; a denied one is closed before any DNS query, counted and logged with its rule', async () => {
    const server = tls.createServer({ cert: certs.serverCert, key: certs.serverKey }, (s) => s.end('hello over tls\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const originPort = (server.address() as net.AddressInfo).port;
    try {
      const p = await start((c) => {
        c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'sni', tls: null, proxyProtocol: false, upstreamPort: originPort }];
        c.access.allow = rules('*.ok.test');
        c.access.deny = rules('bad.ok.test');
      });
      p.dns.set('sni.ok.test', { a: ['127.0.0.1'] });
      p.dns.set('bad.ok.test', { a: ['127.0.0.1'] });
      const talk = (servername: string) =>
        new Promise<string>((resolve) => {
          const s = tls.connect({ port: p.port, host: '127.0.0.1', servername, ca: certs.caCert }, () => {});
          let got = '';
          s.on('data', (c: Buffer) => (got += c.toString()));
          s.on('error', () => {});
          s.on('close', () => resolve(got));
        });
      expect(await talk('sni.ok.test')).toBe('hello over tls\n');
      expect(await talk('bad.ok.test')).toBe('');
      expect(p.dns.queries('bad.ok.test')).toBe(0);
      await waitFor(() => p.log.records.length === 2);
      expect(p.log.records[1]).toMatchObject({ mode: 'sni', host: 'bad.ok.test', rule: 'deny rule 0: bad.ok.test' });
      expect(p.value('dfp_denied_total{reason="deny_rule"}')).toBe(1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('memoised decisions stay bounded', () => {
  it('a client varying the port cannot grow the per-address decision cache (one entry per port before)', async () => {
    const p = await start((c) => {
      c.access.allow = rules('*.ok.test');
    }, false);
    for (let port = 1000; port < 1100; port++) {
      const res = await rawRequest(p.port, `GET http://203.0.113.9:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(403);
    }
    expect(p.proxy.context.snapshot.literals.get('203.0.113.9')!.size).toBeLessThanOrEqual(16);
  });
});
