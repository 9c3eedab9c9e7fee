/**
 * Limits and resource bounds of the real proxy: head timeout (slowloris), idle
 * timeouts for keep-alive and tunnels, connect timeout, maxConnections, memory
 * bounded by backpressure for large bodies both ways, and graceful shutdown.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { startRawOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { afterHead, connectRaw, rawRequest } from '../helpers/raw-client.js';
import { startUnansweredServer } from '../unit/upstream/unanswered-server.js';
import { TIMER_SLACK_MS, header, settlesBefore, timerStart, waitFor } from '../helpers/wait.js';

v8.setFlagsFromString('--expose-gc');
const forceGc = vm.runInNewContext('gc') as () => void;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Send `pieces` at their offsets (ms) from now, all scheduled at once so that a late timer does not
 * push the later ones back; resolves after the last one is sent.
 */
function sendAt(client: { send(data: string): void }, pieces: Array<[number, string]>): Promise<void> {
  return new Promise((resolve) => {
    let left = pieces.length;
    for (const [atMs, data] of pieces) {
      setTimeout(() => {
        client.send(data);
        if (--left === 0) resolve();
      }, atMs);
    }
  });
}

/**
 * Peak growth of live ArrayBuffer memory and of RSS while `run` runs. Each
 * sample forces a full GC, yields so V8's array-buffer sweeper finishes, and
 * collects again: without that, freed-but-unswept socket buffers show up as
 * several MiB of noise.
 */
async function measurePeakGrowth<T>(run: () => Promise<T>): Promise<{ result: T; arrayBuffers: number; rss: number }> {
  const settle = async () => {
    forceGc();
    await new Promise((r) => setTimeout(r, 2));
    forceGc();
  };
  await settle();
  const base = process.memoryUsage();
  let peakAb = 0;
  let peakRss = 0;
  let sampling = false;
  const sample = async () => {
    if (sampling) return;
    sampling = true;
    await settle();
    const m = process.memoryUsage();
    peakAb = Math.max(peakAb, m.arrayBuffers - base.arrayBuffers);
    peakRss = Math.max(peakRss, m.rss - base.rss);
    sampling = false;
  };
  const timer = setInterval(() => void sample(), 40);
  try {
    const result = await run();
    return { result, arrayBuffers: peakAb, rss: peakRss };
  } finally {
    clearInterval(timer);
  }
}

/** Read a socket slowly: pause `pauseMs` after every `stepBytes`. */
function readSlowly(socket: net.Socket, onChunk: (c: Buffer) => void, stepBytes = 1 << 20, pauseMs = 20): void {
  let sinceBreak = 0;
  socket.on('data', (c: Buffer) => {
    onChunk(c);
    sinceBreak += c.length;
    if (sinceBreak >= stepBytes) {
      sinceBreak = 0;
      socket.pause();
      setTimeout(() => socket.resume(), pauseMs);
    }
  });
}

const MiB = 1 << 20;
const BODY_BYTES = 32 * MiB;
const PIECE = 64 * 1024;

function piece(k: number): Buffer {
  const b = Buffer.alloc(PIECE, k & 0xff);
  b.writeUInt32BE(k, 0);
  return b;
}

/** Write BODY_BYTES in pieces, respecting backpressure; returns the sha256. */
async function writeBody(socket: net.Socket): Promise<string> {
  const hash = createHash('sha256');
  for (let k = 0; k < BODY_BYTES / PIECE; k++) {
    const p = piece(k);
    hash.update(p);
    if (!socket.write(p)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          socket.removeListener('close', onClose);
          resolve();
        };
        const onClose = () => {
          socket.removeListener('drain', onDrain);
          reject(new Error('closed while writing'));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    }
  }
  return hash.digest('hex');
}

