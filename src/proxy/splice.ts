/**
 * Splice two sockets both ways: Buffers are moved untouched, a full writer
 * pauses the other side's reads until it drains, a FIN is passed on as a FIN
 * (half-close), a reset or error on one side destroys the other.
 * Handlers are module-level; state lives on the Splice object.
 */
import type { Conn, ReadInto } from '../io/conn.js';
import { chooseNextBuffer, piece, readBufferFor, type ReadingSocket } from './read-buffer.js';

/** A tunnel's socket: its dfpSplice slot holds the splice; dfpEarly the bytes read before it existed (sent first). */
export interface SpliceSocket extends ReadingSocket {
  dfpSplice: Splice | null;
}

/** onread callback of an upstream socket once it is spliced (CONNECT, or after a 101). */
export function onTunnelRead(this: SpliceSocket, n: number, buf: Buffer): void {
  const splice = this.dfpSplice;
  if (splice === null) {
    // Kept until the splice sends them: like a queued write, they hold the buffer if it is the socket's own.
    const early = (this.dfpEarly ??= []);
    early.push(piece(buf, 0, n));
    chooseNextBuffer(this, n, buf, true);
    // Bounded: past MAX_EARLY_CHUNKS reads (at most a read buffer each) the rest waits in the kernel; the
    // splice resumes the socket when it takes these.
    if (early.length >= MAX_EARLY_CHUNKS) this.pause();
    return;
  }
  splice.idleTimer?.refresh();
  const isClient = this === splice.client;
  if (isClient) splice.bytesUp += n;
  else splice.bytesDown += n;
  const peer = isClient ? splice.upstream : splice.client;
  if (!peer.write(piece(buf, 0, n))) this.pause();
  chooseNextBuffer(this, n, buf, peer.writableLength > 0);
}

/** Reads kept for a splice that does not exist yet, at most. */
const MAX_EARLY_CHUNKS = 16;

/** `onread` options for the upstream socket of a CONNECT tunnel. */
export const TUNNEL_ONREAD: ReadInto = { buffer: readBufferFor, callback: onTunnelRead as ReadInto['callback'] };

export type SpliceDone = (splice: Splice) => void;

export class Splice {
  readonly client: Conn;
  readonly upstream: Conn;
  /** Bytes client → upstream. */
  bytesUp = 0;
  /** Bytes upstream → client. */
  bytesDown = 0;
  private closed = 0;
  private readonly onDone: SpliceDone | null;
  /** One idle timer for both directions (not one per socket), refreshed by traffic either way. */
  readonly idleTimer: NodeJS.Timeout | null;

  constructor(client: Conn, upstream: Conn, idleTimeoutMs: number, onDone: SpliceDone | null) {
    this.client = client;
    this.upstream = upstream;
    this.onDone = onDone;
    this.idleTimer = idleTimeoutMs > 0 ? setTimeout(onSpliceIdle, idleTimeoutMs, this).unref() : null;
    attach(client, this);
    attach(upstream, this);
    const early = upstream.dfpEarly;
    if (early !== null) {
      upstream.dfpEarly = null;
      for (const chunk of early) this.writeEarly(false, chunk);
    }
  }

  /** Forward bytes that arrived before the splice started (e.g. after a CONNECT head). */
  writeEarly(toUpstream: boolean, chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (toUpstream) {
      this.bytesUp += chunk.length;
      if (!this.upstream.write(chunk)) this.client.pause();
    } else {
      this.bytesDown += chunk.length;
      if (!this.client.write(chunk)) this.upstream.pause();
    }
  }

  peerOf(socket: Conn): Conn {
    return socket === this.client ? this.upstream : this.client;
  }

  /** Destroy both sides (shutdown, idle timeout). */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  socketClosed(): void {
    if (++this.closed < 2) return;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.onDone !== null) this.onDone(this);
  }
}

function attach(socket: Conn, splice: Splice): void {
  const s = socket as SpliceSocket;
  s.dfpSplice = splice;
  s.on('data', onSpliceData);
  s.on('drain', onSpliceDrain);
  s.on('end', onSpliceEnd);
  s.on('error', onSpliceError);
  s.on('close', onSpliceClose);
  if (s.isPaused()) s.resume();
}

function onSpliceData(this: SpliceSocket, chunk: Buffer): void {
  const splice = this.dfpSplice!;
  splice.idleTimer?.refresh();
  const isClient = this === splice.client;
  if (isClient) splice.bytesUp += chunk.length;
  else splice.bytesDown += chunk.length;
  const peer = isClient ? splice.upstream : splice.client;
  if (!peer.write(chunk)) this.pause();
}

function onSpliceDrain(this: SpliceSocket): void {
  const splice = this.dfpSplice!;
  const peer = splice.peerOf(this);
  if (!peer.destroyed && !peer.readableEnded) peer.resume();
}

function onSpliceEnd(this: SpliceSocket): void {
  const peer = this.dfpSplice!.peerOf(this);
  if (!peer.destroyed) peer.end();
}

function onSpliceError(this: SpliceSocket, err: NodeJS.ErrnoException): void {
  const peer = this.dfpSplice!.peerOf(this);
  if (peer.destroyed) return;
  // Pass a reset on as a reset, so the other end does not mistake it for a clean close.
  if (err.code === 'ECONNRESET' && typeof peer.resetAndDestroy === 'function') peer.resetAndDestroy();
  else peer.destroy();
}

function onSpliceClose(this: SpliceSocket): void {
  const splice = this.dfpSplice!;
  const peer = splice.peerOf(this);
  // A clean close means this side's FIN was already passed on and the peer finishes
  // flushing on its own; an abrupt one (no FIN seen) takes the peer down too.
  if (!peer.destroyed && !this.readableEnded) peer.destroy();
  splice.socketClosed();
}

function onSpliceIdle(splice: Splice): void {
  splice.destroy();
}
