/**
 * Forward mode end to end: what the origin receives (target, Host, hop-by-hop lines, Via),
 * DNS through the proxy, many clients at once, and loop detection.
 */
import { describe, expect, it } from 'vitest';
import { METHOD_CONNECT } from '../../src/http/index.js';
import { startHarness } from '../helpers/harness.js';
import { listenOnPort80, startHeadOrigin, startRawOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

describe('forward mode: what the origin receives', () => {
  it('takes the destination from the URI, not the Host header, and rewrites Host to the URI authority', async () => {
    const h = await startHarness();
    const uriOrigin = await startRecordingOrigin();
    const hostOrigin = await startRecordingOrigin();
    h.dns.set('uri.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, `GET http://uri.test:${uriOrigin.port}/p HTTP/1.1\r\nHost: 127.0.0.1:${hostOrigin.port}\r\nAccept: */*\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(hostOrigin.allRequests()).toEqual([]);
    expect(uriOrigin.allRequests().map((r) => r.toString('latin1'))).toEqual([
      `GET /p HTTP/1.1\r\nHost: uri.test:${uriOrigin.port}\r\nAccept: */*\r\nVia: 1.1 dfp\r\n\r\n`,
    ]);
  });

  it('dials port 80 when the URI has none and writes Host without a port', async () => {
    const h = await startHarness();
    let got = '';
    const origin80 = await listenOnPort80((s) => {
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      });
    });
    if (origin80 === null) {
      // Not allowed to bind port 80 here: at least the log must say port 80 and the dial fails.
      h.dns.set('port80.test', { a: ['127.0.0.1'] });
      await rawRequest(h.port, 'GET http://port80.test/x HTTP/1.1\r\nHost: port80.test\r\n\r\n');
      expect(h.log.records[0]).toMatchObject({ host: 'port80.test', port: 80 });
      return;
    }
    h.dns.set('port80.test', { a: [origin80.host] });
    const res = await rawRequest(h.port, 'GET http://port80.test/x?y=1 HTTP/1.1\r\nHost: elsewhere\r\n\r\n');
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('ok');
    expect(got).toBe('GET /x?y=1 HTTP/1.1\r\nHost: port80.test\r\nVia: 1.1 dfp\r\n\r\n');
    expect(h.log.records[0]).toMatchObject({ mode: 'forward', host: 'port80.test', port: 80, address: origin80.host, status: 200 });
  });

  it('turns each absolute URI into the right origin-form target: query kept, empty path becomes /', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const base = `http://127.0.0.1:${origin.port}`;
    const cases: Array<[string, string]> = [
      [`${base}/a/b?c=d&e=%20f`, '/a/b?c=d&e=%20f'],
      [`${base}`, '/'],
      [`${base}?q=1`, '/?q=1'],
      [`${base}/`, '/'],
      [`${base}/x/?`, '/x/?'],
      [`HTTP://127.0.0.1:${origin.port}/upper-scheme`, '/upper-scheme'],
    ];
    const client = await connectRaw(h.port);
    client.send(cases.map(([uri]) => `GET ${uri} HTTP/1.1\r\nHost: ignored\r\n\r\n`).join(''));
    const res = await client.responses(cases.length);
    expect(res.responses.map((r) => r.status)).toEqual(cases.map(() => 200));
    expect(origin.allRequests().map((r) => r.toString('latin1').split('\r\n')[0])).toEqual(cases.map(([, path]) => `GET ${path} HTTP/1.1`));
  });

  // Regression for notes/bugs.md #6 (fixed in 8e5d0e1).
  it('forwards OPTIONS with an empty path as OPTIONS * (RFC 9112 §3.2.4)', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    await rawRequest(h.port, `OPTIONS http://127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(origin.allRequests().map((r) => r.toString('latin1').split('\r\n')[0])).toEqual(['OPTIONS * HTTP/1.1']);
  });

  it('forwards OPTIONS * in gateway mode as is, and OPTIONS with a path unchanged', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\nOPTIONS http://127.0.0.1:${origin.port}/p HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.responses(2);
    expect(origin.allRequests().map((r) => r.toString('latin1').split('\r\n')[0])).toEqual(['OPTIONS * HTTP/1.1', 'OPTIONS /p HTTP/1.1']);
  });

  it('sends a pipelined CONNECT after a GET into a tunnel once the GET is answered', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const echo = await startRawOrigin((s) => s.on('data', (c: Buffer) => s.write(c.toString().toUpperCase())));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\nCONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\nhello`);
    await waitFor(() => client.received().toString().endsWith('HELLO'));
    expect(client.received().toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n1HTTP\/1\.1 200 Connection Established\r\n\r\nHELLO$/);
  });

  it('removes every hop-by-hop line (Connection and what it lists, Proxy-Connection, Keep-Alive, TE, Upgrade, Proxy-Authorization) and adds Via; Trailer is end-to-end', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const head =
      `GET http://127.0.0.1:${origin.port}/hop HTTP/1.1\r\n` +
      'Host: 127.0.0.1\r\n' +
      'X-Keep-1: a\r\n' +
      'Connection: keep-alive, X-Listed, x-other-listed\r\n' +
      'X-Listed: secret\r\n' +
      'Proxy-Connection: keep-alive\r\n' +
      'X-Keep-2: b\r\n' +
      'Keep-Alive: timeout=5\r\n' +
      'TE: trailers\r\n' +
      'Trailer: X-T\r\n' +
      'Upgrade: h2c\r\n' +
      'Proxy-Authorization: Basic YTpi\r\n' +
      'X-OTHER-LISTED: 1\r\n' +
      'X-Keep-3: c\r\n' +
      '\r\n';
    const res = await rawRequest(h.port, head);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(
      `GET /hop HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-Keep-1: a\r\nX-Keep-2: b\r\nTrailer: X-T\r\nX-Keep-3: c\r\nVia: 1.1 dfp\r\n\r\n`,
    );
  });

  it('keeps end-to-end header lines byte for byte and in order (case, spacing, repeats, empty values, an earlier Via)', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const lines =
      'x-lower: v\r\n' +
      'X-UPPER:v2\r\n' +
      'X-Spaced:   two  inner  spaces \t\r\n' +
      'X-Empty:\r\n' +
      'Set-Thing: 1\r\n' +
      'Accept: text/html\r\n' +
      'set-thing: 2\r\n' +
      'Via: 1.0 upstream-proxy (comment)\r\n' +
      'X-Opaque: !#$%&\'*+-.^_`|~ \x80\xff\r\n';
    await rawRequest(h.port, Buffer.from(`GET http://127.0.0.1:${origin.port}/e2e HTTP/1.1\r\n${lines}Host: h\r\n\r\n`, 'latin1'));
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET /e2e HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n${lines}Via: 1.1 dfp\r\n\r\n`);
  });
});

describe('more forward-mode cases', () => {
  it('forwards to an IPv6 literal and writes Host with brackets', async () => {
    const h = await startHarness();
    const { port, heads } = await startHeadOrigin((_h, s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6'), '::1');
    const res = await rawRequest(h.port, `GET http://[::1]:${port}/six HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.body.toString()).toBe('v6');
    expect(heads).toEqual([`GET /six HTTP/1.1\r\nHost: [::1]:${port}\r\nVia: 1.1 dfp\r\n\r\n`]);
  });

  it('resolves a name once and serves later requests from the DNS cache', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set('cached.test', { a: ['127.0.0.1'], ttl: 60 });
    for (let k = 0; k < 3; k++) {
      const res = await rawRequest(h.port, `GET http://cached.test:${origin.port}/${k} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(200);
    }
    expect(h.dns.queries('cached.test', 'A')).toBe(1);
    await waitFor(() => h.log.records.length === 3);
    expect(h.log.records.slice(1).map((r) => r.dnsMs)).toEqual([0, 0]);
  });

  it('sends one DNS query for many clients asking for the same new name at once', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set('burst.test', { a: ['127.0.0.1'], delayMs: 100 });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, k) => rawRequest(h.port, `GET http://burst.test:${origin.port}/${k} HTTP/1.1\r\nHost: x\r\n\r\n`)),
    );
    expect(results.map((r) => r.responses[0]?.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(h.dns.queries('burst.test', 'A')).toBe(1);
  });

  it('falls back to the next address of a name when the first refuses, and logs the address it used', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    // Nothing listens on 127.0.0.2 at the origin's port (the origin is bound to 127.0.0.1 only).
    h.dns.set('two.test', { a: ['127.0.0.2', '127.0.0.1'] });
    const res = await rawRequest(h.port, `GET http://two.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(h.log.records[0]).toMatchObject({ host: 'two.test', address: '127.0.0.1', status: 200 });
  });

  it('reaches a name that has only an IPv6 (AAAA) address', async () => {
    const h = await startHarness();
    const { port } = await startHeadOrigin((_h, s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6'), '::1');
    h.dns.set('six.test', { aaaa: ['::1'] });
    const res = await rawRequest(h.port, `GET http://six.test:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.body.toString()).toBe('v6');
    expect(h.log.records[0]).toMatchObject({ host: 'six.test', address: '::1' });
  });

  it('answers 200 pipelined requests sent in one write, in order, over one upstream connection', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const t = `http://127.0.0.1:${origin.port}`;
    let burst = '';
    for (let k = 0; k < 200; k++) burst += k % 3 === 0 ? `POST ${t}/${k} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc` : `GET ${t}/${k} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const client = await connectRaw(h.port);
    client.send(burst);
    const res = await client.responses(200, { timeoutMs: 10_000 });
    expect(res.responses.map((r) => Number(r.body.toString()))).toEqual(Array.from({ length: 200 }, (_, k) => k + 1));
    expect(origin.allRequests().map((r) => r.toString('latin1').split(' ')[1])).toEqual(Array.from({ length: 200 }, (_, k) => `/${k}`));
    expect(origin.connections.length).toBe(1);
  });

  it('relays only the first response when the origin sends two for one request, and does not reuse that connection', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled');
    });
    const t = `http://127.0.0.1:${origin.port}`;
    const client = await connectRaw(h.port);
    client.send(`GET ${t}/1 HTTP/1.1\r\nHost: x\r\n\r\n`);
    const first = await client.responses(1);
    expect(first.responses.map((r) => r.body.toString())).toEqual(['first']);
    client.send(`GET ${t}/2 HTTP/1.1\r\nHost: x\r\n\r\n`);
    const second = await client.responses(2);
    expect(second.responses.map((r) => r.body.toString())).toEqual(['first', 'first']);
    expect(second.raw.toString('latin1')).not.toContain('smuggled');
    expect(origin.connections()).toBe(2);
  });
});