describe('large bodies are streamed with backpressure', () => {
  it('uploads 32 MiB to a slowly reading origin intact, with the proxy holding far less than the body', async () => {
    const h = await startHarness();
    let originHash = '';
    let originBytes = 0;
    const origin = await startRawOrigin((s) => {
      const hash = createHash('sha256');
      readSlowly(
        s,
        afterHead((c) => {
          hash.update(c);
          originBytes += c.length;
          if (originBytes === BODY_BYTES) {
            originHash = hash.digest('hex');
            s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          }
        }),
      );
    });
    const client = await connectRaw(h.port);
    const { result, arrayBuffers, rss } = await measurePeakGrowth(async () => {
      client.send(`POST http://127.0.0.1:${origin.port}/up HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
      const sent = await writeBody(client.socket);
      const res = await client.responses(1, { timeoutMs: 15_000 });
      return { sent, res };
    });
    expect(result.res.responses[0]?.status).toBe(200);
    expect(originBytes).toBe(BODY_BYTES);
    expect(originHash).toBe(result.sent);
    expect(arrayBuffers).toBeLessThan(8 * MiB);
    expect(rss).toBeLessThan(BODY_BYTES * 0.75);
    console.log(`upload: peak arrayBuffers growth ${(arrayBuffers / MiB).toFixed(1)} MiB, rss growth ${(rss / MiB).toFixed(1)} MiB`);
  });

  it('downloads 32 MiB to a slowly reading client intact, with the proxy holding far less than the body', async () => {
    const h = await startHarness();
    let originHash = '';
    const origin = await startRawOrigin((s) => {
      s.once('data', () => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
        void writeBody(s).then((d) => (originHash = d), () => {});
      });
    });
    const socket = net.connect({ port: h.port, host: '127.0.0.1' });
    onTestFinished(() => {
      socket.destroy();
    });
    socket.on('error', () => {});
    const { result, arrayBuffers, rss } = await measurePeakGrowth(() => {
      const body = hashBodySlowly(socket, 'download');
      socket.write(`GET http://127.0.0.1:${origin.port}/down HTTP/1.1\r\nHost: x\r\n\r\n`);
      return body;
    });
    expect(result.bytes).toBe(BODY_BYTES);
    await waitFor(() => originHash !== '');
    expect(result.hash).toBe(originHash);
    expect(arrayBuffers).toBeLessThan(8 * MiB);
    expect(rss).toBeLessThan(BODY_BYTES * 0.75);
    console.log(`download: peak arrayBuffers growth ${(arrayBuffers / MiB).toFixed(1)} MiB, rss growth ${(rss / MiB).toFixed(1)} MiB`);
  });
});

/**
 * Reads BODY_BYTES after a head from `socket`, slowly (readSlowly), hashing the
 * body; `onHead` sees the head.
 */
function hashBodySlowly(socket: net.Socket, what: string, onHead?: (head: Buffer) => void): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const timer = setTimeout(() => reject(new Error(`${what} stalled at ${bytes}`)), 15_000);
    readSlowly(socket, afterHead((c) => {
      hash.update(c);
      bytes += c.length;
      if (bytes >= BODY_BYTES) {
        clearTimeout(timer);
        resolve({ hash: hash.digest('hex'), bytes });
      }
    }, onHead));
  });
}

/**
 * GET `url` through the proxy on a connection of its own and collect `size` body bytes after
 * the response head; with `slow`, read with pauses (readSlowly) so that writes queue up.
 */
function getBody(proxyPort: number, url: string, size: number, slow: { stepBytes: number; pauseMs: number } | null): Promise<Buffer> {
  const socket = net.connect({ port: proxyPort, host: '127.0.0.1' });
  onTestFinished(() => {
    socket.destroy();
  });
  const body: Buffer[] = [];
  let bodyBytes = 0;
  const done = new Promise<Buffer>((resolve) => {
    const onChunk = afterHead((c) => {
      body.push(c);
      bodyBytes += c.length;
      if (bodyBytes >= size) resolve(Buffer.concat(body));
    });
    if (slow !== null) readSlowly(socket, onChunk, slow.stepBytes, slow.pauseMs);
    else socket.on('data', onChunk);
  });
  socket.write(`GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return done;
}

describe('concurrent responses share no read memory', () => {
  // Regression: upstream sockets read into one shared buffer; a body write still queued
  // from it was overwritten by the next read of another upstream (read-buffer.ts).
  it('delivers every body intact when several large responses stream at once to fast and slow clients', async () => {
    const h = await startHarness();
    const size = 12 * MiB;
    const bodies = Array.from({ length: 6 }, () => randomBytes(size));
    const origin = await startRawOrigin((s) => {
      s.once('data', (c: Buffer) => {
        const i = Number(/GET \/(\d+)/.exec(c.toString('latin1'))![1]);
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
        s.write(bodies[i]!);
      });
    });
    const results = bodies.map((_, i) =>
      getBody(h.port, `http://127.0.0.1:${origin.port}/${i}`, size, i % 2 === 0 ? { stepBytes: 256 * 1024, pauseMs: 20 } : null),
    );
    const got = await Promise.all(results);
    for (let i = 0; i < bodies.length; i++) expect(got[i]!.equals(bodies[i]!), `response ${i}`).toBe(true);
  }, 30_000);
});

