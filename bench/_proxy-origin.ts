/**
 * Origin and tunnel sinks for bench/proxy.ts, run as its own child process
 * (the parent pins it to the load core). Three listeners on 127.0.0.1, port 0:
 *
 *   http    keep-alive origin: answers each request head (found with indexOf
 *           "\r\n\r\n"; requests have no body) with a fixed 13-byte body, or a
 *           1 MiB body when the target starts with "/big".
 *   stream  on connect, writes bytes as fast as the peer reads them (figure c).
 *   echo    echoes the first bytes it reads, then closes: the server sends the
 *           first FIN, so TIME_WAIT stays on the listening side (figure d).
 *
 * Reports its ports over IPC, answers {kind: 'stats'} with its counters
 * (HTTP connections accepted, requests answered), and exits when the parent disconnects or after
 * MAX_LIFETIME_MS, whichever comes first.
 */
import net from 'node:net';

const MAX_LIFETIME_MS = 15 * 60_000;
const MAX_HEAD_BYTES = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const SMALL = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, world\n', 'latin1');
const BIG_BODY_BYTES = 1 << 20;
const BIG = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG_BODY_BYTES}\r\nContent-Type: application/octet-stream\r\n\r\n`, 'latin1'),
  Buffer.alloc(BIG_BODY_BYTES, 0x78),
]);
const STREAM_CHUNK = Buffer.alloc(256 * 1024, 0x7a);

/** True when the request line's target (after "GET ") starts with "/big". */
function isBigTarget(buf: Buffer, start: number): boolean {
  const sp = buf.indexOf(0x20, start);
  return sp >= 0 && buf[sp + 1] === 0x2f && buf[sp + 2] === 0x62 && buf[sp + 3] === 0x69 && buf[sp + 4] === 0x67;
}

/** Counters the parent reads between runs (upstream keep-alive reuse shows here). */
const stats = { httpConnections: 0, requests: 0 };

function serveHttp(sock: net.Socket): void {
  stats.httpConnections++;
  sock.setNoDelay(true);
  let pending: Buffer | null = null;
  sock.on('data', (chunk: Buffer) => {
    let buf = chunk;
    if (pending !== null) {
      buf = Buffer.concat([pending, chunk]);
      pending = null;
    }
    let off = 0;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF, off);
      if (end < 0) break;
      sock.write(isBigTarget(buf, off) ? BIG : SMALL);
      stats.requests++;
      off = end + 4;
    }
    if (off < buf.length) {
      if (buf.length - off > MAX_HEAD_BYTES) {
        sock.destroy();
        return;
      }
      pending = Buffer.from(buf.subarray(off));
    }
  });
  sock.on('error', () => sock.destroy());
}

function serveStream(sock: net.Socket): void {
  sock.setNoDelay(true);
  // write() returns false once more than the high-water mark is queued, so the
  // loop writes one chunk per 'drain'; it ends when the peer goes away.
  const pump = () => {
    while (!sock.destroyed && sock.write(STREAM_CHUNK)) {
      /* keep the socket's buffer full */
    }
  };
  sock.on('drain', pump);
  sock.on('data', () => {}); // ignore anything the client sends
  sock.on('error', () => sock.destroy());
  pump();
}

function serveEcho(sock: net.Socket): void {
  sock.setNoDelay(true);
  sock.once('data', (chunk: Buffer) => sock.end(chunk));
  sock.on('error', () => sock.destroy());
}

function listen(handler: (sock: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve(server));
  });
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

const [http, stream, echo] = await Promise.all([listen(serveHttp), listen(serveStream), listen(serveEcho)]);
setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
process.on('disconnect', () => process.exit(0));
process.on('message', (msg: { kind?: string }) => {
  if (msg.kind === 'stats') process.send!({ kind: 'stats', ...stats });
});
process.send!({ kind: 'ready', http: portOf(http), stream: portOf(stream), echo: portOf(echo) });
