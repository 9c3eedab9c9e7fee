/**
 * Read buffers of upstream sockets (RawConn's ReadInto, or net.connect's
 * `onread` on the net.Socket fallback; same contract): reads of up to
 * 256 KiB instead of 64 KiB, no fresh Buffer per read, and no buffer held by
 * an idle socket.
 *
 * libuv reads into whatever buffer a socket was last given, without asking
 * again. So a buffer that several sockets point at must never be referred to
 * once a read callback returns: a queued write from it would be overwritten
 * by the next read of any of them. (An earlier version handed the shared
 * buffer to such a write and gave out a new one; sockets that had not read
 * since kept the old pointer and corrupted the queued bytes. The tests
 * "several tunnels with slow readers" and "several large responses at once"
 * cover it.)
 *
 * The rule, from the write's side: a write may keep a view without a copy only of a socket's own read buffer
 * (below), never of anything else. Every other buffer the data path reads from is reused while a write may
 * still be queued: the shared read buffer by the next read of any socket, a head parser's buffer by the next
 * head that spans reads. (An interim response head that arrived in pieces was once written from the parser's
 * buffer: with the client reading slowly, the next interim head overwrote it in the queue, and the client got
 * heads the origin never sent. Test: "interim heads stay intact when the client reads slowly".)
 *
 * Hence two kinds of read buffer:
 * - the shared one, which every socket starts with and returns to after a
 *   short read (one that did not fill its buffer: the socket is likely to go
 *   quiet), unless the caller knows more is coming (an HTTP response not done).
 *   Bytes read into it leave only as copies (`piece`), or through the HTTP
 *   scanner and HeadBuilder, which copy.
 * - a socket's own buffer, which it gets after a read that filled its buffer
 *   (a body or a bulk tunnel streams). Bytes read into it are written without
 *   a copy. If such a write is still queued when the callback ends, the buffer
 *   now belongs to that write and the socket's next read gets another; no other
 *   socket ever points at it. A socket going quiet hands its own buffer, if no
 *   write holds it, to a short list of spares taken before allocating.
 *
 * The `onread.buffer` generator gets no arguments, so the read callback leaves
 * its choice in `nextBuffer` as the very last thing it does (nothing can run
 * between the callback and the generator: both are called one after the
 * other, by RawConn.onRead or Node's onStreamRead). A socket being set up takes the shared
 * buffer (the generator's default).
 */
import type { Conn } from '../io/conn.js';

const READ_BUFFER_BYTES = 256 * 1024;
const shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

/** A socket read into buffers chosen here: its dfpOwnBuffer slot (io/conn.ts ConnSlots) holds its own buffer while it streams. */
export type ReadingSocket = Conn;

let nextBuffer: Buffer = shared;

/** `onread.buffer`: the choice the read callback just made, or the shared buffer for a new socket. */
export function readBufferFor(): Buffer {
  const b = nextBuffer;
  nextBuffer = shared;
  return b;
}

/** The memory of every own read buffer ever handed out (they are allocated here, and only here). */
const ownMemory = new WeakSet<ArrayBufferLike>();

/** Whether `buf` is (a view of) the shared read buffer. */
export function isShared(buf: Buffer): boolean {
  return buf.buffer === shared.buffer;
}

/** buf[start..end) as a Buffer a queued write may keep: a view of an own read buffer, else a copy. */
export function piece(buf: Buffer, start: number, end: number): Buffer {
  if (ownMemory.has(buf.buffer)) return start === 0 && end === buf.length ? buf : buf.subarray(start, end);
  const out = Buffer.allocUnsafe(end - start);
  buf.copy(out, 0, start, end);
  return out;
}

function allocateOwn(): Buffer {
  const b = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  ownMemory.add(b.buffer);
  return b;
}

/** Own buffers no socket points at and no write holds: taken before allocating a new one. */
const spare: Buffer[] = [];
const MAX_SPARE = 16;

/**
 * Last call of a read callback: picks the buffer of `socket`'s next read.
 * `buf` is the buffer this read went into (n bytes); `writerPending` is true
 * when the socket its bytes were written to still has bytes queued;
 * `streaming` is true when the caller knows more is coming (an HTTP response
 * not complete yet): a socket keeps its own buffer then even after a short
 * read, instead of going back to the shared one and copying the next full read.
 */
export function chooseNextBuffer(socket: ReadingSocket, n: number, buf: Buffer, writerPending: boolean, streaming = false): void {
  let own = socket.dfpOwnBuffer;
  if (own !== null && writerPending && buf === own) own = socket.dfpOwnBuffer = null; // now the queued write's
  if (n < buf.length && !streaming) {
    if (own !== null) {
      socket.dfpOwnBuffer = null;
      if (spare.length < MAX_SPARE) spare.push(own);
    }
    nextBuffer = shared;
    return;
  }
  nextBuffer = socket.dfpOwnBuffer = own ?? spare.pop() ?? allocateOwn();
}