describe('a response that turns from bulk into a trickle', () => {
  // The upstream socket reads into a buffer of its own once a read fills it and keeps it while
  // the response goes on, through the short reads of the trickle (read-buffer.ts; the rules
  // themselves are unit-tested in test/unit/proxy/read-buffer.test.ts).
  it('reaches a slow client intact: 8 MiB at once, then 4 KiB pieces', async () => {
    const h = await startHarness();
    const bulk = randomBytes(8 * MiB);
    const pieces = Array.from({ length: 256 }, () => randomBytes(4096));
    const size = bulk.length + pieces.length * 4096;
    const origin = await startRawOrigin((s) => {
      s.once('data', () => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
        s.write(bulk);
        let k = 0;
        const timer = setInterval(() => {
          if (s.destroyed) return clearInterval(timer);
          s.write(pieces[k++]!);
          if (k === pieces.length) clearInterval(timer);
        }, 1);
      });
    });
    const body = await getBody(h.port, `http://127.0.0.1:${origin.port}/trickle`, size, { stepBytes: 128 * 1024, pauseMs: 15 });
    expect(body.equals(Buffer.concat([bulk, ...pieces]))).toBe(true);
  }, 30_000);
});

describe('tunnels are streamed with backpressure', () => {
  it('carries 32 MiB from an origin to a slowly reading client through CONNECT intact, holding far less than that', async () => {
    const h = await startHarness();
    let originHash = '';
    const origin = await startRawOrigin((s) => {
      void writeBody(s).then((d) => (originHash = d), () => {});
    });
    const socket = net.connect({ port: h.port, host: '127.0.0.1' });
    onTestFinished(() => {
      socket.destroy();
    });
    socket.on('error', () => {});
    const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    const { result, arrayBuffers } = await measurePeakGrowth(() => {
      const body = hashBodySlowly(socket, 'tunnel', (head) => expect(head.toString()).toBe(established));
      socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
      return body;
    });
    expect(result.bytes).toBe(BODY_BYTES);
    await waitFor(() => originHash !== '');
    expect(result.hash).toBe(originHash);
    expect(arrayBuffers).toBeLessThan(8 * MiB);
    console.log(`tunnel download: peak arrayBuffers growth ${(arrayBuffers / MiB).toFixed(1)} MiB`);
  });
});

