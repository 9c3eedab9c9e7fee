/**
 * Gateway mode (origin-form requests routed by Host) through the real proxy:
 * Host routing, routes with hostRewriteHeader and matches, missing Host, and
 * interim, bodiless and upgrade responses in gateway mode.
 */
import { describe, expect, it } from 'vitest';
import type { Config, RouteConfig } from '../../src/config/types.js';
import { METHOD_GET, METHOD_HEAD } from '../../src/http/index.js';
import { startHarness } from '../helpers/harness.js';
import { startHeadOrigin, startRawOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

function dfpRoute(match: Partial<RouteConfig['match']>, hostRewriteHeader: string | null = null): RouteConfig {
  return {
    match: { hosts: [], pathPrefix: '/', headers: {}, ...match },
    backend: { type: 'DynamicForwardProxy', hostRewriteHeader, tls: null },
  };
}

const withRoutes = (...routes: RouteConfig[]) => (c: Config) => {
  c.routes = routes;
};

describe('gateway mode: routing by Host', () => {
  it('routes each origin-form request by its own Host, keeping the request line and Host as sent', async () => {
    const h = await startHarness();
    const a = await startRecordingOrigin();
    const b = await startRecordingOrigin();
    h.dns.set('a.test', { a: ['127.0.0.1'] });
    h.dns.set('b.test', { a: ['127.0.0.1'] });
    const client = await connectRaw(h.port);
    client.send(
      `GET /one?x=1 HTTP/1.1\r\nHost: a.test:${a.port}\r\nAccept: */*\r\n\r\n` +
        `DELETE /two HTTP/1.1\r\nUser-Agent: t\r\nhost: B.TEST:${b.port}\r\n\r\n` +
        `GET /three HTTP/1.1\r\nHost: a.test:${a.port}\r\n\r\n`,
    );
    const res = await client.responses(3);
    expect(res.responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(a.allRequests().map((r) => r.toString('latin1'))).toEqual([
      `GET /one?x=1 HTTP/1.1\r\nHost: a.test:${a.port}\r\nAccept: */*\r\nVia: 1.1 dfp\r\n\r\n`,
      `GET /three HTTP/1.1\r\nHost: a.test:${a.port}\r\nVia: 1.1 dfp\r\n\r\n`,
    ]);
    expect(b.allRequests().map((r) => r.toString('latin1'))).toEqual([`DELETE /two HTTP/1.1\r\nUser-Agent: t\r\nhost: B.TEST:${b.port}\r\nVia: 1.1 dfp\r\n\r\n`]);
    expect(h.log.records.map((r) => [r.mode, r.host.toLowerCase(), r.status])).toEqual([
      ['gateway', 'a.test', 200],
      ['gateway', 'b.test', 200],
      ['gateway', 'a.test', 200],
    ]);
  });

  it('goes to port 80 when Host has no port', async () => {
    const h = await startHarness();
    h.dns.set('noport.test', { a: ['127.0.0.1'] });
    await rawRequest(h.port, 'GET / HTTP/1.1\r\nHost: noport.test\r\n\r\n');
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', host: 'noport.test', port: 80 });
  });

  it.each([
    ['an HTTP/1.1 request without Host', 'GET /x HTTP/1.1\r\nAccept: */*\r\n\r\n'],
    ['an HTTP/1.0 request without Host', 'GET /x HTTP/1.0\r\n\r\n'],
    ['an empty Host', 'GET /x HTTP/1.1\r\nHost: \r\n\r\n'],
  ])('answers 400 http_request_error to %s and closes', async (_name, request) => {
    const h = await startHarness();
    const client = await connectRaw(h.port);
    client.send(request);
    const res = await client.closed();
    expect(res.responses[0]?.status).toBe(400);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_request_error/);
    expect(h.log.records[0]).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
    expect(res.closed).toBe(true);
  });
});

describe('gateway mode: routes', () => {
  it('takes the destination from hostRewriteHeader and rewrites Host to it', async () => {
    const h = await startHarness(withRoutes(dfpRoute({}, 'x-rewrite-me')));
    const origin = await startRecordingOrigin();
    h.dns.set('back.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, `GET /p?q=1 HTTP/1.1\r\nHost: front.example\r\nX-Rewrite-Me: back.test:${origin.port}\r\nAccept: a\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    const got = origin.allRequests()[0]!.toString('latin1');
    const lines = got.split('\r\n');
    expect(lines[0]).toBe('GET /p?q=1 HTTP/1.1');
    expect(lines.filter((l) => l.toLowerCase().startsWith('host:'))).toEqual([`Host: back.test:${origin.port}`]);
    expect(got).toContain('Accept: a\r\n');
    expect(got.endsWith('Via: 1.1 dfp\r\n\r\n')).toBe(true);
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', host: 'back.test', port: origin.port, status: 200 });
  });

  it('falls back to Host when the rewrite header is absent', async () => {
    const h = await startHarness(withRoutes(dfpRoute({}, 'x-rewrite-me')));
    const origin = await startRecordingOrigin();
    const res = await rawRequest(h.port, `GET /p HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET /p HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.1 dfp\r\n\r\n`);
  });

  it.each([
    ['a space inside', 'bad host:80'],
    ['userinfo', 'user@127.0.0.1:80'],
    ['a port out of range', '127.0.0.1:70000'],
  ])('answers 400 when the rewrite header holds %s, and connects nowhere', async (_name, value) => {
    const h = await startHarness(withRoutes(dfpRoute({}, 'x-rewrite-me')));
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nx-rewrite-me: ${value}\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses[0]?.status).toBe(400);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_request_error/);
    expect(h.log.records[0]).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
    expect(origin.connections.length).toBe(0);
  });

  it('detects a loop when the rewrite header points at the proxy itself', async () => {
    const h = await startHarness(withRoutes(dfpRoute({}, 'x-rewrite-me')));
    const res = await rawRequest(h.port, `GET / HTTP/1.1\r\nHost: front.example\r\nx-rewrite-me: 127.0.0.1:${h.port}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(508);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=proxy_loop_detected/);
    expect(h.log.records[0]).toMatchObject({ status: 508, error: 'LOOP_DETECTED' });
  });

  it('answers 403 http_request_denied when no route matches the host, path or headers', async () => {
    const h = await startHarness(withRoutes(dfpRoute({ hosts: ['*.allowed.test'], pathPrefix: '/api', headers: { 'x-team': 'blue' } })));
    const origin = await startRecordingOrigin();
    h.dns.set('svc.allowed.test', { a: ['127.0.0.1'] });
    h.dns.set('other.test', { a: ['127.0.0.1'] });
    const ok = await rawRequest(h.port, `GET /api/v1 HTTP/1.1\r\nHost: svc.allowed.test:${origin.port}\r\nX-Team: blue\r\n\r\n`);
    expect(ok.responses[0]?.status).toBe(200);
    for (const request of [
      `GET /api/v1 HTTP/1.1\r\nHost: other.test:${origin.port}\r\nX-Team: blue\r\n\r\n`,
      `GET /api/v1 HTTP/1.1\r\nHost: allowed.test:${origin.port}\r\nX-Team: blue\r\n\r\n`,
      `GET /web HTTP/1.1\r\nHost: svc.allowed.test:${origin.port}\r\nX-Team: blue\r\n\r\n`,
      `GET /api/v1 HTTP/1.1\r\nHost: svc.allowed.test:${origin.port}\r\nX-Team: red\r\n\r\n`,
    ]) {
      const denied = await rawRequest(h.port, request);
      expect(denied.responses[0]?.status).toBe(403);
      expect(header(denied.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_request_denied; details="no route for /);
    }
    expect(h.log.records.slice(1).map((r) => [r.error, r.rule])).toEqual(Array(4).fill(['REQUEST_DENIED', 'routes']));
    expect(origin.allRequests().length).toBe(1);
  });
});

describe('gateway mode: a single route that matches on path or headers alone', () => {
  // One route with no host list used to be taken for the catch-all default and its path and
  // header conditions skipped.
  for (const [what, match, denied] of [
    ['path prefix', { pathPrefix: '/api' }, 'GET /web HTTP/1.1'],
    ['header', { headers: { 'x-team': 'blue' } }, 'GET /api HTTP/1.1'],
  ] as const) {
    it(`denies a request that misses the route's ${what} with 403`, async () => {
      const h = await startHarness(withRoutes(dfpRoute(match)));
      const origin = await startRecordingOrigin();
      const res = await rawRequest(h.port, `${denied}\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(403);
      expect(h.log.records[0]).toMatchObject({ error: 'REQUEST_DENIED', rule: 'routes' });
      const ok = await rawRequest(h.port, `GET /api HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-Team: blue\r\n\r\n`);
      expect(ok.responses[0]?.status).toBe(200);
      expect(origin.allRequests().length).toBe(1);
    });
  }
});

describe('gateway mode: interim, bodiless and upgrade responses', () => {
  it('relays 100 Continue, then the final response', async () => {
    const h = await startHarness();
    let received = '';
    const origin = await startRawOrigin((s) => {
      s.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        if (received.endsWith('\r\n\r\n')) s.write('HTTP/1.1 100 Continue\r\n\r\n');
        else if (received.endsWith('data')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    const client = await connectRaw(h.port);
    client.send(`PUT /f HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n`);
    await waitFor(() => client.received().toString().includes('100 Continue'));
    client.send('data');
    const res = await client.responses(2);
    expect(res.responses.map((r) => r.status)).toEqual([100, 200]);
  });

  it('handles 103, HEAD with Content-Length, 204 and 304 on one pipelined connection', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((head, s) => {
      if (head.includes('/hints')) s.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhints');
      else if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n');
      else if (head.includes('/204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (head.includes('/304')) s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast');
    });
    const host = `Host: 127.0.0.1:${origin.port}\r\n`;
    const client = await connectRaw(h.port);
    client.send(
      `GET /hints HTTP/1.1\r\n${host}\r\nHEAD /h HTTP/1.1\r\n${host}\r\nGET /204 HTTP/1.1\r\n${host}\r\n` +
        `GET /304 HTTP/1.1\r\n${host}\r\nGET /last HTTP/1.1\r\n${host}\r\n`,
    );
    const res = await client.responses(6, { requestMethods: [METHOD_GET, METHOD_HEAD, METHOD_GET, METHOD_GET, METHOD_GET] });
    expect(res.responses.map((r) => r.status)).toEqual([103, 200, 200, 204, 304, 200]);
    expect(res.responses.map((r) => r.body.toString())).toEqual(['', 'hints', '', '', '', 'last']);
    expect(header(res.responses[2], 'content-length')).toBe('99');
    expect(res.closed).toBe(false);
  });

  it('relays 101 and splices bytes both ways for an Upgrade request', async () => {
    const h = await startHarness();
    let head = '';
    const origin = await startRawOrigin((s) => {
      let upgraded = false;
      s.on('data', (c: Buffer) => {
        if (upgraded) {
          s.write(`echo:${c.toString('latin1')}`);
          return;
        }
        head += c.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          upgraded = true;
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
        }
      });
      s.on('end', () => s.end());
    });
    const client = await connectRaw(h.port);
    client.send(`GET /chat HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\nframe1`);
    await waitFor(() => client.received().toString().includes('echo:frame1'));
    client.send('frame2');
    await waitFor(() => client.received().toString().includes('echo:frame2'));
    client.socket.end();
    const done = await client.closed();
    expect(done.raw.toString('latin1')).toBe('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nVia: 1.1 dfp\r\n\r\necho:frame1echo:frame2');
    expect(head.split('\r\n\r\n')[0]!.split('\r\n')).toEqual([
      'GET /chat HTTP/1.1',
      `Host: 127.0.0.1:${origin.port}`,
      'Sec-WebSocket-Version: 13',
      'Upgrade: websocket',
      'Connection: upgrade',
      'Via: 1.1 dfp',
    ]);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', status: 101 });
  });
});
