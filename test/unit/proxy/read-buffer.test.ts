/**
 * The read-buffer rules (src/proxy/read-buffer.ts): which buffer a socket's
 * next read goes into. A socket here is any object (the rules only keep their
 * state on it); `readBufferFor()` is what Node or RawConn asks right after the
 * read callback.
 */
import { describe, expect, it } from 'vitest';
import { chooseNextBuffer, isShared, piece, readBufferFor, type ReadingSocket } from '../../../src/proxy/read-buffer.js';
import { onTunnelRead, type SpliceSocket } from '../../../src/proxy/splice.js';

const FULL = 256 * 1024;
const sock = () => ({ dfpOwner: null, dfpSplice: null, dfpOwnBuffer: null, dfpEarly: null }) as unknown as ReadingSocket;

/** One read of n bytes into buf, then the choice, as a read callback ends. */
function read(socket: ReadingSocket, buf: Buffer, n: number, writerPending = false, streaming = false): Buffer {
  chooseNextBuffer(socket, n, buf, writerPending, streaming);
  return readBufferFor();
}

describe('read buffers', () => {
  it('a new socket reads into the shared buffer, and copies leave it', () => {
    const first = readBufferFor();
    expect(isShared(first)).toBe(true);
    expect(first.length).toBe(FULL);
    first.write('abcdef', 0, 'latin1');
    const copy = piece(first, 1, 4);
    first.write('XXXXXX', 0, 'latin1');
    expect(copy.toString('latin1')).toBe('bcd');
    expect(isShared(copy)).toBe(false);
  });

  it('bytes of any buffer but an own read buffer are copied for a write (a head parser reuses its buffer too)', () => {
    // A parser's buffer for heads that span reads: allocated elsewhere, reused by the next such head.
    const parserBuffer = Buffer.allocUnsafeSlow(FULL);
    const interim = 'HTTP/1.1 103 Early Hints\r\n\r\n';
    parserBuffer.write(interim, 0, 'latin1');
    const queued = piece(parserBuffer, 0, interim.length);
    expect(queued.buffer === parserBuffer.buffer).toBe(false);
    parserBuffer.write('HTTP/1.1 200 OK, injected!\r\n\r\n', 0, 'latin1');
    expect(queued.toString('latin1')).toBe(interim);
    const small = Buffer.from('pooled memory');
    const kept = piece(small, 0, 6);
    small.write('XXXXXX', 0, 'latin1');
    expect(kept.toString('latin1')).toBe('pooled');
  });

  it('a read that fills the buffer moves the socket to a buffer of its own, written without a copy', () => {
    const s = sock();
    const own = read(s, readBufferFor(), FULL);
    expect(isShared(own)).toBe(false);
    expect(piece(own, 10, 20).buffer).toBe(own.buffer); // a view, no copy
    expect(read(s, own, FULL) === own).toBe(true); // still streaming: same buffer
  });

  it('a buffer a queued write still points into is never read into again', () => {
    const s = sock();
    const own = read(s, readBufferFor(), FULL);
    const next = read(s, own, FULL, true);
    expect(next === own).toBe(false);
    expect(isShared(next)).toBe(false);
    // Nor does it go to the spares when the socket goes quiet.
    const other = sock();
    const quiet = read(s, next, 10);
    expect(isShared(quiet)).toBe(true);
    const otherOwn = read(other, readBufferFor(), FULL);
    expect(otherOwn === own).toBe(false);
  });

  it('a short read sends the socket back to the shared buffer and its own buffer to the spares', () => {
    const a = sock();
    const b = sock();
    const ownA = read(a, readBufferFor(), FULL);
    expect(isShared(read(a, ownA, 100))).toBe(true);
    expect(a.dfpOwnBuffer).toBeNull();
    expect(read(b, readBufferFor(), FULL) === ownA).toBe(true); // reused, not allocated
  });

  it('while the caller says more is coming, a short read keeps the socket on its own buffer', () => {
    const s = sock();
    const own = read(s, readBufferFor(), FULL);
    expect(read(s, own, 100, false, true) === own).toBe(true);
    // ...unless a write still holds it.
    expect(read(s, own, 100, true, true) === own).toBe(false);
  });

  it('bytes a tunnel socket reads before its splice is attached stay intact until they are sent', () => {
    const s = sock() as SpliceSocket;
    const first = readBufferFor();
    first.fill(0x41);
    onTunnelRead.call(s, FULL, first); // a full read: the socket moves to a buffer of its own
    const own = readBufferFor();
    own.fill(0x42);
    onTunnelRead.call(s, FULL, own); // kept in dfpEarly, not sent yet
    const next = readBufferFor();
    next.fill(0x43); // the next read, wherever it goes
    onTunnelRead.call(s, 10, next);
    readBufferFor();
    for (let i = 0; i < 10; i++) read(sock(), readBufferFor(), FULL); // other sockets taking spares
    const early = s.dfpEarly!;
    expect(early.map((b) => [b.length, b[0], b[b.length - 1], b.every((x) => x === b[0])])).toEqual([
      [FULL, 0x41, 0x41, true],
      [FULL, 0x42, 0x42, true],
      [10, 0x43, 0x43, true],
    ]);
  });
});
