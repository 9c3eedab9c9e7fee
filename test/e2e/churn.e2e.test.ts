/**
 * Connection churn: a few hundred clients that abandon, reset, truncate and
 * misbehave at every stage of a request or a tunnel, against origins that do
 * the same. Afterwards the proxy holds no connection and no file descriptor
 * more than before, and still serves. A fixed seed makes the mix repeatable.
 */
import fs from 'node:fs';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

const BODY = Buffer.from('a'.repeat(2044) + 'END\n');
const BIG = 4 * 1024 * 1024;
// Longer runs by hand (DFP_IO=net for the net.Socket fallback):
//   DFP_CHURN_SCENARIOS=20000 DFP_CHURN_SEED=7 DFP_CHURN_CONCURRENCY=64 npx vitest run test/e2e/churn.e2e.test.ts
const SCENARIOS = Number(process.env['DFP_CHURN_SCENARIOS'] ?? 260);
const SEED = Number(process.env['DFP_CHURN_SEED'] ?? 0x5eed);
const CONCURRENCY = Number(process.env['DFP_CHURN_CONCURRENCY'] ?? 16);

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Keeps every socket a server accepted, to take them all down at the end, and closes
 * the server after the test (its sockets first: close() alone waits for them).
 */
async function listenTracked(server: net.Server): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/**
 * An HTTP origin by path: /ok (keep-alive, 2 KiB), /big (4 MiB, honouring backpressure),
 * /reset (head and part of the body, then a reset), /cut (the same, then a FIN),
 * /post (reads a Content-Length body, then /ok's answer).
 */
