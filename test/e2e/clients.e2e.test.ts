/**
 * Real clients through the real proxy: curl as a forward proxy client (-x), as
 * a CONNECT client (-p -x) and as a plain client of gateway mode (Host
 * header), and undici's ProxyAgent with and without tunnelling.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { startHarness } from '../helpers/harness.js';
import { startEchoOrigin } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';
import { curl, hasCurl } from '../helpers/curl.js';

describe.skipIf(!hasCurl)('curl', () => {
  it('curl -x: forward mode to a name resolved by the proxy, Host and Via as an origin sees them', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    h.dns.set('curl.test', { a: ['127.0.0.1'] });
    const res = await curl(['-x', `http://127.0.0.1:${h.port}`, `http://curl.test:${origin.port}/path?x=1`]);
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body);
    expect(echoed.url).toBe('/path?x=1');
    expect(echoed.headers.host).toBe(`curl.test:${origin.port}`);
    expect(echoed.headers.via).toBe('1.1 dfp');
    expect(echoed.headers['proxy-connection']).toBeUndefined();
    expect(h.dns.queries('curl.test', 'A')).toBeGreaterThanOrEqual(1);
    expect(h.log.records[0]).toMatchObject({ mode: 'forward', method: 'GET', host: 'curl.test', status: 200 });
  });

  it('curl -x: a POST with Expect: 100-continue gets its 100 through the proxy and arrives whole', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    const payload = 'p'.repeat(2048);
    // --expect100-timeout 5: if the 100 were lost curl would wait 5 s, then send anyway (the time check catches it).
    const start = Date.now();
    const res = await curl(
      ['-x', `http://127.0.0.1:${h.port}`, '-H', 'Expect: 100-continue', '--expect100-timeout', '5', '--data-binary', '@-', `http://127.0.0.1:${origin.port}/post`],
      payload,
    );
    expect(res.status).toBe(200);
    expect(Date.now() - start).toBeLessThan(4_000);
    const echoed = JSON.parse(res.body);
    expect(echoed.method).toBe('POST');
    expect(echoed.headers.expect).toBe('100-continue');
    expect(echoed.body).toBe(payload);
  });

  it('curl -p -x: CONNECT tunnel to a plain-HTTP origin', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    const res = await curl(['-p', '-x', `http://127.0.0.1:${h.port}`, `http://127.0.0.1:${origin.port}/tunnelled`]);
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body);
    expect(echoed.url).toBe('/tunnelled');
    // Inside a tunnel the proxy does not touch the HTTP: no Via.
    expect(echoed.headers.via).toBeUndefined();
    // A tunnel is logged when both sides have closed, which may be just after curl exits.
    await waitFor(() => h.log.records.length > 0);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', method: 'CONNECT', port: origin.port, status: 200 });
    expect(h.log.records[0]!.bytesIn).toBeGreaterThan(0);
    expect(h.log.records[0]!.bytesOut).toBeGreaterThan(0);
  });

  it('curl -H Host: gateway mode routes by the Host header', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    h.dns.set('gw-curl.test', { a: ['127.0.0.1'] });
    const res = await curl(['-H', `Host: gw-curl.test:${origin.port}`, `http://127.0.0.1:${h.port}/through/gateway`]);
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.body);
    expect(echoed.url).toBe('/through/gateway');
    expect(echoed.headers.host).toBe(`gw-curl.test:${origin.port}`);
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', host: 'gw-curl.test', status: 200 });
  });

  it('curl -x: an error reply from the proxy reaches curl with its status and Proxy-Status', async () => {
    const h = await startHarness();
    h.dns.set('nx.test', { rcode: 'NXDOMAIN' });
    const res = await curl(['-i', '-x', `http://127.0.0.1:${h.port}`, 'http://nx.test/']);
    expect(res.status).toBe(502);
    expect(res.body).toMatch(/\r\nProxy-Status: dfp; error=dns_error/i);
  });
});

describe('undici ProxyAgent', () => {
  it('forwards in absolute-form with proxyTunnel: false, reusing one client connection', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    h.dns.set('undici.test', { a: ['127.0.0.1'] });
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${h.port}`, proxyTunnel: false });
    try {
      for (const path of ['/a', '/b']) {
        const res = await request(`http://undici.test:${origin.port}${path}`, { dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
        expect(res.statusCode).toBe(200);
        const echoed = (await res.body.json()) as { url: string; headers: Record<string, string> };
        expect(echoed.url).toBe(path);
        expect(echoed.headers.host).toBe(`undici.test:${origin.port}`);
        expect(echoed.headers.via).toBe('1.1 dfp');
      }
      const res = await request(`http://undici.test:${origin.port}/post`, { method: 'POST', body: 'hello undici', dispatcher: agent });
      expect(((await res.body.json()) as { body: string }).body).toBe('hello undici');
    } finally {
      await agent.close();
    }
    expect(h.log.records.map((r) => [r.mode, r.status])).toEqual([
      ['forward', 200],
      ['forward', 200],
      ['forward', 200],
    ]);
    expect(new Set(h.log.records.map((r) => r.client)).size).toBe(1);
    expect(origin.seen.length).toBe(3);
  });

  it('streams a chunked 1 MiB upload from undici through the proxy intact', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin((_req, res, body) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${body.length}:${body.subarray(0, 8).toString()}:${body.subarray(-8).toString()}`);
    });
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${h.port}`, proxyTunnel: false });
    try {
      async function* parts() {
        for (let k = 0; k < 16; k++) yield Buffer.from(`${String(k).padStart(8, '0')}${'z'.repeat(65536 - 8)}`);
      }
      const res = await request(`http://127.0.0.1:${origin.port}/upload`, { method: 'PUT', body: Readable.from(parts()), dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('1048576:00000000:zzzzzzzz');
      expect(origin.seen[0]?.headers['transfer-encoding']).toBe('chunked');
    } finally {
      await agent.close();
    }
  });

  it('tunnels with CONNECT by default', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${h.port}` });
    try {
      const res = await request(`http://127.0.0.1:${origin.port}/t`, { dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
      expect(res.statusCode).toBe(200);
      const echoed = (await res.body.json()) as { url: string; headers: Record<string, string> };
      expect(echoed.url).toBe('/t');
      expect(echoed.headers.via).toBeUndefined();
    } finally {
      await agent.close();
    }
    await waitFor(() => h.log.records.length > 0);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', status: 200 });
  });
});
