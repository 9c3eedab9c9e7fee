/**
 * The HTTP exchange against hostile clients and origins: no field named in Connection can unframe or reroute a
 * message, protocol switches only to inspected protocols, interim responses intact and clean, every exchange
 * ends (responseTimeout, idleTimeout), one log line per exchange. Smuggling cases assert what the origin
 * received byte for byte and what the next client on the same pooled connection gets.
 */
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { startHeadOrigin, startRawOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

describe('fields named in Connection never unframe or reroute a message', () => {
  it('a request with Connection: Content-Length keeps its length: the body is not a second request on the pooled connection', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: victim\r\n\r\n';
    const head = `POST http://127.0.0.1:${origin.port}/a HTTP/1.1\r\nHost: x\r\nConnection: Content-Length\r\nContent-Length: ${smuggled.length}\r\n\r\n`;
    const first = await rawRequest(h.port, head + smuggled);
    expect(first.responses[0]?.status).toBe(200);
    expect(first.responses[0]?.body.toString()).toBe('1');
    // The next client gets the answer to its own request on the same upstream connection, not the smuggled one's.
    const second = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/b HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(second.responses[0]?.body.toString()).toBe('2');
    expect(origin.allRequests().map((r) => r.toString('latin1'))).toEqual([
      `POST /a HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: ${smuggled.length}\r\nVia: 1.1 dfp\r\n\r\n${smuggled}`,
      `GET /b HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.1 dfp\r\n\r\n`,
    ]);
    expect(origin.connections.length).toBe(1);
  });

  it('a chunked request with Connection: Transfer-Encoding (any case, among other options) is forwarded chunked', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const body = '5\r\nhello\r\n0\r\n\r\n';
    const head = `POST http://127.0.0.1:${origin.port}/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, tRANSFER-eNCODING , X-Hop\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const res = await rawRequest(h.port, head + body + `GET http://127.0.0.1:${origin.port}/next HTTP/1.1\r\nHost: x\r\n\r\n`, 2);
    expect(res.responses.map((r) => r.body.toString())).toEqual(['1', '2']);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(
      `POST /a HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nTransfer-Encoding: chunked\r\nVia: 1.1 dfp\r\n\r\n${body}`,
    );
  });

  it('Host and Via named in Connection are still forwarded (gateway mode keeps the Host it routed on)', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set('app.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, `GET /g HTTP/1.1\r\nHost: app.test:${origin.port}\r\nConnection: Host, Via\r\nVia: 1.1 other\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET /g HTTP/1.1\r\nHost: app.test:${origin.port}\r\nVia: 1.1 other\r\nVia: 1.1 dfp\r\n\r\n`);
  });

  it('a response with Connection: Content-Length keeps its length: the next response on the client connection is not swallowed', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket, index) => {
      if (index === 0) socket.write('HTTP/1.1 200 OK\r\nConnection: Content-Length, Transfer-Encoding\r\nContent-Length: 5\r\n\r\nhello');
      else socket.write('HTTP/1.1 200 OK\r\nSet-Cookie: session=second-client\r\nContent-Length: 2\r\n\r\nok');
    });
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/1 HTTP/1.1\r\nHost: x\r\n\r\n`);
    const one = await client.responses(1);
    expect(header(one.responses[0], 'content-length')).toBe('5');
    client.send(`GET http://127.0.0.1:${origin.port}/2 HTTP/1.1\r\nHost: x\r\n\r\n`);
    const two = await client.responses(2);
    expect(two.responses.map((r) => r.body.toString())).toEqual(['hello', 'ok']);
    expect(header(two.responses[1], 'set-cookie')).toBe('session=second-client');
  });

  it('a chunked response with Connection: Transfer-Encoding stays chunked for the client', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(header(res.responses[0], 'transfer-encoding')).toBe('chunked');
    expect(res.responses[0]?.body.toString()).toBe('abc');
    expect(res.closed).toBe(false);
  });
});

