/**
 * Origins for end-to-end tests, all on 127.0.0.1 port 0: an http-module origin
 * that echoes what it got, and a raw net origin that records the exact bytes
 * of every connection and answers each complete request with a small response.
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

/** A raw origin driven by the test: gets each connection's socket. */
export async function startRawOrigin(onSocket: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
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