describe('timeouts', () => {
  it('answers 408 and closes when the request head dribbles in slower than headerTimeout (slowloris)', async () => {
    const h = await startHarness((c) => (c.limits.headerTimeoutMs = 300));
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    const head = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nX-Slow: ${'z'.repeat(60)}\r\n\r\n`;
    const start = performance.now(); // before the first byte, which starts headerTimeout
    let i = 0;
    const dribble = setInterval(() => {
      if (i < head.length && !client.socket.destroyed) client.send(head[i++]!);
    }, 20);
    onTestFinished(() => clearInterval(dribble));
    const res = await client.closed(5_000);
    clearInterval(dribble);
    expect(res.responses[0]?.status).toBe(408);
    expect(header(res.responses[0], 'proxy-status')).toBe('dfp; error=http_request_error; details="no complete head within 300 ms"');
    expect(performance.now() - start).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
    // Answered before the head was complete: at one byte per 20 ms tick it needs over 100 ticks, and
    // the 300 ms timer, armed at the first, fires before the 16th however late the ticks run.
    expect(i).toBeLessThan(head.length);
    expect(origin.allRequests()).toEqual([]);
    expect(h.log.records[0]).toMatchObject({ status: 408, error: 'REQUEST_TIMEOUT' });
  });

  it('does not time out a head that arrives in pieces within headerTimeout, and gives each head a fresh allowance', async () => {
    const headerTimeoutMs = 1_600;
    const h = await startHarness((c) => (c.limits.headerTimeoutMs = headerTimeoutMs));
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    const t = `http://127.0.0.1:${origin.port}`;
    // The first head in three pieces over 200 ms: 1.4 s to spare.
    const firstStart = performance.now();
    await sendAt(client, [[0, `GET ${t}/ HTTP/1.1\r\n`], [100, 'Host: x\r\n'], [200, '\r\n']]);
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(200);
    // The second head starts 0.7 headerTimeout after the first one did and takes half a headerTimeout (0.8 s to
    // spare): it ends past a headerTimeout counted from the first head's first byte, so only a fresh timer lets it through.
    await sleep(0.7 * headerTimeoutMs - (performance.now() - firstStart));
    await sendAt(client, [[0, `GET ${t}/2 HTTP/1.1\r\n`], [headerTimeoutMs / 2, 'Host: x\r\n\r\n']]);
    const res2 = await client.responses(2);
    expect(res2.responses.map((r) => r.status)).toEqual([200, 200]);
    await waitFor(() => h.log.records.length === 2);
    expect(h.log.records.map((r) => r.error)).toEqual([null, null]);
  });

  it('closes an idle keep-alive client connection after idleTimeout, not before, and the idle upstream connection too', async () => {
    const idleTimeoutMs = 1_000;
    const h = await startHarness((c) => (c.limits.idleTimeoutMs = idleTimeoutMs));
    let originClosed = false;
    const origin = await startRawOrigin((s) => {
      s.on('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
      // The raw origin allows half-open sockets: the proxy's close shows as 'end'.
      s.on('end', () => (originClosed = true));
    });
    const client = await connectRaw(h.port);
    const start = performance.now(); // before the request: the idle timer starts after its response
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.responses(1);
    const res = await client.closed(5_000);
    expect(res.closed).toBe(true);
    expect(performance.now() - start).toBeGreaterThanOrEqual(idleTimeoutMs - TIMER_SLACK_MS);
    await waitFor(() => originClosed, 5_000);
  });

  it('counts idleTimeout from the end of the last response, not from the connection start', async () => {
    const idleTimeoutMs = 1_000;
    const answerMs = 150;
    const h = await startHarness((c) => (c.limits.idleTimeoutMs = idleTimeoutMs));
    const origin = await startRawOrigin((s) => {
      s.on('data', () => setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), answerMs));
    });
    const client = await connectRaw(h.port);
    // Three rounds of an answer and 300 ms idle (0.7 s to spare each) outlast one idleTimeout.
    let lastSent = 0;
    for (let i = 1; i <= 3; i++) {
      lastSent = performance.now();
      client.send(`GET http://127.0.0.1:${origin.port}/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await client.responses(i);
      await sleep(300);
    }
    expect(client.socket.readableEnded).toBe(false);
    const res = await client.closed(5_000);
    expect(res.responses.map((r) => r.status)).toEqual([200, 200, 200]);
    // The last response left the origin at least answerMs after the last request was sent; idleTimeout counts from there.
    expect(performance.now() - lastSent).toBeGreaterThanOrEqual(answerMs + idleTimeoutMs - TIMER_SLACK_MS);
  });

  it('with headerTimeout off, a head that stops half-way is still closed by idleTimeout', async () => {
    const h = await startHarness((c) => {
      c.limits.headerTimeoutMs = 0;
      c.limits.idleTimeoutMs = 300;
    });
    const start = performance.now(); // before the connection: the idle timer starts when it is accepted
    const client = await connectRaw(h.port);
    client.send('GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\n');
    const res = await client.closed(5_000);
    expect(res.closed).toBe(true);
    expect(res.responses).toEqual([]);
    expect(performance.now() - start).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
  });

  it('closes a connection it ended within the linger time even if the client keeps sending', async () => {
    const h = await startHarness();
    const client = await connectRaw(h.port);
    // `closed()` resolves on our FIN; the linger is about the socket going away after it.
    const gone = new Promise<number>((resolve) => client.socket.once('close', () => resolve(performance.now())));
    // A malformed head: 400, then our FIN; the client ignores it and keeps trickling bytes.
    const sentAt = performance.now(); // before the head: the linger starts with the FIN that answers it
    client.send('GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n');
    const res = await client.closed(5_000);
    expect(res.responses[0]?.status).toBe(400);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_request_error; details="[A-Z_]+"$/);
    expect(h.log.records[0]).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
    const trickle = setInterval(() => {
      if (!client.socket.destroyed) client.send('x');
    }, 100);
    onTestFinished(() => clearInterval(trickle));
    // LINGER_MS is 2 s: reading continues that long (no reset while the 400 is read), then the socket is
    // dropped: before a 10 s timer armed after the linger's own.
    const goneAt = await Promise.race([gone, sleep(10_000).then(() => Infinity)]);
    clearInterval(trickle);
    expect(goneAt).not.toBe(Infinity);
    expect(goneAt - sentAt).toBeGreaterThanOrEqual(2_000 - TIMER_SLACK_MS);
  });

  it('closes an idle tunnel (both sides) after idleTimeout but keeps one with one-way traffic open', async () => {
    const idleTimeoutMs = 1_000;
    const h = await startHarness((c) => (c.limits.idleTimeoutMs = idleTimeoutMs));
    const originSockets: net.Socket[] = [];
    const closed = new Set<net.Socket>();
    const origin = await startRawOrigin((s) => {
      originSockets.push(s);
      s.on('data', () => {});
      s.on('end', () => closed.add(s));
      s.on('close', () => closed.add(s));
    });
    const busy = await connectRaw(h.port);
    busy.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    const idle = await connectRaw(h.port);
    const idleStart = performance.now(); // before its CONNECT: its idle timer starts once it is set up
    idle.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    await waitFor(() => busy.received().length > 0 && idle.received().length > 0 && originSockets.length === 2);
    let idleClosedAt = 0;
    const idleDone = idle.closed(10_000).then((r) => ((idleClosedAt = performance.now()), r));
    // Busy tunnel: client → origin only, every 100 ms (0.9 s to spare) for at least 1.5 idleTimeouts,
    // one tick after another: the idle tunnel's timer, armed before the first, fires before the 11th.
    let lastTick = 0;
    for (let k = 0; k < 15; k++) {
      lastTick = performance.now();
      busy.send('tick');
      await sleep(100);
    }
    expect(idleClosedAt).toBeGreaterThan(0); // closed while the busy one was still ticking
    expect((await idleDone).closed).toBe(true);
    expect(idleClosedAt - idleStart).toBeGreaterThanOrEqual(idleTimeoutMs - TIMER_SLACK_MS);
    await waitFor(() => closed.size === 1);
    expect(busy.socket.destroyed || busy.socket.readableEnded).toBe(false);
    const busyDone = await busy.closed(5_000);
    expect(busyDone.closed).toBe(true);
    expect(performance.now() - lastTick).toBeGreaterThanOrEqual(idleTimeoutMs - TIMER_SLACK_MS);
    await waitFor(() => closed.size === 2);
  });

  // Regression for notes/bugs.md #3 (fixed in 0bfd189).
  it('does not apply idleTimeout to a client waiting for a slow origin (a request in flight is not idle)', async () => {
    const h = await startHarness((c) => (c.limits.idleTimeoutMs = 300));
    const origin = await startRawOrigin((s) => {
      s.once('data', () => setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 700));
    });
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/long-poll HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.responses(1, { timeoutMs: 3_000 });
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('slow');
  });

  it('does not apply idleTimeout to a slowly trickling upload that keeps making progress', async () => {
    const h = await startHarness((c) => (c.limits.idleTimeoutMs = 600));
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    // A byte every 100 ms (0.5 s to spare) for longer than two idleTimeouts.
    client.send(`POST http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n`);
    for (let k = 0; k < 14; k++) {
      await sleep(100);
      client.send('u');
    }
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(200);
  });

  it('answers 504 connection_timeout when the origin never accepts within connectTimeout', async () => {
    const unanswered = await startUnansweredServer('127.0.0.1');
    onTestFinished(() => unanswered.close());
    const h = await startHarness((c) => (c.limits.connectTimeoutMs = 300));
    const start = performance.now(); // before the request that starts the connect
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${unanswered.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(performance.now() - start).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
    // The details name the limit that ran out: connectTimeout (300 ms), not another one.
    const details = `details="127.0.0.1:${unanswered.port} after 300 ms"`;
    expect(res.responses[0]?.status).toBe(504);
    expect(header(res.responses[0], 'proxy-status')).toBe(`dfp; error=connection_timeout; ${details}`);
    const tunnel = await rawRequest(h.port, `CONNECT 127.0.0.1:${unanswered.port} HTTP/1.1\r\n\r\n`);
    expect(tunnel.responses[0]?.status).toBe(504);
    expect(header(tunnel.responses[0], 'proxy-status')).toBe(`dfp; error=connection_timeout; ${details}`);
    await waitFor(() => h.log.records.length === 2);
    expect(h.log.records).toMatchObject([
      { mode: 'forward', status: 504, error: 'CONNECT_TIMEOUT' },
      { mode: 'connect', status: 504, error: 'CONNECT_TIMEOUT' },
    ]);
  });
});

describe('maxConnections', () => {
  it('refuses connections beyond maxConnections and accepts again once one closes', async () => {
    const h = await startHarness((c) => (c.limits.maxConnections = 2));
    const origin = await startRecordingOrigin();
    const req = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`;
    const a = await connectRaw(h.port);
    const b = await connectRaw(h.port);
    await waitFor(() => h.proxy.context.connections.size === 2);
    const c = await connectRaw(h.port);
    c.send(req);
    const refused = await c.closed(3_000);
    // A 503 with its reason, then the close (not a bare reset).
    expect(refused.responses.map((r) => r.status)).toEqual([503]);
    expect(header(refused.responses[0], 'proxy-status')).toMatch(/^dfp; error=connection_limit_reached(;|$)/);
    expect(refused.closed).toBe(true);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records).toMatchObject([{ status: 503, error: 'CONNECTION_LIMIT' }]);
    // The two admitted connections still work.
    a.send(req);
    b.send(req);
    expect((await a.responses(1)).responses[0]?.status).toBe(200);
    expect((await b.responses(1)).responses[0]?.status).toBe(200);
    a.close();
    await waitFor(() => h.proxy.context.connections.size === 1);
    const d = await connectRaw(h.port);
    d.send(req);
    expect((await d.responses(1)).responses[0]?.status).toBe(200);
    expect(origin.allRequests().length).toBe(3);
  });
});