describe('protocol switches only to protocols on access.upgrades', () => {
  /** An origin that records each head and answers an Upgrade request with 101 for `switchTo`, whatever was asked. */
  async function switchingOrigin(switchTo: string) {
    return startHeadOrigin((head, socket) => {
      if (/upgrade:/i.test(head)) socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${switchTo}\r\n\r\n`);
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain');
    });
  }

  it('an h2c Upgrade is removed (with HTTP2-Settings) and the request served as an ordinary one', async () => {
    const h = await startHarness((c) => {
      c.routes = [{ match: { hosts: [], pathPrefix: '/public', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }];
    });
    const origin = await switchingOrigin('h2c');
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/public HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('plain');
    expect(origin.heads).toEqual([`GET /public HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.1 dfp\r\n\r\n`]);
  });

  it('a 101 the request did not ask for (after h2c was removed) is a 502, and nothing past it reaches the origin', async () => {
    const h = await startHarness((c) => {
      c.routes = [{ match: { hosts: [], pathPrefix: '/public', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }];
    });
    // A hostile origin switches anyway.
    const origin = await startHeadOrigin((_head, socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/public HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n`);
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toContain('error=http_protocol_error');
    client.send(`GET /admin HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.closed();
    expect(origin.heads.length).toBe(1);
    expect(h.log.records[0]).toMatchObject({ status: 502, error: 'UPSTREAM_PROTOCOL_ERROR' });
  });

  it('keeps only the allowed protocol of a list, and a 101 to it becomes a tunnel', async () => {
    const h = await startHarness();
    const origin = await startRawOrigin((s) => {
      let upgraded = false;
      s.on('data', (c: Buffer) => {
        if (upgraded) return void s.write(c); // echo
        upgraded = true;
        (s as net.Socket & { head?: string }).head = c.toString('latin1');
        heads.push(c.toString('latin1'));
        s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nX-Accept: 1\r\nKeep-Alive: 5\r\n\r\n');
      });
    });
    const heads: string[] = [];
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, websocket/13, foo\r\n\r\n`);
    await waitFor(() => client.received().includes('\r\n\r\n'));
    expect(heads[0]).toBe(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nUpgrade: websocket/13\r\nConnection: upgrade\r\nVia: 1.1 dfp\r\n\r\n`);
    expect(client.received().toString('latin1')).toBe('HTTP/1.1 101 Switching Protocols\r\nX-Accept: 1\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\nVia: 1.1 dfp\r\n\r\n');
    client.send('ping');
    await waitFor(() => client.received().toString('latin1').endsWith('ping'));
  });

  it('a 101 switching to a protocol that was not offered is a 502', async () => {
    const h = await startHarness();
    const origin = await switchingOrigin('h2c');
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(502);
    expect(res.responses[0]?.body.toString()).toContain('not offered');
    expect(h.log.records[0]).toMatchObject({ status: 502, error: 'UPSTREAM_PROTOCOL_ERROR' });
  });

  it('access.upgrades: [] turns every Upgrade into an ordinary request', async () => {
    const h = await startHarness((c) => {
      c.access.upgrades = [];
    });
    const origin = await switchingOrigin('websocket');
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.heads[0]).not.toMatch(/upgrade/i);
  });
});

describe('interim responses', () => {
  it('are forwarded without hop-by-hop fields and with Via', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket) => {
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nConnection: X-Secret, close\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\n\r\n');
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const raw = res.raw.toString('latin1');
    expect(raw.slice(0, raw.indexOf('\r\n\r\n') + 4)).toBe('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nVia: 1.1 dfp\r\n\r\n');
    expect(res.responses.at(-1)?.status).toBe(200);
  });

  it('leave out Content-Length and Transfer-Encoding, which a 1xx cannot use: the bytes after it are never a body', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket) => {
      socket.write('HTTP/1.1 100 Continue\r\nContent-Length: 38\r\n\r\nHTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\n\r\n');
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`, 3);
    expect(res.raw.toString('latin1')).toBe(
      'HTTP/1.1 100 Continue\r\nVia: 1.1 dfp\r\n\r\nHTTP/1.1 103 Early Hints\r\nVia: 1.1 dfp\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 dfp\r\n\r\nok',
    );
  });

  it('more than 16 interim responses to one request is an origin error (502)', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket) => {
      socket.write('HTTP/1.1 102 Processing\r\n\r\n'.repeat(17) + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`, 17);
    expect(res.responses.at(-1)?.status).toBe(502);
    expect(header(res.responses.at(-1), 'proxy-status')).toContain('error=http_protocol_error');
    expect(h.log.records).toMatchObject([{ status: 502, error: 'UPSTREAM_PROTOCOL_ERROR' }]);
  });

  it('interim heads stay intact when the client reads slowly (heads that span reads, writes queued)', async () => {
    // Heads of ~900 KB each span several 256 KB reads, so each is assembled in the parser's own buffer; once
    // the client's socket is full (~4 MB here) their writes queue, and the next head is assembled while the
    // previous one waits to be sent. (16: the most one request may get.)
    const h = await startHarness((c) => {
      c.limits.maxHeaderBytes = 1_048_576;
    });
    const interims: string[] = [];
    for (let k = 0; k < 16; k++) {
      let head = `HTTP/1.1 103 Early Hints\r\n`;
      const letter = String.fromCharCode(0x61 + k);
      for (let j = 0; j < 100; j++) head += `X-H${k}-${j}: ${letter.repeat(9_000)}\r\n`;
      interims.push(head);
    }
    let originSocket: net.Socket | null = null;
    const origin = await startHeadOrigin((_head, socket) => {
      originSocket = socket;
      for (const head of interims) socket.write(head + '\r\n');
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const client = await connectRaw(h.port);
    const expected = Buffer.from(interims.map((i) => i + 'Via: 1.1 dfp\r\n\r\n').join('') + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 dfp\r\n\r\nok', 'latin1');
    client.socket.pause();
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    // The client reads nothing until the proxy has stopped reading from the origin (16 heads are more than
    // the sockets between them hold): its writes to the client are queued then, and the head after the queued
    // one has been started in the parser's buffer.
    let last = -1;
    let still = 0;
    await waitFor(() => {
      const flushed = originSocket === null ? -1 : originSocket.bytesWritten - originSocket.writableLength;
      still = flushed > 0 && flushed === last ? still + 1 : 0;
      last = flushed;
      return still >= 5;
    }, 20_000);
    client.socket.resume();
    await waitFor(() => client.received().toString('latin1').endsWith('\r\n\r\nok'), 20_000);
    const got = client.received().toString('latin1');
    // Byte for byte what the origin sent, once our Via lines are taken out: no head damaged or made up.
    const sent = interims.map((i) => i + '\r\n').join('') + 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const withoutVia = got.split('Via: 1.1 dfp\r\n').join('');
    expect(withoutVia.length).toBe(sent.length);
    let at = 0;
    for (let k = 0; k < interims.length; k++) {
      // head by head, so a failure names the head that was damaged
      const want = interims[k]! + '\r\n';
      expect(withoutVia.slice(at, at + want.length) === want, `interim head ${k} intact`).toBe(true);
      at += want.length;
    }
    expect(Buffer.from(got, 'latin1').equals(expected)).toBe(true);
  }, 30_000);
});

describe('every exchange ends', () => {
  it('an origin that never answers: 504 http_response_timeout after responseTimeout, both sockets closed', async () => {
    const h = await startHarness((c) => {
      c.limits.responseTimeoutMs = 300;
    });
    let originClosed = false;
    const origin = await startRawOrigin((s) => {
      s.on('data', () => {}); // reads, never answers
      s.on('end', () => (originClosed = true)); // the proxy's FIN (the origin socket is half-open capable)
      s.on('close', () => (originClosed = true));
    });
    const res = await rawRequest(h.port, `POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`);
    expect(res.responses[0]?.status).toBe(504);
    expect(header(res.responses[0], 'proxy-status')).toContain('error=http_response_timeout');
    expect(h.log.records).toMatchObject([{ status: 504, error: 'RESPONSE_TIMEOUT', mode: 'forward', method: 'POST' }]);
    await waitFor(() => originClosed);
  });

  it('responseTimeout counts from the end of the request body, not from its head', async () => {
    const h = await startHarness((c) => {
      c.limits.responseTimeoutMs = 300;
    });
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab`);
    // The body takes longer than responseTimeout to arrive; bytes keep moving, so neither timer fires.
    for (let i = 0; i < 4; i++) await new Promise((r) => setTimeout(r, 120));
    client.send('cd');
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(200);
  });

  it('a client that stops in the middle of its body: 408 after idleTimeout, the origin connection closed', async () => {
    const h = await startHarness((c) => {
      c.limits.idleTimeoutMs = 200;
    });
    let originClosed = false;
    const origin = await startRawOrigin((s) => {
      s.on('data', () => {});
      s.on('end', () => (originClosed = true)); // the proxy's FIN (the origin socket is half-open capable)
      s.on('close', () => (originClosed = true));
    });
    const client = await connectRaw(h.port);
    client.send(`PUT http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc`);
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(408);
    expect(h.log.records).toMatchObject([{ status: 408, error: 'REQUEST_BODY_TIMEOUT', bytesIn: 3 }]);
    await waitFor(() => originClosed);
  });

  it('an origin that stalls in the middle of its body: the client connection is closed after idleTimeout, logged IDLE_TIMEOUT', async () => {
    const h = await startHarness((c) => {
      c.limits.idleTimeoutMs = 200;
    });
    const origin = await startHeadOrigin((_head, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.raw.toString('latin1')).toContain('partial');
    expect(h.log.records).toMatchObject([{ status: 200, error: 'IDLE_TIMEOUT' }]);
  });

  it('with responseTimeout off, a silent origin is ended by idleTimeout: 504', async () => {
    const h = await startHarness((c) => {
      c.limits.responseTimeoutMs = 0;
      c.limits.idleTimeoutMs = 200;
    });
    const origin = await startRawOrigin((s) => s.on('data', () => {}));
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(504);
    expect(h.log.records).toMatchObject([{ status: 504, error: 'IDLE_TIMEOUT' }]);
  });

  it('a slow but steady response is not cut by idleTimeout', async () => {
    // A byte every 50 ms against a 500 ms idleTimeout: a tenfold margin for a loaded machine.
    const h = await startHarness((c) => {
      c.limits.idleTimeoutMs = 500;
    });
    const origin = await startHeadOrigin((_head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
      let n = 0;
      const t = setInterval(() => {
        socket.write('x');
        if (++n === 8) clearInterval(t);
      }, 50);
    });
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.body.toString()).toBe('xxxxxxxx');
    expect(h.log.records).toMatchObject([{ status: 200, error: null }]);
  });
});

