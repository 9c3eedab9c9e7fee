/**
 * HTTP semantics through the real proxy in forward mode: what the origin
 * receives (target, Host, hop-by-hop, Via, exact bytes), loops, bodies both
 * ways, keep-alive and pipelining, HTTP/1.0 clients, interim and bodiless
 * responses, upgrades, and the error replies of DESIGN.md's table.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { METHOD_CONNECT, METHOD_GET, METHOD_HEAD, type ParsedMessage } from '../../src/http/index.js';
import { startHarness } from '../helpers/harness.js';
import { startRawOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

/**
 * A raw origin that hands each bodiless request head (as a string) to `answer`.
 * Heads are split on the blank line; good enough for GET/HEAD requests.
 */
async function startHeadOrigin(answer: (head: string, socket: net.Socket, index: number) => void) {
  const heads: string[] = [];
  let connections = 0;
  const origin = await startRawOrigin((socket) => {
    connections++;
    let pending = '';
    socket.on('data', (c: Buffer) => {
      pending += c.toString('latin1');
      for (let i = pending.indexOf('\r\n\r\n'); i >= 0; i = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, i + 4);
        pending = pending.slice(i + 4);
        heads.push(head);
        answer(head, socket, heads.length - 1);
      }
    });
  });
  return { ...origin, heads, connections: () => connections };
}

