/**
 * One connection to an origin, reused across exchanges through the pool. Its
 * socket handlers are installed once and forward to the client connection that
 * currently owns it (null while idle in the pool).
 */
import type { Conn, ReadInto } from '../io/conn.js';
import { BodyParser, HeadParser } from '../http/index.js';
import type { ResolvedAddress } from '../dns/cache.js';
import type { Poolable, UpstreamPool } from '../upstream/pool.js';
import { chooseNextBuffer, readBufferFor, type ReadingSocket } from './read-buffer.js';
import { onTunnelRead, type SpliceSocket } from './splice.js';

/** What an owning client connection implements. */
export interface UpstreamOwner {
  /** The client socket the response goes to (bytes still queued on it may point into the read buffer). */
  readonly socket: Conn;
  onUpstreamData(chunk: Buffer): void;
  /** An exception escaped onUpstreamData: drop the exchange, keep the process. */
  crashed(err: unknown): void;
  onUpstreamEnd(): void;
  onUpstreamClose(): void;
  onUpstreamDrain(): void;
}

interface UpstreamSocket extends ReadingSocket {
  dfpOwner: UpstreamConn;
}

export class UpstreamConn implements Poolable {
  readonly socket: Conn;
  readonly address: ResolvedAddress;
  readonly port: number;
  /** '' : plain TCP; for TLS, what the connection was verified as (see UpstreamPool). */
  readonly tlsIdentity: string;
  readonly parser: HeadParser;
  readonly body: BodyParser;
  owner: UpstreamOwner | null = null;
  /** The pool it idles in; it reports its own death while idle (see the handlers below). */
  pool: UpstreamPool<UpstreamConn> | null = null;
  /** Exchanges completed on this connection. */
  exchanges = 0;
  /** Last socket error, for the reply when it dies mid-exchange. */
  lastError: NodeJS.ErrnoException | null = null;

  constructor(socket: Conn, address: ResolvedAddress, port: number, maxHeadBytes: number, pool: UpstreamPool<UpstreamConn>, tlsIdentity: string) {
    this.socket = socket;
    this.tlsIdentity = tlsIdentity;
    this.pool = pool;
    this.address = address;
    this.port = port;
    this.parser = new HeadParser('response', { maxHeadBytes });
    this.body = new BodyParser();
    const s = socket as UpstreamSocket;
    s.dfpOwner = this;
    s.on('end', onUpstreamEnd);
    s.on('close', onUpstreamClose);
    s.on('drain', onUpstreamDrain);
    s.on('error', onUpstreamError);
    // A TLS socket is read through 'data' events; plain ones through UPSTREAM_ONREAD.
    if (tlsIdentity !== '') s.on('data', onUpstreamDataEvent);
  }

  destroy(): void {
    this.owner = null;
    this.socket.destroy();
  }
}

/**
 * onread callback of an HTTP upstream socket (see read-buffer.ts); these sockets are
 * always made with UPSTREAM_ONREAD, so they never emit 'data'. After a 101
 * the same socket is spliced and its reads go the tunnel's way.
 */
function onUpstreamRead(this: UpstreamSocket, n: number, buf: Buffer): void {
  if ((this as unknown as SpliceSocket).dfpSplice !== null) {
    onTunnelRead.call(this as unknown as SpliceSocket, n, buf);
    return;
  }
  const owner = this.dfpOwner.owner;
  if (owner === null) {
    this.dfpOwner.pool?.evict(this.dfpOwner); // unsolicited bytes while idle: never reuse
    chooseNextBuffer(this, n, buf, false);
    return;
  }
  try {
    owner.onUpstreamData(buf.subarray(0, n));
  } catch (err) {
    owner.crashed(err);
  }
  // Still owned after the data: the response goes on, so this socket keeps its own buffer.
  chooseNextBuffer(this, n, buf, owner.socket.writableLength > 0, this.dfpOwner.owner === owner);
}

/** 'data' handler of a TLS upstream socket (its chunks are fresh Buffers: no read-buffer choice to make). */
function onUpstreamDataEvent(this: UpstreamSocket, chunk: Buffer): void {
  const up = this.dfpOwner;
  const owner = up.owner;
  if (owner === null) {
    up.pool?.evict(up); // unsolicited bytes while idle: never reuse
    return;
  }
  try {
    owner.onUpstreamData(chunk);
  } catch (err) {
    owner.crashed(err);
  }
}

/** `onread` options for HTTP upstream sockets. */
export const UPSTREAM_ONREAD: ReadInto = { buffer: readBufferFor, callback: onUpstreamRead as ReadInto['callback'] };

function onUpstreamEnd(this: UpstreamSocket): void {
  const up = this.dfpOwner;
  if (up.owner !== null) up.owner.onUpstreamEnd();
  else up.pool?.evict(up);
  // Upstream sockets are half-open capable (tunnels need it); for HTTP an origin's FIN
  // ends the connection: close our side too, which reports 'close' to the owner.
  if (!this.destroyed) this.destroy();
}

function onUpstreamClose(this: UpstreamSocket): void {
  const up = this.dfpOwner;
  if (up.owner !== null) up.owner.onUpstreamClose();
  else up.pool?.evict(up);
}

function onUpstreamDrain(this: UpstreamSocket): void {
  const owner = this.dfpOwner.owner;
  if (owner !== null) owner.onUpstreamDrain();
}

function onUpstreamError(this: UpstreamSocket, err: NodeJS.ErrnoException): void {
  this.dfpOwner.lastError = err;
}