describe('many clients at once', () => {
  it('never crosses responses between concurrent clients, while others tunnel or vanish mid-exchange', async () => {
    const h = await startHarness();
    // Answers each request with its own path, after a small varying delay.
    const origin = await startHeadOrigin((head, s, i) => {
      const path = head.split(' ')[1]!;
      setTimeout(() => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`), i % 7);
    });
    const echo = await startRawOrigin((s) => s.on('data', (c: Buffer) => s.write(c)));
    const t = `http://127.0.0.1:${origin.port}`;
    const jobs: Promise<void>[] = [];
    for (let c = 0; c < 24; c++) {
      jobs.push(
        (async () => {
          const client = await connectRaw(h.port);
          if (c % 6 === 5) {
            // A tunnel: its bytes must come back to it alone.
            client.send(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\n\r\ntunnel-${c}`);
            await waitFor(() => client.received().toString().endsWith(`tunnel-${c}`));
            client.close();
            return;
          }
          const paths = Array.from({ length: 5 }, (_, r) => `/c${c}-r${r}`);
          client.send(paths.map((p) => (c % 2 ? `GET ${t}${p} HTTP/1.1\r\nHost: x\r\n\r\n` : `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`)).join(''));
          if (c % 6 === 4) {
            // Gone before its answers: the proxy must recover its state for others.
            await new Promise((r) => setTimeout(r, c % 3));
            client.socket.destroy();
            return;
          }
          const res = await client.responses(5, { timeoutMs: 10_000 });
          expect(res.responses.map((r) => r.body.toString())).toEqual(paths);
          client.close();
        })(),
      );
    }
    await Promise.all(jobs);
    // Afterwards the proxy still serves a fresh client correctly.
    const after = await rawRequest(h.port, `GET ${t}/after HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(after.responses[0]?.body.toString()).toBe('/after');
  });
});

describe('loops', () => {
  it.each([
    ['a forward request to the proxy itself', (p: number) => `GET http://127.0.0.1:${p}/ HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a forward request to a name that resolves to the proxy', (p: number) => `GET http://self.test:${p}/ HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['a gateway request whose Host is the proxy', (p: number) => `GET / HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\n\r\n`],
    ['a CONNECT to the proxy itself', (p: number) => `CONNECT 127.0.0.1:${p} HTTP/1.1\r\nHost: 127.0.0.1:${p}\r\n\r\n`],
  ])('answers 508 proxy_loop_detected to %s, without connecting to itself', async (_name, request) => {
    const h = await startHarness();
    h.dns.set('self.test', { a: ['127.0.0.1'] });
    const client = await connectRaw(h.port);
    client.send(request(h.port));
    const res = await client.closed();
    expect(res.responses[0]?.status).toBe(508);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=proxy_loop_detected/);
    // Exactly one exchange was logged: the proxy did not receive its own request.
    expect(h.log.records.map((r) => r.status)).toEqual([508]);
  });

  async function expectNoSelfTunnel(authority: string, drainTimeoutMs = 2_000): Promise<void> {
    const h = await startHarness((c) => (c.limits.drainTimeoutMs = drainTimeoutMs));
    const client = await connectRaw(h.port);
    client.send(`CONNECT ${authority.replace('PORT', String(h.port))} HTTP/1.1\r\n\r\n`);
    const res = await client.responses(1, { requestMethods: [METHOD_CONNECT] });
    client.close();
    expect([403, 508]).toContain(res.responses[0]?.status);
    expect(h.log.records.map((r) => r.status)).not.toContain(200);
  }

  it.each([['the unspecified address 0.0.0.0', '0.0.0.0:PORT'], ['localhost', 'localhost:PORT']])(
    'never opens a CONNECT tunnel to itself through %s',
    async (_name, authority) => expectNoSelfTunnel(authority),
  );

  // Regression for notes/bugs.md #5 (fixed in 0bfd189).
  it('never opens a CONNECT tunnel to itself through an IPv4-mapped IPv6 literal', async () => {
    await expectNoSelfTunnel('[::ffff:127.0.0.1]:PORT', 200);
  });

  it.each([
    ['Via: 1.1 dfp'],
    ['Via: 1.0 corp-proxy, 1.1 dfp'],
    ['Via: HTTP/1.1 DFP (dfp/0.1)'],
    ['Via: 1.0 a\r\nVia: 1.1 dfp'],
  ])('answers 508 when the request already carries our Via (%j), and the origin sees nothing', async (via) => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n${via}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(508);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=proxy_loop_detected/);
    expect(origin.allRequests()).toEqual([]);
  });

  it('forwards a request whose Via names a different proxy', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nVia: 1.1 dfp-edge, 1.1 notdfp\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toContain('Via: 1.1 dfp-edge, 1.1 notdfp\r\nVia: 1.1 dfp\r\n\r\n');
  });
});
