import { describe, expect, it, onTestFinished } from 'vitest';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectErrorCode, connectTo } from '../../../src/upstream/connect.js';
import { ProxyError } from '../../../src/errors.js';
import type { ResolvedAddress } from '../../../src/dns/family.js';
import { startRawOrigin } from '../../helpers/origin.js';
import { startUnansweredServer, type UnansweredServer } from './unanswered-server.js';

const V4: ResolvedAddress = { address: '127.0.0.1', family: 4 };
const V6: ResolvedAddress = { address: '::1', family: 6 };

interface Origin {
  port: number;
  accepted: () => number;
}

async function startOrigin(host: string, port = 0): Promise<Origin> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

async function startUnanswered(host: string, port = 0): Promise<UnansweredServer> {
  const server = await startUnansweredServer(host, port);
  onTestFinished(() => server.close());
  return server;
}

/** An unanswered 127.0.0.1:P and a listening [::1]:P (same port, the API dials one port). */
async function unansweredV4AndOriginV6(): Promise<{ port: number; origin: Origin }> {
  for (let k = 0; k < 5; k++) {
    const origin = await startOrigin('::1');
    try {
      await startUnanswered('127.0.0.1', origin.port);
      return { port: origin.port, origin };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    }
  }
  throw new Error('no port free on both loopbacks');
}

async function rejection(p: Promise<unknown>): Promise<ProxyError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error('expected a rejection');
}

function track(result: { socket: { destroy(): void } }): void {
  onTestFinished(() => {
    result.socket.destroy();
  });
}

describe('connectTo', () => {
  it('connects to the first address and does not dial the second', async () => {
    const origin = await startOrigin('127.0.0.1');
    const result = await connectTo([V4, { address: '127.0.0.1', family: 4 }], origin.port, { timeoutMs: 1_000 });
    track(result);
    expect(result.address).toBe(V4);
    expect(result.connectMs).toBeGreaterThanOrEqual(0);
    expect(result.connectMs).toBeLessThan(200);
    await sleep(300); // past the attempt delay: no second attempt may start
    expect(origin.accepted()).toBe(1);
  });

  it('hands back a connected, half-open socket with none of the race’s listeners left attached', async () => {
    // The origin ends its side at once; our side must still be able to write after that FIN.
    let received = '';
    let originEnded!: () => void;
    const gotAll = new Promise<void>((r) => (originEnded = r));
    const { port } = await startRawOrigin((s) => {
      s.end();
      s.on('data', (c: Buffer) => (received += c.toString()));
      s.on('end', originEnded);
    });
    const result = await connectTo([V4], port, { timeoutMs: 1_000 });
    track(result);
    const socket = result.socket;
    expect(socket.listenerCount('connect')).toBe(0);
    expect(socket.listenerCount('error')).toBe(0);
    expect(socket.remoteAddress).toBe('127.0.0.1');
    socket.on('error', () => {});
    socket.on('end', () => {
      socket.write(Buffer.from('after-fin'));
      socket.end();
    });
    await gotAll;
    expect(received).toBe('after-fin');
  });

  it('an unanswered first address delays a good second one by about the attempt delay only', async () => {
    const { port } = await unansweredV4AndOriginV6();
    const started = performance.now();
    const result = await connectTo([V4, V6], port, { timeoutMs: 5_000 });
    const elapsed = performance.now() - started;
    track(result);
    expect(result.address).toBe(V6);
    expect(elapsed).toBeGreaterThanOrEqual(240);
    expect(elapsed).toBeLessThan(400);
  });

  it('honours a shorter attemptDelayMs', async () => {
    const { port } = await unansweredV4AndOriginV6();
    const started = performance.now();
    const result = await connectTo([V4, V6], port, { timeoutMs: 5_000, attemptDelayMs: 50 });
    track(result);
    expect(result.address).toBe(V6);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('a refused first address fails over at once', async () => {
    const origin = await startOrigin('::1'); // nothing listens on 127.0.0.1 at this port
    const started = performance.now();
    const result = await connectTo([V4, V6], origin.port, { timeoutMs: 5_000 });
    track(result);
    expect(result.address).toBe(V6);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('rejects CONNECTION_REFUSED when every address refuses, without waiting for the delay', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = net.createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const started = performance.now();
    const err = await rejection(connectTo([V4, V6], free, { timeoutMs: 5_000 }));
    expect(performance.now() - started).toBeLessThan(100);
    expect([err.code, err.status, err.proxyStatus]).toEqual(['CONNECTION_REFUSED', 502, 'connection_refused']);
    expect(err.detail).toMatch(/ECONNREFUSED/);
  });

  it('rejects CONNECT_TIMEOUT when nothing answers within timeoutMs', async () => {
    const server = await startUnanswered('127.0.0.1');
    const started = performance.now();
    const err = await rejection(connectTo([V4, V4], server.port, { timeoutMs: 300, attemptDelayMs: 100 }));
    const elapsed = performance.now() - started;
    expect([err.code, err.status, err.proxyStatus]).toEqual(['CONNECT_TIMEOUT', 504, 'connection_timeout']);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(450);
    expect(err.detail).toContain(`127.0.0.1:${server.port}`);
  });

  it('an abort destroys the attempts and rejects with the signal reason', async () => {
    const server = await startUnanswered('127.0.0.1');
    const controller = new AbortController();
    const pending = connectTo([V4], server.port, { timeoutMs: 5_000, signal: controller.signal });
    await sleep(50);
    const started = performance.now();
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(50);
  });

  it('rejects at once for an already aborted signal or no addresses', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(connectTo([V4], 1, { timeoutMs: 1_000, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect((await rejection(connectTo([], 80, { timeoutMs: 1_000 }))).code).toBe('DESTINATION_UNAVAILABLE');
  });

  it('does not keep listening to the signal after it settles', async () => {
    const origin = await startOrigin('127.0.0.1');
    const controller = new AbortController();
    const result = await connectTo([V4], origin.port, { timeoutMs: 1_000, signal: controller.signal });
    track(result);
    controller.abort();
    await sleep(10);
    expect(result.socket.destroyed).toBe(false);
  });
});

describe('connect error codes', () => {
  const cases: Array<[string | undefined, string]> = [
    ['ECONNREFUSED', 'CONNECTION_REFUSED'],
    ['ETIMEDOUT', 'CONNECT_TIMEOUT'],
    ['EHOSTUNREACH', 'DESTINATION_UNAVAILABLE'],
    ['ENETUNREACH', 'DESTINATION_UNAVAILABLE'],
    ['EADDRNOTAVAIL', 'DESTINATION_UNAVAILABLE'],
    ['EHOSTDOWN', 'DESTINATION_UNAVAILABLE'],
    ['ENETDOWN', 'DESTINATION_UNAVAILABLE'],
    ['ECONNRESET', 'DESTINATION_UNAVAILABLE'],
    ['EACCES', 'DESTINATION_UNAVAILABLE'],
    [undefined, 'DESTINATION_UNAVAILABLE'],
  ];
  for (const [nodeCode, code] of cases) {
    it(`${nodeCode ?? 'no code'} → ${code}`, () => {
      expect(connectErrorCode(nodeCode)).toBe(code);
    });
  }
});
