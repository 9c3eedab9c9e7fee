/**
 * Policy decisions end to end: each denial is answered from the error table, counted under its reason in
 * dfp_denied_total, and logged with the rule that decided.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import { MemoryAccessLog } from '../../src/observability/access-log.js';
import { createMetrics } from '../../src/observability/proxy-metrics.js';
import { startProxy } from '../../src/proxy/server.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

async function start(tweak: (c: ReturnType<typeof defaultConfig>) => void) {
  const dns = await startDnsServer();
  onTestFinished(() => dns.close());
  const metrics = createMetrics();
  const config = defaultConfig();
  config.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }];
  config.admin = null;
  config.dns.servers = [dns.address];
  tweak(config);
  const log = new MemoryAccessLog();
  const proxy = await startProxy(config, { metrics: metrics.hooks, accessLog: log });
  metrics.attach(proxy.context);
  onTestFinished(() => proxy.close());
  const value = (line: string): number => {
    const found = metrics.render().split('\n').find((l) => l.startsWith(line + ' '));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  };
  return { port: proxy.addresses[0]!.port, dns, log, value };
}

describe('a denial carries its reason and rule to the reply, the metric and the log', () => {
  it('a private destination (by name): 403 destination_ip_prohibited, reason private_destination, rule default', async () => {
    const p = await start(() => {});
    p.dns.set('inside.test', { a: ['10.1.2.3'] });
    const res = await rawRequest(p.port, 'GET http://inside.test/ HTTP/1.1\r\nHost: inside.test\r\n\r\n');
    expect(res.responses[0]?.status).toBe(403);
    expect(header(res.responses[0], 'proxy-status')).toBe('dfp; error=destination_ip_prohibited; details="10.1.2.3 is private (default: private destinations)"');
    expect(p.value('dfp_denied_total{reason="private_destination"}')).toBe(1);
    expect(p.log.records[0]).toMatchObject({ status: 403, error: 'DESTINATION_DENIED', rule: 'default: private destinations', address: null });
  });

  it('a metadata address, even with private destinations allowed: reason metadata_destination', async () => {
    const p = await start((c) => (c.access.allowPrivateDestinations = true));
    p.dns.set('meta.test', { a: ['169.254.169.254'] });
    const res = await rawRequest(p.port, 'GET http://meta.test/latest/meta-data/ HTTP/1.1\r\nHost: meta.test\r\n\r\n');
    expect(res.responses[0]?.status).toBe(403);
    expect(p.value('dfp_denied_total{reason="metadata_destination"}')).toBe(1);
    expect(p.log.records[0]).toMatchObject({ error: 'DESTINATION_DENIED', rule: 'default: cloud metadata' });
  });

  it('a CONNECT port outside access.connectPorts: 403 http_request_denied, rule access.connectPorts', async () => {
    const p = await start(() => {});
    const res = await rawRequest(p.port, 'CONNECT example.test:22 HTTP/1.1\r\nHost: example.test:22\r\n\r\n');
    expect(header(res.responses[0], 'proxy-status')).toContain('error=http_request_denied');
    expect(p.value('dfp_denied_total{reason="connect_port"}')).toBe(1);
    expect(p.log.records[0]).toMatchObject({ mode: 'connect', status: 403, error: 'REQUEST_DENIED', rule: 'access.connectPorts' });
    expect(p.dns.totalQueries()).toBe(0); // decided before any lookup
  });

  it('no configured route matches: 403, reason no_route (it was not counted), rule routes', async () => {
    const p = await start((c) => {
      c.routes = [{ match: { hosts: ['*.allowed.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }];
    });
    const res = await rawRequest(p.port, 'GET http://other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n');
    expect(res.responses[0]?.status).toBe(403);
    expect(p.value('dfp_denied_total{reason="no_route"}')).toBe(1);
    expect(p.log.records[0]).toMatchObject({ error: 'REQUEST_DENIED', rule: 'routes' });
  });

  it('routes restrict CONNECT too: a host no route names is a 403 no_route; a routed host tunnels', async () => {
    const p = await start((c) => {
      c.access.allowPrivateDestinations = true;
      c.access.connectPorts = [];
      c.routes = [{ match: { hosts: ['*.allowed.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }];
    });
    const origin = await startRecordingOrigin();
    p.dns.set('svc.allowed.test', { a: ['127.0.0.1'] });
    p.dns.set('other.test', { a: ['127.0.0.1'] });
    const denied = await rawRequest(p.port, `CONNECT other.test:${origin.port} HTTP/1.1\r\nHost: other.test\r\n\r\n`);
    expect(denied.responses[0]?.status).toBe(403);
    expect(p.value('dfp_denied_total{reason="no_route"}')).toBe(1);
    expect(p.log.records[0]).toMatchObject({ mode: 'connect', error: 'REQUEST_DENIED', rule: 'routes' });
    const client = await connectRaw(p.port);
    client.send(`CONNECT svc.allowed.test:${origin.port} HTTP/1.1\r\nHost: svc.allowed.test\r\n\r\n`);
    await waitFor(() => client.received().toString('latin1').startsWith('HTTP/1.1 200'));
  });

  it('an allowed request logs no rule', async () => {
    const p = await start((c) => (c.access.allowPrivateDestinations = true));
    const origin = await startRecordingOrigin();
    const res = await rawRequest(p.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(p.log.records[0]).toMatchObject({ status: 200, error: null, rule: null });
  });
});
