/**
 * Forward (absolute-form) and gateway (Host) modes through the real proxy to a
 * real origin, names resolved by the test's DNS server.
 */
import { describe, expect, it } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { startEchoOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';

describe('forward mode', () => {
  it('sends an absolute-form request to the origin in origin-form with Host from the URI and Via added', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set('origin.test', { a: ['127.0.0.1'], ttl: 30 });
    const res = await rawRequest(
      h.port,
      `GET http://origin.test:${origin.port}/a/b?c=d HTTP/1.1\r\nHost: wrong.example\r\nUser-Agent: t\r\nProxy-Connection: keep-alive\r\n\r\n`,
    );
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(
      `GET /a/b?c=d HTTP/1.1\r\nHost: origin.test:${origin.port}\r\nUser-Agent: t\r\nVia: 1.1 dfp\r\n\r\n`,
    );
  });

  it('keeps the client connection alive and answers pipelined requests in order', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const target = `http://127.0.0.1:${origin.port}`;
    const client = await connectRaw(h.port);
    client.send(`GET ${target}/1 HTTP/1.1\r\nHost: x\r\n\r\nGET ${target}/2 HTTP/1.1\r\nHost: x\r\n\r\nPOST ${target}/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`);
    const res = await client.responses(3);
    expect(res.responses.map((r) => r.body.toString())).toEqual(['1', '2', '3']);
    expect(origin.allRequests().map((r) => r.toString('latin1').split(' ')[1])).toEqual(['/1', '/2', '/3']);
    expect(origin.connections.length).toBe(1);
  });

  it('rejects a malformed request with 400 and Proxy-Status, and forwards nothing', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses[0]?.status).toBe(400);
    const headers = Object.fromEntries(res.responses[0]!.headers.map(([k, v]) => [k.toLowerCase(), v]));
    expect(headers['proxy-status']).toMatch(/^dfp; error=http_request_error; details="/);
    expect(res.closed).toBe(true);
    expect(origin.allRequests()).toEqual([]);
  });

  it('answers 502 dns_error with rcode NXDOMAIN for a name that does not exist', async () => {
    const h = await startHarness();
    h.dns.set('gone.test', { rcode: 'NXDOMAIN' });
    const res = await rawRequest(h.port, 'GET http://gone.test/ HTTP/1.1\r\nHost: gone.test\r\n\r\n');
    expect(res.responses[0]?.status).toBe(502);
    const ps = res.responses[0]!.headers.find(([k]) => k.toLowerCase() === 'proxy-status')?.[1];
    expect(ps).toContain('error=dns_error');
    expect(ps).toContain('rcode="NXDOMAIN"');
  });
});

describe('gateway mode', () => {
  it('routes an origin-form request by its Host header', async () => {
    const h = await startHarness();
    const origin = await startEchoOrigin();
    h.dns.set('gw.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, `GET /x HTTP/1.1\r\nHost: gw.test:${origin.port}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    const echoed = JSON.parse(res.responses[0]!.body.toString());
    expect(echoed.url).toBe('/x');
    expect(echoed.headers.host).toBe(`gw.test:${origin.port}`);
    expect(echoed.headers.via).toBe('1.1 dfp');
  });
});
