import { describe, expect, it, onTestFinished } from 'vitest';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectErrorCode, connectTo } from '../../../src/upstream/connect.js';
import { ProxyError } from '../../../src/errors.js';
import type { ResolvedAddress } from '../../../src/dns/family.js';
import { startRawOrigin } from '../../helpers/origin.js';
import { ManualClock, settlesAtOnce } from '../../helpers/wait.js';
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

/** Let real socket I/O happen (connects, accepts, refusals) while the race's own clock stands still. */
const letSocketsWork = () => sleep(30);

describe('connectTo', () => {
  it('connects to the first address and does not dial the second', async () => {
    const origin = await startOrigin('127.0.0.1');
    const clock = new ManualClock();
    const result = await connectTo([V4, { address: '127.0.0.1', family: 4 }], origin.port, { timeoutMs: 1_000, timers: clock });
    track(result);
    expect(result.address).toBe(V4);
    expect(result.connectMs).toBe(0); // on the race's clock, which has not moved
    expect(clock.pendingDelays()).toEqual([]); // the win cleared the attempt delay and the deadline
    clock.advance(1_000); // past the attempt delay: nothing is left to start a second attempt
    await letSocketsWork();
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

  it('an unanswered first address delays a good second one by the attempt delay (250 ms) only', async () => {
    const { port, origin } = await unansweredV4AndOriginV6();
    const clock = new ManualClock();
    const racing = connectTo([V4, V6], port, { timeoutMs: 5_000, timers: clock });
    expect(clock.pendingDelays()).toEqual([5_000, 250]); // the deadline, then the delay before the next attempt
    clock.advance(249);
    await letSocketsWork();
    expect(origin.accepted()).toBe(0); // the second address is not dialled before the delay
    clock.advance(1);
    const result = await racing;
    track(result);
    expect(result.address).toBe(V6);
    expect(result.connectMs).toBe(250);
    expect(origin.accepted()).toBe(1);
    expect(clock.pendingDelays()).toEqual([]);
  });

  it('honours a shorter attemptDelayMs', async () => {
    const { port, origin } = await unansweredV4AndOriginV6();
    const clock = new ManualClock();
    const racing = connectTo([V4, V6], port, { timeoutMs: 5_000, attemptDelayMs: 50, timers: clock });
    expect(clock.pendingDelays()).toEqual([5_000, 50]);
    clock.advance(49);
    await letSocketsWork();
    expect(origin.accepted()).toBe(0);
    clock.advance(1);
    const result = await racing;
    track(result);
    expect(result.address).toBe(V6);
    expect(result.connectMs).toBe(50);
  });

  it('a refused first address fails over at once, without waiting for the attempt delay', async () => {
    const origin = await startOrigin('::1'); // nothing listens on 127.0.0.1 at this port
    const clock = new ManualClock();
    const result = await connectTo([V4, V6], origin.port, { timeoutMs: 5_000, timers: clock });
    track(result);
    expect(result.address).toBe(V6);
    expect(result.connectMs).toBe(0); // no timer of the race fired: the refusal started the second attempt
    expect(clock.pendingDelays()).toEqual([]);
  });

  it('rejects CONNECTION_REFUSED when every address refuses, without waiting for the delay', async () => {
    const free = await new Promise<number>((resolve) => {
      const s = net.createServer().listen({ host: '127.0.0.1', port: 0 }, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const clock = new ManualClock(); // never advanced: the rejection cannot come from a timer
    const err = await rejection(connectTo([V4, V6], free, { timeoutMs: 5_000, timers: clock }));
    expect(clock.pendingDelays()).toEqual([]);
    expect([err.code, err.status, err.proxyStatus]).toEqual(['CONNECTION_REFUSED', 502, 'connection_refused']);
    expect(err.detail).toMatch(/ECONNREFUSED/);
  });

  it('rejects CONNECT_TIMEOUT when nothing answers within timeoutMs, naming every address tried', async () => {
    const server = await startUnanswered('127.0.0.1');
    const clock = new ManualClock();
    const pending = connectTo([V4, V4], server.port, { timeoutMs: 300, attemptDelayMs: 100, timers: clock });
    let settled = false;
    pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    clock.advance(100); // the second attempt starts
    clock.advance(199);
    await letSocketsWork();
    expect(settled).toBe(false); // not before the deadline
    clock.advance(1);
    const err = await rejection(pending);
    expect([err.code, err.status, err.proxyStatus]).toEqual(['CONNECT_TIMEOUT', 504, 'connection_timeout']);
    expect(err.detail).toBe(`127.0.0.1:${server.port}, 127.0.0.1:${server.port} after 300 ms`);
    expect(clock.pendingDelays()).toEqual([]);
  });

  it('an abort destroys the attempts and rejects with the signal reason at once', async () => {
    const server = await startUnanswered('127.0.0.1');
    const clock = new ManualClock();
    const controller = new AbortController();
    const pending = connectTo([V4], server.port, { timeoutMs: 5_000, signal: controller.signal, timers: clock });
    await letSocketsWork();
    controller.abort();
    expect(await settlesAtOnce(pending)).toBe(true);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(clock.pendingDelays()).toEqual([]); // the deadline went with the race
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
