/**
 * The upstream keep-alive pool seen from an origin: connections reused across
 * client connections, the idle bound per host, dead idle connections never
 * used, and the one retry of an idempotent request whose pooled connection
 * died before answering (never for a request with a body).
 */
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { startRawOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

interface OriginRequest {
  /** Connection ordinal at the origin (0-based). */
  conn: number;
  /** Request ordinal on that connection (0-based). */
  index: number;
  head: string;
  body: string;
}

type Answer = (req: OriginRequest, socket: net.Socket) => void;

/**
 * A raw origin that frames requests (Content-Length bodies only, test-side),
 * records them with their connection and position, and lets `answer` reply.
 */
async function startPoolOrigin(answer: Answer) {
  const requests: OriginRequest[] = [];
  const ended: number[] = [];
  let conns = 0;
  const origin = await startRawOrigin((socket) => {
    const conn = conns++;
    let index = 0;
    let pending = Buffer.alloc(0);
    socket.on('end', () => ended.push(conn));
    socket.on('data', (c: Buffer) => {
      pending = Buffer.concat([pending, c]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end + 4).toString('latin1');
        const m = /\r\ncontent-length: *(\d+)/i.exec(head);
        const length = m ? Number(m[1]) : 0;
        if (pending.length < end + 4 + length) return;
        const body = pending.subarray(end + 4, end + 4 + length).toString('latin1');
        pending = pending.subarray(end + 4 + length);
        const req = { conn, index: index++, head, body };
        requests.push(req);
        answer(req, socket);
      }
    });
  });
  return { ...origin, requests, ended, connections: () => conns };
}

const ok = (s: net.Socket, body = 'ok') => s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);