describe('smaller gaps', () => {
  it.each([600, 999])('a response status of %i is a 502 http_protocol_error', async (status) => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket) => socket.write(`HTTP/1.1 ${status} Odd\r\nContent-Length: 0\r\n\r\n`));
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toContain(`error=http_protocol_error; details="status ${status} is outside 100-599"`);
    expect(h.log.records[0]).toMatchObject({ status: 502, error: 'UPSTREAM_PROTOCOL_ERROR' });
  });

  it('the Trailer field is forwarded end to end, both ways', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const body = '3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n';
    const res = await rawRequest(h.port, `POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`POST / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\nVia: 1.1 dfp\r\n\r\n${body}`);
    const resOrigin = await startHeadOrigin((_head, socket) => socket.write('HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 2\r\n\r\n'));
    const back = await rawRequest(h.port, `GET http://127.0.0.1:${resOrigin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(header(back.responses[0], 'trailer')).toBe('X-Sum');
  });

  it('trailer fields that frame or route are dropped, both ways; the others go on as received', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    const head = `POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const body = '3\r\nabc\r\n0\r\nX-Sum: 1\r\nContent-Length: 5\r\nhost: evil.example\r\nTransfer-Encoding: chunked\r\nX-After: 2\r\n\r\n';
    // in pieces, so the trailer section spans reads
    for (const part of [head + body.slice(0, 14), body.slice(14, 30), body.slice(30)]) {
      client.send(part);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await client.responses(1)).responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(
      `POST / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nTransfer-Encoding: chunked\r\nVia: 1.1 dfp\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-After: 2\r\n\r\n`,
    );
    const resOrigin = await startHeadOrigin((_head, socket) =>
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nConnection: close\r\nX-Sum: 2\r\nVia: 1.1 spoof\r\n\r\n'),
    );
    const back = await rawRequest(h.port, `GET http://127.0.0.1:${resOrigin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(back.responses[0]?.trailers).toEqual([['X-Sum', '2']]);
    expect(back.raw.toString('latin1').endsWith('2\r\nok\r\n0\r\nX-Sum: 2\r\n\r\n')).toBe(true);
  });

  it('a body cut short by the origin is logged and counted once', async () => {
    const h = await startHarness();
    const origin = await startHeadOrigin((_head, socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.closed();
    // The client connection's own close comes after the exchange was logged: give it time to (wrongly) log again.
    await new Promise((r) => setTimeout(r, 50));
    expect(h.log.records).toMatchObject([{ status: 200, error: 'UPSTREAM_INCOMPLETE' }]);
  });

  it('the 408 for a head that never completes logs its real mode, host and duration', async () => {
    const h = await startHarness((c) => {
      c.limits.headerTimeoutMs = 200;
    });
    const client = await connectRaw(h.port);
    client.send('GET /slow HTTP/1.1\r\nHost: app.test:8081\r\nX-Partial: ');
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(408);
    const rec = h.log.records[0]!;
    expect(rec).toMatchObject({ status: 408, mode: 'gateway', host: 'app.test', port: 8081, method: 'GET', error: 'REQUEST_TIMEOUT' });
    // The duration runs from the head's first byte: at least the header timeout (timers do not fire early by more than a tick).
    expect(rec.durationMs).toBeGreaterThanOrEqual(190);

    const c2 = await connectRaw(h.port);
    c2.send('CONNECT db.test:5432 HTTP/1.1\r\nHo');
    await c2.responses(1);
    expect(h.log.records[1]).toMatchObject({ status: 408, mode: 'connect', host: 'db.test', port: 5432, method: 'CONNECT' });
  });
});