async function startHttpOrigin(): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const server = net.createServer((s) => {
    let pending = Buffer.alloc(0);
    let bodyLeft = 0;
    s.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, pending.length);
          bodyLeft -= n;
          pending = pending.subarray(n);
          if (bodyLeft > 0) return;
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`);
          s.write(BODY);
          continue;
        }
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end + 4);
        const path = head.split(' ')[1];
        if (path === '/ok') {
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY.length}\r\n\r\n`);
          s.write(BODY);
        } else if (path === '/big') {
          s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`);
          const piece = Buffer.alloc(64 * 1024, 0x62);
          let sent = 0;
          const more = (): void => {
            while (sent < BIG && !s.destroyed) {
              sent += piece.length;
              if (!s.write(piece)) {
                s.once('drain', more);
                return;
              }
            }
          };
          more();
        } else if (path === '/reset' || path === '/cut') {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n' + 'c'.repeat(1000));
          setTimeout(() => (path === '/reset' ? s.resetAndDestroy() : s.end()), 5);
          return;
        } else if (path === '/post') {
          bodyLeft = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        } else if (path === '/upgrade') {
          // switch protocols, then echo whatever comes
          s.removeAllListeners('data');
          s.on('data', (c: Buffer) => s.write(c));
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: churn\r\n\r\n');
          if (pending.length > 0) s.write(pending);
          return;
        } else {
          s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
          return;
        }
      }
    });
  });
  return listenTracked(server);
}

/** A tunnel origin: echoes; "RESET" makes it reset the connection; a FIN is answered with a FIN. */
async function startEchoTunnelOrigin(): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (c: Buffer) => {
      if (c.includes('RESET')) s.resetAndDestroy();
      else s.write(c);
    });
    s.on('end', () => s.end());
  });
  return listenTracked(server);
}

interface Client {
  socket: net.Socket;
  received: () => Buffer;
  /** Resolves when `cond` holds on what arrived or the proxy closed; true if `cond` held. */
  until(cond: (got: Buffer) => boolean, timeoutMs?: number): Promise<boolean>;
  closed(timeoutMs?: number): Promise<boolean>;
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let total = 0;
    let isClosed = false;
    const wakers = new Set<() => void>();
    const wake = () => wakers.forEach((w) => w());
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      total += c.length;
      wake();
    });
    socket.on('close', () => {
      isClosed = true;
      wake();
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
    const received = () => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    const wait = (cond: () => boolean, timeoutMs: number) =>
      new Promise<boolean>((done) => {
        const check = () => {
          if (!cond() && !isClosed) return;
          wakers.delete(check);
          clearTimeout(timer);
          done(cond());
        };
        const timer = setTimeout(() => {
          wakers.delete(check);
          done(cond());
        }, timeoutMs);
        wakers.add(check);
        check();
      });
    socket.once('connect', () =>
      resolve({
        socket,
        received,
        until: (cond, timeoutMs = 3_000) => wait(() => cond(received()), timeoutMs),
        closed: (timeoutMs = 3_000) => wait(() => isClosed, timeoutMs),
      }),
    );
    socket.once('error', reject);
  });
}

const count = (buf: Buffer, text: string): number => {
  let n = 0;
  for (let i = buf.indexOf(text); i >= 0; i = buf.indexOf(text, i + text.length)) n++;
  return n;
};

describe('connection churn', () => {
  it('leaves no connection or file descriptor behind after clients and origins abort at every stage, and keeps serving', async () => {
    const h = await startHarness((c) => {
      c.limits.idleTimeoutMs = 20_000; // pooled connections stay put while the descriptors are counted
      c.upstream.maxIdlePerHost = 2;
      c.access.upgrades = ['churn'];
    });
    const origin = await startHttpOrigin();
    const tunnelOrigin = await startEchoTunnelOrigin();
    const base = `http://127.0.0.1:${origin.port}`;
    const connectTo = `CONNECT 127.0.0.1:${tunnelOrigin.port} HTTP/1.1\r\nHost: 127.0.0.1:${tunnelOrigin.port}\r\n\r\n`;
    const get = (path: string, extra = '') => `GET ${base}${path} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n${extra}\r\n`;
    const established = (got: Buffer) => got.includes('\r\n\r\n');
    const fdsBefore = openFds();
    const failures: string[] = [];
    const random = seeded(SEED);

    const scenarios: Array<(c: Client) => Promise<void>> = [
      // three keep-alive requests, read completely
      async (c) => {
        for (let i = 1; i <= 3; i++) {
          c.socket.write(get('/ok'));
          if (!(await c.until((g) => count(g, 'END\n') === i))) failures.push(`keep-alive response ${i} incomplete`);
        }
        c.socket.end();
        await c.closed();
      },
      async (c) => void c.socket.end(get('/ok')).destroy(),
      async (c) => void c.socket.write(get('/ok'), () => c.socket.resetAndDestroy()),
      async (c) => {
        c.socket.write(get('/big'));
        await c.until((g) => g.length > 64 * 1024);
        c.socket.destroy();
      },
      async (c) => {
        c.socket.write(get('/big'));
        await c.until((g) => g.length > 0);
        c.socket.resetAndDestroy();
      },
      // the origin resets or cuts a response short: the proxy must close the client connection
      async (c) => {
        c.socket.write(get('/reset'));
        if (!(await c.closed())) failures.push('client left open after the origin reset');
      },
      async (c) => {
        c.socket.write(get('/cut'));
        if (!(await c.closed())) failures.push('client left open after the origin cut the response');
      },
      async (c) => void c.socket.end('GET ' + base + '/ok HTTP/1.1\r\nHo'),
      async (c) => {
        c.socket.write(`POST ${base}/post HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: 200000\r\n\r\n`);
        c.socket.write(Buffer.alloc(50_000, 0x70), () => c.socket.destroy());
      },
      async (c) => {
        c.socket.write(`POST ${base}/post HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: 70000\r\n\r\n`);
        c.socket.write(Buffer.alloc(70_000, 0x70));
        if (!(await c.until((g) => g.includes('END\n')))) failures.push('POST response incomplete');
        c.socket.destroy();
      },
      // tunnels: echo then FIN; echo then reset; the origin resets; the client leaves before the 200
      async (c) => {
        c.socket.write(connectTo);
        await c.until(established);
        c.socket.write('hello');
        if (!(await c.until((g) => g.includes('hello')))) failures.push('tunnel echo missing');
        c.socket.end();
        if (!(await c.closed())) failures.push('tunnel not closed after both FINs');
      },
      async (c) => {
        c.socket.write(connectTo + 'early');
        await c.until((g) => g.includes('early'));
        c.socket.resetAndDestroy();
      },
      async (c) => {
        c.socket.write(connectTo);
        await c.until(established);
        c.socket.write('RESET');
        if (!(await c.closed())) failures.push('tunnel left open after the origin reset');
      },
      async (c) => void c.socket.end(connectTo).destroy(),
      // garbage and a request that cannot be parsed: an error answer and a close
      async (c) => {
        c.socket.write('\x00\x01garbage\r\n\r\n');
        if (!(await c.closed())) failures.push('garbage request not closed');
      },
      async (c) => {
        c.socket.write(`GET ${base}/ok HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`);
        if (!(await c.closed())) failures.push('ambiguous framing not closed');
        if (!c.received().toString('latin1').startsWith('HTTP/1.1 400')) failures.push('ambiguous framing not a 400');
      },
      // pipelined: two answers in full, then the third is cut by the origin and the client is closed
      async (c) => {
        c.socket.write(get('/ok') + get('/ok') + get('/cut'));
        if (!(await c.closed())) failures.push('pipelined: not closed after the cut response');
        if (count(c.received(), 'END\n') !== 2) failures.push('pipelined: not two full responses first');
      },
      // an upgrade, echoed, then left by a reset or a FIN
      async (c) => {
        c.socket.write(get('/upgrade', 'Connection: Upgrade\r\nUpgrade: churn\r\n') + 'ping');
        if (!(await c.until((g) => g.includes('ping')))) failures.push('upgrade: echo missing');
        if (random() < 0.5) c.socket.resetAndDestroy();
        else {
          c.socket.end();
          if (!(await c.closed())) failures.push('upgrade: not closed after both FINs');
        }
      },
    ];

    const order = Array.from({ length: SCENARIOS }, (_, i) => (i < scenarios.length ? i : Math.floor(random() * scenarios.length)));
    let next = 0;
    const worker = async () => {
      while (next < order.length) {
        const k = order[next++]!;
        const c = await connect(h.port);
        await scenarios[k]!(c);
        // whatever the scenario left, the client side goes now
        await c.closed(1_000);
        c.socket.destroy();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(failures).toEqual([]);

    // All clients are gone: what the proxy may still hold is its pool of idle upstream connections,
    // each one descriptor here and one on the origin's side (the origins run in this process too).
    await waitFor(() => h.proxy.context.connections.size === 0, 5_000);
    const expected = () => fdsBefore + 2 * h.proxy.context.pool.size;
    // (At most: sockets of earlier tests in this process may still be closing when fdsBefore is taken.)
    await waitFor(() => openFds() <= expected(), 5_000).catch(() => {});
    expect(openFds()).toBeLessThanOrEqual(expected());
    expect(h.proxy.context.pool.size).toBeGreaterThan(0);

    // Origins hang up their side (pooled keep-alive connections included): the proxy must let go of everything.
    for (const s of [...origin.sockets, ...tunnelOrigin.sockets]) s.destroy();
    await waitFor(() => h.proxy.context.connections.size === 0 && h.proxy.context.pool.size === 0, 5_000);
    await waitFor(() => openFds() <= fdsBefore, 5_000).catch(() => {});
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);

    // and it still serves
    const c = await connect(h.port);
    c.socket.write(get('/ok', 'Connection: close\r\n'));
    expect(await c.until((g) => g.includes('END\n'))).toBe(true);
    expect(c.received().toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    c.socket.destroy();
  }, 60_000 + SCENARIOS * 10);
});
