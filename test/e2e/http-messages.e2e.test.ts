/**
 * Message handling end to end: bodies both ways, keep-alive and pipelining, HTTP/1.0 clients,
 * half-close, interim/bodiless/upgrade responses and upgraded connections.
 */
import { describe, expect, it } from 'vitest';
import { METHOD_GET, METHOD_HEAD } from '../../src/http/index.js';
import { startHarness } from '../helpers/harness.js';
import { startHeadOrigin, startRawOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

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
    expect(client.received().toString()).toBe('HTTP/1.1 100 Continue\r\nVia: 1.1 dfp\r\n\r\n');
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
  // Regression for notes/bugs.md #9 (fixed in 782784d).
  it('ignores Upgrade in an HTTP/1.0 request: forwarded without Upgrade and Connection: upgrade (RFC 9110 §7.8)', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_h, s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses.map((r) => r.status)).toEqual([200]);
    expect(origin.heads).toEqual([`GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.0 dfp\r\n\r\n`]);
  });

  it('keeps the client→origin direction of an upgraded connection open after the origin half-closes', async () => {
    const h = await startHarness((c) => (c.access.upgrades = ['x-proto']));
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