/** Bind a random 127.x.y.z:80 (we may be root; loopback only). Null when port 80 is not ours to take. */
async function listenOnPort80(onSocket: (s: net.Socket) => void): Promise<{ host: string } | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const host = `127.${80 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const server = net.createServer(onSocket);
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(80, host, () => resolve(true));
    });
    if (ok) {
      onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
      return { host };
    }
  }
  return null;
}

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

  it('removes every hop-by-hop line (Connection and what it lists, Proxy-Connection, Keep-Alive, TE, Trailer, Upgrade, Proxy-Authorization) and adds Via', async () => {
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
      `GET /hop HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-Keep-1: a\r\nX-Keep-2: b\r\nX-Keep-3: c\r\nVia: 1.1 dfp\r\n\r\n`,
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
    let got = '';
    const server = net.createServer((sock) =>
      sock.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.endsWith('\r\n\r\n')) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6');
      }),
    );
    await new Promise<void>((r) => server.listen(0, '::1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const res = await rawRequest(h.port, `GET http://[::1]:${port}/six HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.body.toString()).toBe('v6');
    expect(got).toBe(`GET /six HTTP/1.1\r\nHost: [::1]:${port}\r\nVia: 1.1 dfp\r\n\r\n`);
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
    expect(h.log.records.slice(1).every((r) => r.dnsMs === 0)).toBe(true);
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
    const server = net.createServer((sock) => sock.on('data', () => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6')));
    await new Promise<void>((r) => server.listen(0, '::1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
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

describe('bodies', () => {
  it('forwards a chunked request body exactly as received, chunk extensions and trailers included', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const body = '5;ext=1;q="x y"\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0;last\r\nX-Checksum: abc\r\nX-More: 1\r\n\r\n';
    const client = await connectRaw(h.port);
    const head = `POST http://127.0.0.1:${origin.port}/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-After: y\r\n\r\n`;
    // Dribbled in pieces that cut through sizes, extensions and trailers.
    const all = head + body;
    for (let i = 0; i < all.length; i += 7) {
      client.send(all.slice(i, i + 7));
      await new Promise((r) => setImmediate(r));
    }
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(
      `POST /up HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nTransfer-Encoding: chunked\r\nX-After: y\r\nVia: 1.1 dfp\r\n\r\n${body}`,
    );
  });

  it('forwards a chunked response body exactly as received, chunk extensions and trailers included', async () => {
    const h = await startHarness();
    const chunked = '3;a=b\r\nfoo\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: done\r\n\r\n';
    const origin = await startHeadOrigin((_head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Origin: 1\r\n\r\n');
      // In several writes so the proxy sees the framing in pieces.
      for (let i = 0; i < chunked.length; i += 5) setTimeout(() => socket.write(chunked.slice(i, i + 5)), i / 5);
    });
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.responses(1);
    const raw = res.raw.toString('latin1');
    expect(raw.slice(0, raw.indexOf('\r\n\r\n') + 4)).toBe('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Origin: 1\r\nVia: 1.1 dfp\r\n\r\n');
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe(chunked);
    expect(res.responses[0]?.trailers).toEqual([['X-Trailer', 'done']]);
    expect(res.closed).toBe(false);
  });

  it('forwards a Content-Length body both ways and logs the byte counts', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const payload = 'x'.repeat(100_000);
    const res = await rawRequest(h.port, `PUT http://127.0.0.1:${origin.port}/b HTTP/1.1\r\nHost: x\r\nContent-Length: ${payload.length}\r\n\r\n${payload}`);
    expect(res.responses[0]?.status).toBe(200);
    const got = origin.allRequests()[0]!.toString('latin1');
    expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe(payload);
    expect(h.log.records[0]).toMatchObject({ mode: 'forward', method: 'PUT', status: 200, bytesIn: payload.length });
  });
});

describe('keep-alive, pipelining and HTTP/1.0 clients', () => {
  it('answers pipelined requests in request order even when the first origin is the slowest', async () => {
    const h = await startHarness();
    const slow = await startHeadOrigin((_h, s) => setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 150));
    const fast = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast'));
    const client = await connectRaw(h.port);
    client.send(
      `GET http://127.0.0.1:${slow.port}/1 HTTP/1.1\r\nHost: x\r\n\r\n` +
        `GET http://127.0.0.1:${fast.port}/2 HTTP/1.1\r\nHost: x\r\n\r\n` +
        `GET http://127.0.0.1:${slow.port}/3 HTTP/1.1\r\nHost: x\r\n\r\n` +
        `GET http://127.0.0.1:${fast.port}/4 HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const res = await client.responses(4);
    expect(res.responses.map((r) => r.body.toString())).toEqual(['slow', 'fast', 'slow', 'fast']);
    expect(res.closed).toBe(false);
  });

  it('de-chunks a chunked response for an HTTP/1.0 client and closes the connection to end the body', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) =>
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-O: 1\r\n\r\n5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n'),
    );
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.0\r\n\r\n`);
    const res = await client.closed();
    const raw = res.raw.toString('latin1');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n') + 4);
    expect(head.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
    expect(head.toLowerCase()).not.toContain('content-length');
    expect(head).toContain('Connection: close\r\n');
    expect(raw.slice(head.length)).toBe('hello world');
    expect(res.closed).toBe(true);
    // The request went upstream as HTTP/1.1 with a 1.0 Via.
    expect(origin.heads[0]).toBe(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.0 dfp\r\n\r\n`);
  });

  // Regression for notes/bugs.md #7 (fixed in 8e5d0e1).
  it('never sends Transfer-Encoding to an HTTP/1.0 client, not even on a HEAD response', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-O: 1\r\n\r\n'));
    const client = await connectRaw(h.port);
    client.send(`HEAD http://127.0.0.1:${origin.port}/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`);
    await waitFor(() => client.received().includes('\r\n\r\n'));
    const head = client.received().toString('latin1');
    expect(head).toContain('X-O: 1\r\n');
    expect(head.toLowerCase()).not.toContain('transfer-encoding');
  });

  it('keeps an HTTP/1.0 "Connection: keep-alive" client alive and says so', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`);
    const first = await client.responses(1);
    expect(header(first.responses[0], 'connection')?.toLowerCase()).toBe('keep-alive');
    expect(first.closed).toBe(false);
    client.send(`GET http://127.0.0.1:${origin.port}/b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`);
    const second = await client.responses(2);
    expect(second.responses.map((r) => r.body.toString())).toEqual(['1', '2']);
    expect(second.closed).toBe(false);
    // Connection is hop-by-hop: the origin sees neither.
    expect(origin.allRequests().every((r) => !r.toString('latin1').toLowerCase().includes('connection:'))).toBe(true);
  });

  it('closes an HTTP/1.0 connection without keep-alive after the response', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/a HTTP/1.0\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.length).toBe(1);
    expect(header(res.responses[0], 'connection')?.toLowerCase()).toBe('close');
  });

  it('closes after a response to a request with "Connection: close" and forwards nothing pipelined after it', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    const t = `http://127.0.0.1:${origin.port}`;
    client.send(`GET ${t}/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET ${t}/2 HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.length).toBe(1);
    expect(header(res.responses[0], 'connection')?.toLowerCase()).toBe('close');
    expect(origin.allRequests().length).toBe(1);
  });
});

describe('half-close, old origins, early and declined responses', () => {
  // Regression for notes/bugs.md #2 (fixed in 0bfd189).
  it('answers every pipelined request already received when the client half-closes after sending them', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const t = `http://127.0.0.1:${origin.port}`;
    const client = await connectRaw(h.port);
    // Like `printf 'GET …GET …' | nc host port`: two requests, then FIN.
    client.socket.end(`GET ${t}/1 HTTP/1.1\r\nHost: x\r\n\r\nGET ${t}/2 HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.map((r) => r.body.toString())).toEqual(['1', '2']);
    expect(origin.allRequests().length).toBe(2);
  });

  it('answers a request whose client half-closed right after sending it', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 50));
    const client = await connectRaw(h.port);
    client.socket.end(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.map((r) => r.body.toString())).toEqual(['ok']);
  });

  // Regression for notes/bugs.md #4 (fixed in 0bfd189).
  it('does not pass a request body cut short by the client’s FIN as complete (FIN while the proxy is still connecting)', async () => {
    const h = await startHarness((c) => (c.limits.drainTimeoutMs = 200)); // a failing run leaves the exchange hanging
    const origin = await startRecordingOrigin();
    h.dns.set('late.test', { a: ['127.0.0.1'], delayMs: 100 });
    const client = await connectRaw(h.port);
    // 3 of 10 body bytes, then FIN, all before the upstream connection exists.
    client.socket.end(`POST http://late.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc`);
    const res = await client.closed(1_500);
    expect(res.closed).toBe(true);
    expect(res.responses.every((r) => r.status !== 200)).toBe(true);
    expect(origin.allRequests()).toEqual([]);
    // Nothing is left hanging: the proxy let go of the client connection.
    await waitFor(() => h.proxy.context.connections.size === 0, 1_000);
  });

  it('relays an HTTP/1.0 origin’s close-delimited response as HTTP/1.1 with Connection: close', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.end('HTTP/1.0 200 OK\r\nX-Old: 1\r\n\r\nuntil the end'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    const raw = res.raw.toString('latin1');
    expect(raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(raw).toContain('Connection: close\r\n');
    expect(raw.endsWith('\r\n\r\nuntil the end')).toBe(true);
  });

  it('passes on an early response (origin answers before the request body is done) and then closes', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig'));
    const client = await connectRaw(h.port);
    client.send(`POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n` + 'a'.repeat(1000));
    const res = await client.closed();
    expect(res.responses.map((r) => [r.status, r.body.toString()])).toEqual([[413, 'big']]);
    expect(res.closed).toBe(true);
    // The upstream connection was mid-request: it must not be pooled.
    expect(h.proxy.context.pool.size).toBe(0);
  });

  it('continues as plain HTTP when the origin declines an upgrade with a normal response', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((head, s) => s.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${head.includes('/ws') ? 'no' : 'ok'}`));
    const client = await connectRaw(h.port);
    const t = `http://127.0.0.1:${origin.port}`;
    client.send(`GET ${t}/ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n`);
    const first = await client.responses(1);
    expect(first.responses[0]?.body.toString()).toBe('no');
    client.send(`GET ${t}/next HTTP/1.1\r\nHost: x\r\n\r\n`);
    const second = await client.responses(2);
    expect(second.responses[1]?.body.toString()).toBe('ok');
  });
});

describe('interim, bodiless and upgrade responses', () => {
  it('relays 100 Continue to an HTTP/1.1 client before it sends the body, then the final response', async () => {
    const h = await startHarness();
    let received = '';
    const origin = await startRawOrigin((s) => {
      s.on('data', (c: Buffer) => {
        received += c.toString('latin1');
        if (received.endsWith('\r\n\r\n') && !received.includes('\r\n\r\nbody')) s.write('HTTP/1.1 100 Continue\r\n\r\n');
        if (received.endsWith('body')) s.write('HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone');
      });
    });
    const client = await connectRaw(h.port);
    client.send(`POST http://127.0.0.1:${origin.port}/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n`);
    await waitFor(() => client.received().toString().includes('100 Continue'));
    expect(client.received().toString()).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    client.send('body');
    const res = await client.responses(2);
    expect(res.responses.map((r) => r.status)).toEqual([100, 201]);
    expect(res.responses[1]?.body.toString()).toBe('done');
    expect(received).toContain('Expect: 100-continue\r\n');
  });

  it('relays 103 Early Hints and then the final response', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => {
      s.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 20);
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`, 2);
    expect(res.responses.map((r) => r.status)).toEqual([103, 200]);
    expect(header(res.responses[0], 'link')).toBe('</style.css>; rel=preload');
    expect(res.responses[1]?.body.toString()).toBe('ok');
  });

  it('does not relay interim responses to an HTTP/1.0 client', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.0\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.map((r) => r.status)).toEqual([200]);
  });

  it('sends no body for HEAD even with Content-Length, and the next pipelined request still works', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((head, s) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain\r\n\r\n');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget');
    });
    const client = await connectRaw(h.port);
    const t = `http://127.0.0.1:${origin.port}`;
    client.send(`HEAD ${t}/ HTTP/1.1\r\nHost: x\r\n\r\nGET ${t}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.responses(2, { requestMethods: [METHOD_HEAD, METHOD_GET] });
    expect(header(res.responses[0], 'content-length')).toBe('1234');
    expect(res.responses[0]?.body.length).toBe(0);
    expect(res.responses[1]?.body.toString()).toBe('get');
    expect(origin.connections()).toBe(1);
  });

  it.each([
    ['204 No Content', 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'],
    ['304 Not Modified with a Content-Length', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n'],
  ])('treats %s as bodiless and keeps the connection usable', async (_name, response) => {
    const h = await startHarness();
    const origin = await startHeadOrigin((head, s) => {
      if (head.includes('/first')) s.write(response);
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
    });
    const client = await connectRaw(h.port);
    const t = `http://127.0.0.1:${origin.port}`;
    client.send(`GET ${t}/first HTTP/1.1\r\nHost: x\r\n\r\nGET ${t}/second HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.responses(2);
    expect(res.responses[0]?.body.length).toBe(0);
    expect(res.responses[1]?.body.toString()).toBe('second');
    expect(res.closed).toBe(false);
  });

  it('relays 101 and then splices bytes both ways for an Upgrade request (forward mode)', async () => {
    const h = await startHarness();
    let head = '';
    const origin = await startRawOrigin((s) => {
      let upgraded = false;
      s.on('data', (c: Buffer) => {
        if (upgraded) {
          s.write(c.toString('latin1').toUpperCase());
          return;
        }
        head += c.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          upgraded = true;
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nserver-first');
        }
      });
      s.on('end', () => s.end('bye'));
    });
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-E: 1\r\n\r\n`);
    await waitFor(() => client.received().toString().includes('server-first'));
    client.send('ping');
    await waitFor(() => client.received().toString().includes('PING'));
    client.socket.end();
    const done = await client.closed();
    const raw = done.raw.toString('latin1');
    expect(raw.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(raw.endsWith('\r\n\r\nserver-firstPINGbye')).toBe(true);
    expect(head).toBe(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nX-E: 1\r\nUpgrade: websocket\r\nConnection: upgrade\r\nVia: 1.1 dfp\r\n\r\n`);
  });
});

describe('upgraded connections', () => {
  // BUG: see notes/bugs.md #9
  it('ignores Upgrade in an HTTP/1.0 request: forwarded without Upgrade and Connection: upgrade (RFC 9110 §7.8)', async () => {
    const h = await startHarness();
    let got = '';
    const origin = await startRawOrigin((s) =>
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.endsWith('\r\n\r\n')) s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }),
    );
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n`);
    await client.closed();
    expect(got).toBe(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.0 dfp\r\n\r\n`);
  });

  it('keeps the client→origin direction of an upgraded connection open after the origin half-closes', async () => {
    const h = await startHarness();
    let got = '';
    let originEnded = false;
    const origin = await startRawOrigin((s) => {
      let upgraded = false;
      s.on('data', (c: Buffer) => {
        if (upgraded) {
          got += c.toString('latin1');
          return;
        }
        upgraded = true;
        // Switch protocols, say goodbye and half-close at once.
        s.end('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x-proto\r\n\r\nserver-done');
      });
      s.on('end', () => (originEnded = true));
    });
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: x-proto\r\n\r\n`);
    await waitFor(() => client.socket.readableEnded);
    expect(client.received().toString('latin1').endsWith('\r\n\r\nserver-done')).toBe(true);
    client.send('client-still-talking');
    await waitFor(() => got === 'client-still-talking');
    expect(originEnded).toBe(false);
    client.socket.end();
    await waitFor(() => originEnded);
  });
});

describe('error replies (DESIGN.md table)', () => {
  function expectErrorReply(msg: ParsedMessage | undefined, status: number, proxyStatus: string): void {
    expect(msg?.status).toBe(status);
    expect(header(msg, 'content-type')).toMatch(/^text\/plain/);
    expect(header(msg, 'proxy-status')).toMatch(new RegExp(`^dfp; error=${proxyStatus}(;|$)`));
    const body = msg!.body.toString('latin1');
    expect(body.length).toBeGreaterThan(0);
    expect(body.replace(/\n$/, '')).not.toMatch(/[\r\n]/);
  }

  it('answers a malformed request with 400, closes, and forwards neither it nor what was pipelined after it', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const t = `http://127.0.0.1:${origin.port}`;
    const client = await connectRaw(h.port);
    client.send(`GET ${t}/ok HTTP/1.1\r\nHost: x\r\n\r\nGET ${t}/bad HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\nGET ${t}/after HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses[0]?.status).toBe(200);
    expectErrorReply(res.responses[1], 400, 'http_request_error');
    expect(res.responses.length).toBe(2);
    expect(res.closed).toBe(true);
    expect(origin.allRequests().map((r) => r.toString('latin1').split(' ')[1])).toEqual(['/ok']);
  });

  it.each([
    ['Content-Length with Transfer-Encoding', 'POST {T} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'CL_TE_CONFLICT'],
    ['two different Content-Lengths', 'POST {T} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'CL_MISMATCH'],
    ['a space before the colon', 'GET {T} HTTP/1.1\r\nHost : x\r\n\r\n', 'SPACE_BEFORE_COLON'],
    ['a bare LF', 'GET {T} HTTP/1.1\r\nHost: x\nA: b\r\n\r\n', 'BARE_LF'],
    ['obs-fold', 'GET {T} HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n', 'OBS_FOLD'],
    ['a final coding other than chunked', 'POST {T} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 'TE_NOT_CHUNKED'],
    ['two Host fields', 'GET {T} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'DUPLICATE_HOST'],
    ['an invalid chunk size in the body', 'POST {T} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', ''],
  ])('rejects a request with %s: 400 with its reason in Proxy-Status details, nothing complete reaches the origin', async (_name, template, reason) => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(template.replace('{T}', `http://127.0.0.1:${origin.port}/`));
    const res = await client.closed();
    expectErrorReply(res.responses[0], 400, 'http_request_error');
    if (reason) expect(header(res.responses[0], 'proxy-status')).toContain(`details="${reason}"`);
    expect(origin.allRequests()).toEqual([]);
    await waitFor(() => h.log.records.length > 0);
    expect(h.log.records[0]).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
  });

  it('answers 431 to a request head larger than maxHeaderBytes and forwards nothing', async () => {
    const h = await startHarness((c) => (c.limits.maxHeaderBytes = 4096));
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 431, 'http_request_error');
    expect(origin.allRequests()).toEqual([]);
  });

  it('answers 414 to a request-line longer than the scanner allows and forwards nothing', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/${'u'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 414, 'http_request_error');
    expect(origin.allRequests()).toEqual([]);
  });

  // notes/bugs.md Q1, decided in 782784d: RFC 9112 §3.2 applies to the proxy as a server.
  it('answers 400 to an HTTP/1.1 absolute-form request without Host, but serves HTTP/1.0 without Host', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nAccept: */*\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 400, 'http_request_error');
    expect(origin.allRequests()).toEqual([]);
    const old = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/old HTTP/1.0\r\n\r\n`);
    expect(old.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET /old HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.0 dfp\r\n\r\n`);
  });

  it('answers 501 to an https:// absolute target', async () => {
    const h = await startHarness();
    const res = await rawRequest(h.port, 'GET https://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 501, 'http_request_error');
  });

  it('answers 502 http_protocol_error when the origin sends garbage', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(h.log.records[0]).toMatchObject({ status: 502, error: 'UPSTREAM_PROTOCOL_ERROR' });
  });

  it.each([
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['a bare LF in the head', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['a head larger than maxHeaderBytes', `HTTP/1.1 200 OK\r\nX-Big: ${'h'.repeat(10_000)}\r\nContent-Length: 0\r\n\r\n`],
  ])('answers 502 http_protocol_error to a response with %s', async (_name, response) => {
    const h = await startHarness((c) => (c.limits.maxHeaderBytes = 8192));
    const origin = await startHeadOrigin((_h, s) => s.write(response));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(res.responses.length).toBe(1);
  });

  it('answers 502 http_protocol_error to a 101 for a request that did not ask to upgrade', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nraw-bytes'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(res.raw.toString('latin1')).not.toContain('raw-bytes');
  });

  // BUG: see notes/bugs.md #8
  it('answers 502 http_protocol_error when a response head arrives together with an invalid body', async () => {
    const h = await startHarness();
    const bad = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Bad: 1\r\n\r\nzz\r\nboom\r\n'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${bad.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    // Nothing of the response had left the proxy yet, so the client can still be told.
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
  });

  it('keeps no trace of an abandoned response head: the next request on another connection goes out clean', async () => {
    const h = await startHarness();
    const bad = await startHeadOrigin((_h, s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Bad: 1\r\n\r\nzz\r\nboom\r\n'));
    const good = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${bad.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.raw.toString('latin1')).not.toContain('X-Bad');
    const next = await rawRequest(h.port, `GET http://127.0.0.1:${good.port}/next HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(next.responses[0]?.status).toBe(200);
    expect(next.raw.toString('latin1')).not.toContain('X-Bad');
    expect(good.allRequests()[0]!.toString('latin1')).toBe(`GET /next HTTP/1.1\r\nHost: 127.0.0.1:${good.port}\r\nVia: 1.1 dfp\r\n\r\n`);
  });

  it('answers 502 http_response_incomplete when the origin closes before the response head', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.end('HTTP/1.1 200 O'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 502, 'http_response_incomplete');
  });

  it('closes the client connection (no second response) when the origin dies in the middle of a body', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.length).toBe(0);
    expect(res.raw.toString('latin1').endsWith('\r\n\r\npartial')).toBe(true);
    await waitFor(() => h.log.records.length > 0);
    expect(h.log.records[0]).toMatchObject({ status: 200, error: 'UPSTREAM_INCOMPLETE' });
  });

  it('answers 502 dns_error with rcode SERVFAIL when the DNS server fails', async () => {
    const h = await startHarness();
    h.dns.set('servfail.test', { rcode: 'SERVFAIL' });
    const res = await rawRequest(h.port, 'GET http://servfail.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 502, 'dns_error');
    expect(header(res.responses[0], 'proxy-status')).toContain('rcode="SERVFAIL"');
  });

  it('answers 504 dns_timeout when the DNS server never answers', async () => {
    const h = await startHarness((c) => (c.dns.queryTimeoutMs = 300));
    h.dns.set('silent.test', { silent: true });
    const res = await rawRequest(h.port, 'GET http://silent.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 504, 'dns_timeout');
  });

  it('answers 503 dns_error at once when too many lookups are pending', async () => {
    const h = await startHarness((c) => {
      c.dns.queryTimeoutMs = 500;
      c.dns.maxPendingLookups = 1;
    });
    h.dns.set('slow1.test', { silent: true });
    h.dns.set('slow2.test', { silent: true });
    const first = await connectRaw(h.port);
    first.send('GET http://slow1.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => h.dns.queries('slow1.test') > 0);
    const start = Date.now();
    const res = await rawRequest(h.port, 'GET http://slow2.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 503, 'dns_error');
    expect(Date.now() - start).toBeLessThan(500);
    first.close();
  });

  it('answers 403 destination_ip_prohibited for a private destination when private destinations are not allowed', async () => {
    const h = await startHarness((c) => (c.access.allowPrivateDestinations = false));
    const origin = await startRecordingOrigin();
    h.dns.set('inside.test', { a: ['127.0.0.1'] });
    for (const target of [`127.0.0.1:${origin.port}`, `inside.test:${origin.port}`, `[::ffff:127.0.0.1]:${origin.port}`]) {
      const res = await rawRequest(h.port, `GET http://${target}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      expectErrorReply(res.responses[0], 403, 'destination_ip_prohibited');
    }
    const tunnel = await rawRequest(h.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expectErrorReply(tunnel.responses[0], 403, 'destination_ip_prohibited');
    expect(origin.connections.length).toBe(0);
  });

  it('sends an error reply to HEAD without a body, and closes', async () => {
    const h = await startHarness();
    h.dns.set('nx.test', { rcode: 'NXDOMAIN' });
    const client = await connectRaw(h.port);
    client.send('HEAD http://nx.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await client.closed();
    const raw = res.raw.toString('latin1');
    expect(raw.startsWith('HTTP/1.1 502 ')).toBe(true);
    expect(raw).toMatch(/\r\nContent-Length: [1-9]\d*\r\n/i);
    expect(raw).toMatch(/\r\nProxy-Status: dfp; error=dns_error/i);
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
  });

  it('answers 502 connection_refused when nothing listens at the destination', async () => {
    const h = await startHarness();
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectErrorReply(res.responses[0], 502, 'connection_refused');
  });
});
