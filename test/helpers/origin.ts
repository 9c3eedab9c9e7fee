/**
 * Origins for end-to-end tests, on 127.0.0.1 (port 0, or port 80 on a random
 * 127.x address; the raw ones on ::1 when asked): an http-module origin that echoes
 * what it got, a raw origin that records the exact bytes of every connection and
 * answers each complete request, a raw origin handed each request head, and one
 * driven by the test. Also a free port that nothing listens on.
 */
import http from 'node:http';
import net from 'node:net';
import { onTestFinished } from 'vitest';
import { BodyParser, ERROR, HeadParser, NEED_MORE } from '../../src/http/index.js';

export interface EchoOrigin {
  port: number;
  server: http.Server;
  /** Requests seen, in order. */
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }>;
  close(): Promise<void>;
}

export type EchoHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => void;

function defaultEcho(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const payload = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString('latin1') });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** node:http origin; the handler gets the whole request body. Closed after the test. */
export async function startEchoOrigin(handler: EchoHandler = defaultEcho): Promise<EchoOrigin> {
  const seen: EchoOrigin['seen'] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin: EchoOrigin = {
    port: (server.address() as net.AddressInfo).port,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  onTestFinished(() => origin.close());
  return origin;
}

export interface RecordedConnection {
  bytes: Buffer[];
  /** Each complete request as the exact bytes received (head + body). */
  requests: Buffer[];
}

export interface RecordingOrigin {
  port: number;
  connections: RecordedConnection[];
  /** Every request on every connection, in arrival order. */
  allRequests(): Buffer[];
  close(): Promise<void>;
}

/**
 * Raw origin: frames requests with dfp's scanner (test-side), records their exact
 * bytes, and answers each with `200` and the request's ordinal as the body.
 */
export async function startRecordingOrigin(): Promise<RecordingOrigin> {
  const connections: RecordedConnection[] = [];
  const all: Buffer[] = [];
  let counter = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const rec: RecordedConnection = { bytes: [], requests: [] };
    connections.push(rec);
    const head = new HeadParser('request');
    const body = new BodyParser();
    let inBody = false;
    let current: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      rec.bytes.push(chunk);
      let pos = 0;
      while (pos < chunk.length) {
        if (!inBody) {
          const r = head.execute(chunk, pos, chunk.length);
          if (r === NEED_MORE) {
            current.push(chunk.subarray(pos));
            return;
          }
          if (r === ERROR) {
            socket.destroy();
            return;
          }
          current.push(chunk.subarray(pos, r));
          body.reset(head.bodyKind, head.contentLength);
          inBody = true;
          pos = r;
        }
        const e = body.execute(chunk, pos, chunk.length);
        if (e === ERROR) {
          socket.destroy();
          return;
        }
        current.push(chunk.subarray(pos, e));
        pos = e;
        if (!body.done) return;
        const request = Buffer.concat(current);
        current = [];
        inBody = false;
        head.reset();
        rec.requests.push(request);
        all.push(request);
        const answer = String(++counter);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin: RecordingOrigin = {
    port: (server.address() as net.AddressInfo).port,
    connections,
    allRequests: () => all,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  onTestFinished(() => origin.close());
  return origin;
}

/** A raw origin driven by the test (on 127.0.0.1 unless `host` says otherwise): gets each connection's socket. */
export async function startRawOrigin(onSocket: (socket: net.Socket) => void, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const origin = {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  onTestFinished(() => origin.close());
  return origin;
}

/**
 * A raw origin that hands each bodiless request head (as a string) to `answer`.
 * Heads are split on the blank line; good enough for GET/HEAD requests.
 */
export async function startHeadOrigin(answer: (head: string, socket: net.Socket, index: number) => void, host = '127.0.0.1') {
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
  }, host);
  return { ...origin, heads, connections: () => connections };
}

/** Bind a random 127.x.y.z:80 (we may be root; loopback only). Null when port 80 is not ours to take. */
export async function listenOnPort80(onSocket: (s: net.Socket) => void): Promise<{ host: string } | null> {
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

/** A 127.0.0.1 port that was listening a moment ago and is closed now: free to listen on, refused to connect to. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
