/**
 * RawConn (src/io/conn.ts) against real loopback sockets: the semantics the
 * proxy relies on, checked with a plain net.Socket on the other end.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { acceptRaw, adoptNetSocket, openConn, RawConn, usingRawConns, type Conn } from '../../../src/io/conn.js';
import { freePort, startRawOrigin } from '../../helpers/origin.js';
import { waitFor } from '../../helpers/wait.js';

/** A RawConn connected to a fresh peer server. */
async function connected(onPeer: (s: net.Socket) => void = () => {}): Promise<{ conn: Conn; peer: Promise<net.Socket>; events: string[] }> {
  let gotPeer!: (s: net.Socket) => void;
  const peer = new Promise<net.Socket>((r) => (gotPeer = r));
  const { port } = await startRawOrigin((s) => {
    onPeer(s);
    gotPeer(s);
  });
  const conn = openConn('127.0.0.1', 4, port, null);
  const events: string[] = [];
  conn.on('error', (e: NodeJS.ErrnoException) => events.push(`error:${e.code}`));
  conn.on('end', () => events.push('end'));
  conn.on('close', () => events.push('close'));
  onTestFinished(() => conn.destroy());
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  return { conn, peer, events };
}

it('uses RawConns on the Node versions dfp supports (unless DFP_IO=net)', () => {
  expect(usingRawConns()).toBe(process.env.DFP_IO !== 'net');
});