describe('upstream keep-alive pool', () => {
  it('reuses the upstream connection for a later request from another client connection', async () => {
    const h = await startHarness();
    const origin = await startPoolOrigin((_r, s) => ok(s));
    const t = `http://127.0.0.1:${origin.port}`;
    for (let k = 0; k < 3; k++) {
      const res = await rawRequest(h.port, `GET ${t}/${k} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(200);
    }
    expect(origin.connections()).toBe(1);
    expect(origin.requests.map((r) => [r.conn, r.index])).toEqual([[0, 0], [0, 1], [0, 2]]);
    expect(h.proxy.context.pool.size).toBe(1);
  });

  it('closes a pooled connection once it has been idle for the idle timeout, not before', async () => {
    const h = await startHarness((c) => (c.limits.idleTimeoutMs = 800));
    const origin = await startPoolOrigin((_r, s) => ok(s));
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    const pooledAt = Date.now();
    expect(h.proxy.context.pool.size).toBe(1);
    await waitFor(() => origin.ended.length > 0, 4_000);
    // Idle stamps come from the sweeper's clock, which runs every 250 ms here: up to that much early.
    expect(Date.now() - pooledAt).toBeGreaterThanOrEqual(800 - 250 - 50);
    expect(origin.ended).toEqual([0]);
    expect(h.proxy.context.pool.size).toBe(0);
  });

  it('keeps at most maxIdlePerHost idle connections per destination and closes the rest', async () => {
    const h = await startHarness((c) => (c.upstream.maxIdlePerHost = 1));
    const origin = await startPoolOrigin((_r, s) => setTimeout(() => ok(s), 100));
    const t = `http://127.0.0.1:${origin.port}`;
    // Three concurrent clients need three upstream connections.
    const results = await Promise.all([0, 1, 2].map((k) => rawRequest(h.port, `GET ${t}/${k} HTTP/1.1\r\nHost: x\r\n\r\n`)));
    expect(results.map((r) => r.responses[0]?.status)).toEqual([200, 200, 200]);
    expect(origin.connections()).toBe(3);
    // Two of them are closed by the proxy once idle; one is kept and reused.
    await waitFor(() => origin.ended.length === 2);
    expect(h.proxy.context.pool.size).toBe(1);
    const again = await rawRequest(h.port, `GET ${t}/again HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(again.responses[0]?.status).toBe(200);
    expect(origin.connections()).toBe(3);
    const last = origin.requests[origin.requests.length - 1]!;
    expect(origin.ended).not.toContain(last.conn);
  });

  it('does not pool at all with maxIdlePerHost 0', async () => {
    const h = await startHarness((c) => (c.upstream.maxIdlePerHost = 0));
    const origin = await startPoolOrigin((_r, s) => ok(s));
    const t = `http://127.0.0.1:${origin.port}`;
    for (let k = 0; k < 2; k++) expect((await rawRequest(h.port, `GET ${t}/${k} HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.status).toBe(200);
    expect(origin.connections()).toBe(2);
    await waitFor(() => origin.ended.length === 2);
  });

  it('does not reuse an idle connection the origin closed; the next request gets a fresh one', async () => {
    const h = await startHarness();
    const origin = await startPoolOrigin((_r, s) => {
      ok(s);
      setTimeout(() => s.end(), 30); // the origin's own idle timeout, no Connection: close
    });
    const t = `http://127.0.0.1:${origin.port}`;
    expect((await rawRequest(h.port, `GET ${t}/1 HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.status).toBe(200);
    await waitFor(() => h.proxy.context.pool.size === 0 && origin.ended.length === 1);
    const res = await rawRequest(h.port, `POST ${t}/2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.connections()).toBe(2);
    expect(origin.requests.map((r) => [r.conn, r.index, r.body])).toEqual([[0, 0, ''], [1, 0, 'abc']]);
  });

  it('does not pool a connection whose response said Connection: close or was close-delimited', async () => {
    const h = await startHarness();
    const origin = await startPoolOrigin((r, s) => {
      if (r.head.includes('/close')) s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
      else s.end('HTTP/1.1 200 OK\r\n\r\nuntil-close');
    });
    const t = `http://127.0.0.1:${origin.port}`;
    const client = await connectRaw(h.port);
    client.send(`GET ${t}/close HTTP/1.1\r\nHost: x\r\n\r\n`);
    const first = await client.responses(1);
    expect(first.responses[0]?.body.toString()).toBe('ok');
    // The client connection stays usable even though the upstream one is gone.
    expect(first.closed).toBe(false);
    client.send(`GET ${t}/eof HTTP/1.1\r\nHost: x\r\n\r\n`);
    const second = await client.closed();
    expect(second.responses[1]?.body.toString()).toBe('until-close');
    expect(origin.connections()).toBe(2);
    expect(h.proxy.context.pool.size).toBe(0);
  });

  it('retries a GET once on a fresh connection when the pooled one dies before answering', async () => {
    const h = await startHarness();
    // Every connection answers its first request and dies on the second.
    const origin = await startPoolOrigin((r, s) => (r.index === 0 ? ok(s, `conn${r.conn}`) : s.destroy()));
    const t = `http://127.0.0.1:${origin.port}`;
    expect((await rawRequest(h.port, `GET ${t}/a HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.body.toString()).toBe('conn0');
    const res = await rawRequest(h.port, `GET ${t}/b HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('conn1');
    expect(origin.requests.map((r) => [r.conn, r.index, r.head.split(' ')[1]])).toEqual([
      [0, 0, '/a'],
      [0, 1, '/b'],
      [1, 0, '/b'],
    ]);
  });

  it('retries only once: a second death answers 502 http_response_incomplete', async () => {
    const h = await startHarness();
    let answered = 0;
    // Only the very first request ever gets an answer.
    const origin = await startPoolOrigin((_r, s) => (answered++ === 0 ? ok(s) : s.destroy()));
    const t = `http://127.0.0.1:${origin.port}`;
    await rawRequest(h.port, `GET ${t}/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await rawRequest(h.port, `GET ${t}/b HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_response_incomplete/);
    expect(origin.requests.filter((r) => r.head.includes('/b')).length).toBe(2);
  });

  it('does not retry a POST with a body when the pooled connection dies: 502 and the origin saw it once', async () => {
    const h = await startHarness();
    const origin = await startPoolOrigin((r, s) => (r.index === 0 ? ok(s) : s.destroy()));
    const t = `http://127.0.0.1:${origin.port}`;
    await rawRequest(h.port, `GET ${t}/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await rawRequest(h.port, `POST ${t}/pay HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello`);
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_response_incomplete/);
    expect(origin.requests.filter((r) => r.head.startsWith('POST')).map((r) => r.body)).toEqual(['hello']);
    expect(origin.connections()).toBe(1);
  });

  it('drops an idle connection on which the origin sent unsolicited bytes', async () => {
    const h = await startHarness();
    const origin = await startPoolOrigin((r, s) => {
      ok(s, `conn${r.conn}`);
      if (r.index === 0 && r.conn === 0) setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray'), 30);
    });
    const t = `http://127.0.0.1:${origin.port}`;
    await rawRequest(h.port, `GET ${t}/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => origin.ended.includes(0));
    const res = await rawRequest(h.port, `GET ${t}/b HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.body.toString()).toBe('conn1');
  });
});