describe('graceful shutdown', () => {
  it('gives an open tunnel until drainTimeout, then closes it and resolves', async () => {
    const h = await startHarness((c) => (c.limits.drainTimeoutMs = 300));
    const origin = await startRawOrigin((s) => s.on('data', (c: Buffer) => s.write(c)));
    const client = await connectRaw(h.port);
    client.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    await waitFor(() => client.received().length > 0);
    const start = await timerStart();
    const closing = h.proxy.close();
    // Ends at drainTimeout (300 ms), well before the harness's 2 s default: a bound five times the limit.
    const endsInTime = settlesBefore(closing, 1_500);
    client.send('still-working');
    await waitFor(() => client.received().toString().includes('still-working'));
    const done = await client.closed(3_000);
    expect(done.closed).toBe(true);
    expect(await endsInTime).toBe(true);
    await closing;
    expect(performance.now() - start).toBeGreaterThanOrEqual(300 - TIMER_SLACK_MS);
  });

  it('closes idle keep-alive connections, lets the in-flight request finish, refuses new connections', async () => {
    const h = await startHarness((c) => (c.limits.drainTimeoutMs = 5_000));
    // The slow request is answered when the test says so, after the checks made while it is in flight.
    let slowArrived = false;
    let answerSlow!: () => void;
    const slowAnswered = new Promise<void>((resolve) => (answerSlow = resolve));
    const origin = await startRawOrigin((s) => {
      s.on('data', (c: Buffer) => {
        if (!c.toString('latin1').includes('/slow')) {
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast');
          return;
        }
        slowArrived = true;
        void slowAnswered.then(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'));
      });
    });
    const t = `http://127.0.0.1:${origin.port}`;
    const idle = await connectRaw(h.port);
    idle.send(`GET ${t}/fast HTTP/1.1\r\nHost: x\r\n\r\n`);
    await idle.responses(1);
    const busy = await connectRaw(h.port);
    busy.send(`GET ${t}/slow HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => h.log.records.length === 1 && h.proxy.context.connections.size === 2 && slowArrived);
    let closeResolved = false;
    const closing = h.proxy.close().then(() => (closeResolved = true));
    const idleDone = await idle.closed(3_000);
    expect(idleDone.closed).toBe(true);
    expect(idleDone.responses.length).toBe(1);
    idle.close();
    await expect(connectRaw(h.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(closeResolved).toBe(false);
    answerSlow();
    const busyDone = await busy.closed(3_000);
    expect(busyDone.responses[0]?.status).toBe(200);
    expect(busyDone.responses[0]?.body.toString()).toBe('slow');
    expect(header(busyDone.responses[0], 'connection')?.toLowerCase()).toBe('close');
    busy.close(); // our side of the close; the proxy would otherwise linger for our FIN
    await closing;
    expect(closeResolved).toBe(true);
  });
});

describe('over maxConnections: a 503 reply, not a reset', () => {
  /** A harness-like proxy whose metric hooks the test can read (denied reasons). */
  async function startCountedProxy(maxConnections: number) {
    const { defaultConfig } = await import('../../src/config/defaults.js');
    const { MemoryAccessLog } = await import('../../src/observability/access-log.js');
    const { startProxy } = await import('../../src/proxy/server.js');
    const { NO_METRICS } = await import('../../src/proxy/metrics-hooks.js');
    const { startDnsServer } = await import('../helpers/dns-server.js');
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    const config = defaultConfig();
    config.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }];
    config.admin = null;
    config.dns.servers = [dns.address];
    config.access.allowPrivateDestinations = true;
    config.limits.maxConnections = maxConnections;
    const denied: string[] = [];
    const log = new MemoryAccessLog();
    const proxy = await startProxy(config, { accessLog: log, metrics: { ...NO_METRICS, denied: (reason: string) => void denied.push(reason) } });
    onTestFinished(() => proxy.close());
    return { proxy, port: proxy.addresses[0]!.port, log, denied };
  }

  function expect503(msg: import('../../src/http/index.js').ParsedMessage | undefined, proxyStatus: string): void {
    expect(msg?.status).toBe(503);
    expect(header(msg, 'proxy-status')).toMatch(new RegExp(`^dfp; error=${proxyStatus}(;|$)`));
    expect(header(msg, 'connection')).toBe('close');
    const body = msg!.body.toString('latin1');
    expect(body.length).toBeGreaterThan(0);
    expect(body.replace(/\n$/, '')).not.toMatch(/[\r\n]/);
  }

  it('answers a connection over the limit with 503 connection_limit_reached, logs and counts it, then closes; the admitted one still works', async () => {
    const p = await startCountedProxy(1);
    const origin = await startRecordingOrigin();
    const req = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`;
    const a = await connectRaw(p.port);
    await waitFor(() => p.proxy.context.connections.size === 1);
    const c = await connectRaw(p.port);
    c.send(req);
    const refused = await c.closed(5_000);
    expect503(refused.responses[0], 'connection_limit_reached');
    expect(refused.responses.length).toBe(1);
    expect(refused.closed).toBe(true);
    expect(p.log.records).toMatchObject([{ status: 503, error: 'CONNECTION_LIMIT' }]);
    expect(p.denied).toEqual(['connection_limit']);
    a.send(req);
    expect((await a.responses(1)).responses[0]?.status).toBe(200);
    expect(origin.allRequests().length).toBe(1);
    expect(p.proxy.context.connections.size).toBe(1);
  });

  it('delivers the 503 to a client that sent a large request body first (unread bytes do not turn it into a reset)', async () => {
    const p = await startCountedProxy(1);
    await connectRaw(p.port);
    await waitFor(() => p.proxy.context.connections.size === 1);
    const c = await connectRaw(p.port);
    const body = Buffer.alloc(1 << 20, 0x61);
    c.send(Buffer.concat([Buffer.from(`POST http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    const refused = await c.closed(5_000);
    expect503(refused.responses[0], 'connection_limit_reached');
    expect(p.log.records).toMatchObject([{ status: 503, error: 'CONNECTION_LIMIT' }]);
  });

  it('closes every connection of a flood over the limit on its own, each with a 503, even clients that keep sending and never close', async () => {
    const p = await startCountedProxy(1);
    await connectRaw(p.port);
    await waitFor(() => p.proxy.context.connections.size === 1);
    const flood = await Promise.all(Array.from({ length: 40 }, () => connectRaw(p.port)));
    const trickle = setInterval(() => {
      for (const c of flood) if (!c.socket.destroyed) c.send('x');
    }, 50);
    onTestFinished(() => clearInterval(trickle));
    // The proxy ends each one; none of the clients ends or closes its side.
    const results = await Promise.all(flood.map((c) => new Promise<void>((resolve) => c.socket.once('close', () => resolve())).then(() => c.closed())));
    clearInterval(trickle);
    for (const r of results) expect503(r.responses[0], 'connection_limit_reached');
    expect(p.denied.length).toBe(40);
    expect(p.log.records.length).toBe(40);
    expect(p.log.records.every((r) => r.status === 503 && r.error === 'CONNECTION_LIMIT')).toBe(true);
    expect(p.proxy.context.connections.size).toBe(1);
  });

  it('answers 503 proxy_internal_error to a connection accepted while draining', async () => {
    const p = await startCountedProxy(10);
    p.proxy.context.draining = true;
    const c = await connectRaw(p.port);
    const refused = await c.closed(5_000);
    expect503(refused.responses[0], 'proxy_internal_error');
    expect(p.log.records).toMatchObject([{ status: 503, error: 'SERVICE_UNAVAILABLE' }]);
    expect(p.denied).toEqual([]);
  });
});

describe('maxConnectionsPerClient', () => {
  it('refuses a client address over its limit with 503 connection_limit_reached; other addresses and later connections are served', async () => {
    const h = await startHarness((c) => (c.limits.maxConnectionsPerClient = 2));
    const origin = await startRecordingOrigin();
    const req = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`;
    const a = await connectRaw(h.port);
    const b = await connectRaw(h.port);
    await waitFor(() => h.proxy.context.connections.size === 2);
    const c = await connectRaw(h.port);
    c.send(req);
    const refused = await c.closed(3_000);
    expect(refused.responses.map((r) => r.status)).toEqual([503]);
    expect(header(refused.responses[0], 'proxy-status')).toBe('dfp; error=connection_limit_reached');
    // Another client address (127.0.0.2 is loopback too) is not held to 127.0.0.1's count.
    const other = net.connect({ port: h.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    other.on('error', () => {});
    let otherGot = '';
    other.on('data', (d: Buffer) => (otherGot += d.toString('latin1')));
    other.write(req);
    await waitFor(() => otherGot.startsWith('HTTP/1.1 200'));
    other.destroy();
    a.close();
    await waitFor(() => h.proxy.context.perClient.get('127.0.0.1') === 1);
    const d = await connectRaw(h.port);
    d.send(req);
    expect((await d.responses(1)).responses[0]?.status).toBe(200);
    b.close();
    d.close();
    await waitFor(() => h.proxy.context.perClient.size === 0);
  });
});