describe.runIf(usingRawConns())('RawConn', () => {
  it('is what openConn makes here, and carries bytes both ways', async () => {
    const { conn, peer } = await connected((s) => s.on('data', (c: Buffer) => s.write(Buffer.from(c.toString().toUpperCase()))));
    expect(conn).toBeInstanceOf(RawConn);
    let got = '';
    conn.on('data', (c: Buffer) => (got += c.toString()));
    conn.write(Buffer.from('hello'));
    await waitFor(() => got === 'HELLO');
    expect(conn.remoteAddress).toBe('127.0.0.1');
    await peer;
  });

  it('says stop past 16 KiB queued, drains once the peer reads, and delivers every byte in order', async () => {
    const data = randomBytes(8 << 20);
    const { conn, peer } = await connected();
    const s = await peer;
    s.pause();
    let offset = 0;
    let stopped = false;
    while (offset < data.length) {
      const ok = conn.write(data.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
      if (!ok) {
        stopped = true;
        break;
      }
    }
    expect(stopped).toBe(true);
    expect(conn.writableNeedDrain).toBe(true);
    expect(conn.writableLength).toBeGreaterThan(16 * 1024);
    const parts: Buffer[] = [];
    let received = 0;
    s.on('data', (c: Buffer) => {
      parts.push(c);
      received += c.length;
    });
    s.resume();
    // Write the rest, waiting for 'drain' each time write() says stop.
    while (offset < data.length) {
      if (conn.writableNeedDrain) await new Promise<void>((r) => conn.once('drain', r));
      conn.write(data.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    }
    await waitFor(() => received === data.length, 10_000);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    await waitFor(() => conn.writableLength === 0);
  });

  it('end() sends the FIN after queued bytes, keeps reading, and closes by itself after the peer’s FIN', async () => {
    const big = randomBytes(4 << 20);
    const { conn, peer, events } = await connected();
    const s = await peer;
    let toPeer = 0;
    let peerEnded = false;
    s.on('data', (c: Buffer) => (toPeer += c.length));
    s.on('end', () => {
      peerEnded = true;
      s.end('reply-after-your-fin');
    });
    let got = '';
    conn.on('data', (c: Buffer) => (got += c.toString()));
    conn.write(big);
    conn.end();
    expect(conn.writable).toBe(false);
    expect(conn.write(Buffer.from('late'))).toBe(false); // after end(): dropped
    await waitFor(() => events.includes('close'), 5_000);
    expect(toPeer).toBe(big.length);
    expect(peerEnded).toBe(true);
    expect(got).toBe('reply-after-your-fin');
    expect(events).toEqual(['end', 'close']);
    expect(conn.destroyed).toBe(true);
    expect(conn.readableEnded).toBe(true);
  });

  it('reports the peer’s FIN as end and stays writable (half-open)', async () => {
    const { conn, peer, events } = await connected((s) => s.end());
    const s = await peer;
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    await waitFor(() => events.includes('end'));
    expect(conn.destroyed).toBe(false);
    conn.write(Buffer.from('still here'));
    await waitFor(() => got === 'still here');
  });

  it('end() after the peer’s FIN delivers what was written, then a clean FIN, and closes', async () => {
    const { conn, peer, events } = await connected((s) => s.end());
    const s = await peer;
    let got = '';
    let peerError = '';
    let peerEnded = false;
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('error', (e: NodeJS.ErrnoException) => (peerError = e.code ?? ''));
    s.on('end', () => (peerEnded = true));
    await waitFor(() => events.includes('end'));
    conn.write(Buffer.from('last words'));
    conn.end();
    await waitFor(() => peerEnded && events.includes('close'));
    expect(got).toBe('last words');
    expect(peerError).toBe('');
    expect(events).toEqual(['end', 'close']);
  });

  it('resetAndDestroy() resets the connection: the peer sees ECONNRESET', async () => {
    const { conn, peer, events } = await connected();
    const s = await peer;
    let peerError = '';
    s.on('error', (e: NodeJS.ErrnoException) => (peerError = e.code ?? ''));
    conn.resetAndDestroy();
    await waitFor(() => peerError !== '' && events.includes('close'));
    expect(peerError).toBe('ECONNRESET');
    expect(events).toEqual(['close']);
  });

  it('destroy() closes at once: one close event, later writes refused', async () => {
    const { conn, peer, events } = await connected();
    const s = await peer;
    let peerEnded = false;
    s.on('end', () => (peerEnded = true));
    conn.destroy();
    conn.destroy();
    expect(conn.write(Buffer.from('x'))).toBe(false);
    await waitFor(() => peerEnded && events.includes('close'));
    expect(events).toEqual(['close']);
  });

  it('a refused connect emits an error with code ECONNREFUSED, then close', async () => {
    const conn = openConn('127.0.0.1', 4, await freePort(), null);
    const events: string[] = [];
    conn.on('error', (e: NodeJS.ErrnoException) => events.push(`error:${e.code}`));
    conn.on('close', () => events.push('close'));
    await waitFor(() => events.includes('close'));
    expect(events).toEqual(['error:ECONNREFUSED', 'close']);
  });

  it('writes queued before the connect completes go out once it does, in order', async () => {
    let got = '';
    const { port } = await startRawOrigin((s) => s.on('data', (c: Buffer) => (got += c.toString())));
    const conn = openConn('127.0.0.1', 4, port, null);
    onTestFinished(() => conn.destroy());
    conn.write(Buffer.from('one,'));
    conn.write(Buffer.from('two'));
    await waitFor(() => got === 'one,two');
  });

  it('reads from the moment it connects: what the peer sends on accept comes after connect, whole', async () => {
    const { port } = await startRawOrigin((s) => s.write('banner'));
    const conn = openConn('127.0.0.1', 4, port, null);
    onTestFinished(() => conn.destroy());
    const events: string[] = [];
    conn.on('connect', () => events.push('connect'));
    conn.on('data', (c: Buffer) => events.push(`data:${c.toString()}`));
    await waitFor(() => events.length === 2);
    expect(events).toEqual(['connect', 'data:banner']);
  });

  it('paused before its connect completes, it reads nothing until resumed', async () => {
    const { port } = await startRawOrigin((s) => s.write('banner'));
    const conn = openConn('127.0.0.1', 4, port, null);
    onTestFinished(() => conn.destroy());
    conn.pause();
    let got = '';
    let connectedAt = false;
    conn.on('connect', () => (connectedAt = true));
    conn.on('data', (c: Buffer) => (got += c.toString()));
    await waitFor(() => connectedAt);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe('');
    conn.resume();
    await waitFor(() => got === 'banner');
  });

  it('cork() holds writes until uncork(), which sends them in order', async () => {
    let got = '';
    const { conn } = await connected((s) => s.on('data', (c: Buffer) => (got += c.toString())));
    conn.cork();
    conn.write(Buffer.from('head|'));
    conn.write(Buffer.from('body|'));
    conn.write(Buffer.from('tail'));
    // Uncorked, these would be at the peer well within this time.
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe('');
    conn.uncork();
    await waitFor(() => got === 'head|body|tail');
  });

  it('pause() stops data events until resume()', async () => {
    const { conn, peer } = await connected();
    const s = await peer;
    let got = '';
    conn.on('data', (c: Buffer) => (got += c.toString()));
    conn.pause();
    expect(conn.isPaused()).toBe(true);
    s.write('while-paused');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toBe('');
    conn.resume();
    await waitFor(() => got === 'while-paused');
  });

  it('reads into caller buffers in onread mode and asks for the next one after every read', async () => {
    const buffers = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)];
    let asked = 0;
    const reads: string[] = [];
    let gotPeer!: (s: net.Socket) => void;
    const peerP = new Promise<net.Socket>((r) => (gotPeer = r));
    const { port } = await startRawOrigin(gotPeer);
    const conn = openConn('127.0.0.1', 4, port, {
      buffer: () => buffers[Math.min(asked++, buffers.length - 1)]!,
      callback(n, buf) {
        expect(buffers).toContain(buf);
        reads.push(buf.toString('latin1', 0, n));
      },
    });
    onTestFinished(() => conn.destroy());
    const s = await peerP;
    s.write('0123456789abcdef'); // 16 bytes: at least two reads into 8-byte buffers
    await waitFor(() => reads.join('') === '0123456789abcdef');
    expect(asked).toBe(reads.length + 1); // one at the start, one after each read
  });

  it('accepts through a net.Server handle (acceptRaw) and counts listeners', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const accepted: Conn[] = [];
    expect(acceptRaw(server, (c) => accepted.push(c), () => {})).toBe(true);
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    onTestFinished(() => {
      client.destroy();
    });
    await waitFor(() => accepted.length === 1);
    const conn = accepted[0]!;
    onTestFinished(() => conn.destroy());
    expect(conn).toBeInstanceOf(RawConn);
    const onData = () => {};
    conn.on('data', onData);
    conn.on('close', () => {});
    conn.on('close', () => {});
    expect(conn.listenerCount('close')).toBe(2);
    conn.removeListener('data', onData);
    expect(conn.listenerCount('data')).toBe(0);
    let got = '';
    client.on('data', (c: Buffer) => (got += c.toString()));
    conn.write(Buffer.from('served raw'));
    await waitFor(() => got === 'served raw');
  });
});

describe('the proxy slots on a socket', () => {
  it('every socket the proxy makes or adopts has its four slots from the start, empty', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const made = openConn('127.0.0.1', 4, port, null);
    made.on('error', () => {});
    onTestFinished(() => made.destroy());
    const adopted = adoptNetSocket(new net.Socket());
    for (const socket of [made, adopted]) {
      expect([socket.dfpOwner, socket.dfpSplice, socket.dfpOwnBuffer, socket.dfpEarly]).toEqual([null, null, null, null]);
    }
  });
});
