/**
 * HTTPS origin for bench/tls.ts, run as its own child process (the parent pins
 * it to the load core): a Node `https` server on 127.0.0.1, port 0, with the
 * bench's test certificate (paths in argv: cert, key), keep-alive, answering
 * every request with a 13-byte body.
 *
 * A second listener, the "hello" responder (bench/tls.ts's sni figure): plain
 * TCP on 127.0.0.1, port 0; on a connection's first bytes (a ClientHello) it
 * writes HELLO_REPLY (a fixed 128-byte handshake record, standing in for the
 * start of a ServerHello) and ends the connection. No TLS work, so the figure
 * measures the proxy, not the origin's RSA signatures.
 *
 * Counts, per 'secureConnection', full handshakes and resumed ones
 * (`socket.isSessionReused()`), and the requests answered. Reports its port
 * over IPC, answers {kind: 'stats'} with the counters, and exits when the
 * parent disconnects or after MAX_LIFETIME_MS, whichever comes first.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

const MAX_LIFETIME_MS = 15 * 60_000;
const BODY = 'hello, world\n';

const [certPath, keyPath] = process.argv.slice(2);
if (!certPath || !keyPath) throw new Error('usage: _tls-origin.ts CERT KEY');

const stats = { full: 0, resumed: 0, requests: 0 };

const server = https.createServer(
  {
    cert: readFileSync(certPath, 'utf8'),
    key: readFileSync(keyPath, 'utf8'),
    keepAliveTimeout: 120_000, // idle pooled connections survive between runs
    noDelay: true,
  },
  (_req, res) => {
    stats.requests++;
    res.writeHead(200, { 'Content-Length': BODY.length, 'Content-Type': 'text/plain' });
    res.end(BODY);
  },
);
server.on('secureConnection', (sock: TLSSocket) => {
  if (sock.isSessionReused()) stats.resumed++;
  else stats.full++;
});
server.on('tlsClientError', () => {}); // counted by the clients, not here

const HELLO_REPLY = Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 123]), Buffer.alloc(123, 0x02)]);
const hello = net.createServer({ noDelay: true }, (sock) => {
  sock.on('error', () => {});
  sock.once('data', () => sock.end(HELLO_REPLY));
});
await new Promise<void>((resolve, reject) => {
  hello.once('error', reject);
  hello.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve());
});

await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve());
});
setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
process.on('disconnect', () => process.exit(0));
process.on('message', (msg: { kind?: string }) => {
  if (msg.kind === 'stats') process.send!({ kind: 'stats', ...stats });
});
process.send!({ kind: 'ready', port: (server.address() as AddressInfo).port, helloPort: (hello.address() as AddressInfo).port });
