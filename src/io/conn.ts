/**
 * The TCP connections of the data path.
 *
 * `Conn` is the part of a socket the proxy uses: byte writes with a
 * backpressure signal, half-close, pause and resume, and five events. A
 * `net.Socket` has that shape, and so does `RawConn`, a thin layer over the
 * libuv TCP handle that `net.Socket` itself is built on, without the stream
 * machinery around it (no Readable/Writable state, no nextTick per write, no
 * timers, no buffered chunk list): on this machine it costs about a fifth of
 * the CPU per CONNECT setup of net.Socket (bench/README.md).
 *
 * The handle classes are Node internals (`process.binding('tcp_wrap')`,
 * unchanged in substance since Node 12), so `RawConn` is used only when they
 * are there and look as expected, and never when DFP_IO=net; otherwise every
 * connection is a plain net.Socket and the rest of dfp does not notice. TLS
 * upstreams will be TLSSockets (also a `Conn`).
 *
 * Semantics, as the proxy relies on them:
 * - Always half-open: an EOF from the peer emits 'end' and nothing else; the
 *   connection closes by itself once both our `end()` has completed and the
 *   peer's EOF was seen, or on `destroy()`.
 * - `write()` hands bytes to libuv at once (a write libuv cannot finish now
 *   stays queued there, in order); it returns false once more than
 *   HIGH_WATER bytes are queued, and 'drain' follows when the queue is empty.
 *   `writableLength` is the number of queued bytes (0 after a write the kernel
 *   took whole).
 * - Errors emit 'error' (with the errno `code`) and then destroy; 'close'
 *   follows every destroy, once, from libuv's close callback.
 */
import net from 'node:net';
import util from 'node:util';

export type ConnEvent = 'data' | 'end' | 'close' | 'drain' | 'error' | 'connect';
type Listener = (...args: any[]) => void;

/**
 * The proxy's slots on a socket, declared where every socket is made (RawConn's fields; a net.Socket gets
 * them from openConn or adoptNetSocket before anyone sees it), so that no module adds a property to a socket
 * later and each socket kind keeps one shape.
 */
export interface ConnSlots {
  /** The object whose handlers serve this socket's events (a client connection, an upstream connection). */
  dfpOwner: unknown;
  /** The splice a tunnel's socket belongs to (proxy/splice.ts). */
  dfpSplice: unknown;
  /** The socket's own read buffer while it streams (proxy/read-buffer.ts). */
  dfpOwnBuffer: Buffer | null;
  /** Bytes read before the socket's splice existed (proxy/splice.ts). */
  dfpEarly: Buffer[] | null;
}

/** Give a net.Socket the proxy's slots, as RawConn declares them. */
export function adoptNetSocket(socket: net.Socket): Conn {
  const s = socket as unknown as ConnSlots;
  s.dfpOwner = null;
  s.dfpSplice = null;
  s.dfpOwnBuffer = null;
  s.dfpEarly = null;
  return socket as unknown as Conn;
}

export interface Conn extends ConnSlots {
  write(buf: Buffer): boolean;
  cork(): void;
  uncork(): void;
  end(): void;
  destroy(): void;
  resetAndDestroy(): void;
  pause(): void;
  resume(): void;
  isPaused(): boolean;
  setNoDelay(noDelay?: boolean): void;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
  readonly writableCorked: number;
  readonly readableEnded: boolean;
  /** False once end() was called or the connection is gone. */
  readonly writable: boolean;
  readonly destroyed: boolean;
  readonly remoteAddress: string | undefined;
  on(event: ConnEvent, listener: Listener): unknown;
  once(event: ConnEvent, listener: Listener): unknown;
  off(event: ConnEvent, listener: Listener): unknown;
  removeListener(event: ConnEvent, listener: Listener): unknown;
  removeAllListeners(event: ConnEvent): unknown;
  listenerCount(event: ConnEvent): number;
}

/** Read into caller-supplied buffers (net's `onread` option, same contract). */
export interface ReadInto {
  buffer: () => Buffer;
  callback: (this: Conn, n: number, buf: Buffer) => void;
}

// ------------------------------------------------------------ the internals used

interface Internals {
  TCP: any;
  TCPConnectWrap: any;
  SOCKET: number;
  WriteWrap: any;
  ShutdownWrap: any;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

function loadInternals(): Internals | null {
  if (process.env.DFP_IO === 'net') return null;
  try {
    const binding = (process as unknown as { binding(name: string): any }).binding;
    const tcp = binding('tcp_wrap');
    const stream = binding('stream_wrap');
    const proto = tcp.TCP.prototype;
    for (const m of ['readStart', 'readStop', 'writeBuffer', 'writev', 'shutdown', 'close', 'reset', 'useUserBuffer', 'getpeername', 'setNoDelay', 'connect', 'connect6']) {
      if (typeof proto[m] !== 'function') return null;
    }
    if (typeof tcp.TCPConnectWrap !== 'function' || typeof stream.WriteWrap !== 'function' || typeof stream.ShutdownWrap !== 'function') return null;
    if (!(stream.streamBaseState instanceof Int32Array) || typeof stream.kReadBytesOrError !== 'number') return null;
    return {
      TCP: tcp.TCP,
      TCPConnectWrap: tcp.TCPConnectWrap,
      SOCKET: tcp.constants.SOCKET,
      WriteWrap: stream.WriteWrap,
      ShutdownWrap: stream.ShutdownWrap,
      state: stream.streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
      kArrayBufferOffset: stream.kArrayBufferOffset,
      kLastWriteWasAsync: stream.kLastWriteWasAsync,
    };
  } catch {
    return null;
  }
}

const I = loadInternals();
let rawEnabled = I !== null;

/** Whether new connections are RawConns (false: net.Socket). */
export function usingRawConns(): boolean {
  return rawEnabled;
}

/** Tests of the fallback: make every new connection a net.Socket. */
export function useNetSockets(): void {
  rawEnabled = false;
}

const UV_EOF = errnoOf('EOF') ?? -4095;
const UV_ENOTCONN = errnoOf('ENOTCONN') ?? -107;

function errnoOf(name: string): number | undefined {
  for (const [errno, [n]] of util.getSystemErrorMap()) if (n === name) return errno;
  return undefined;
}

function uvError(errno: number, syscall: string, detail?: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = util.getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${detail ? ' ' + detail : ''}`);
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}

// ------------------------------------------------------------ RawConn

/** Bytes queued in libuv before write() says "stop" (net.Socket's default highWaterMark). */
const HIGH_WATER = 16 * 1024;

const F_CONNECTING = 1;
const F_PAUSED = 2;
const F_EOF = 4; // peer's FIN seen
const F_ENDING = 8; // our end() called
const F_FINISHED = 16; // our shutdown completed
const F_CLOSED = 32; // destroy() called
const F_NEED_DRAIN = 64;
const F_READING = 128; // readStart in effect

interface RawHandle {
  dfpConn: RawConn | null;
  onread: (arrayBuffer: ArrayBuffer | undefined) => Buffer | undefined;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: unknown, buf: Buffer): number;
  writev(req: unknown, chunks: Buffer[], allBuffers: boolean): number;
  shutdown(req: unknown): number;
  close(cb: (this: RawHandle) => void): void;
  reset(cb: (this: RawHandle) => void): number;
  useUserBuffer(buf: Buffer): void;
  getpeername(out: { address?: string }): number;
  setNoDelay(on: boolean): number;
  connect(req: unknown, address: string, port: number): number;
  connect6(req: unknown, address: string, port: number): number;
}

export class RawConn implements Conn {
  private handle: RawHandle;
  private flags = 0;
  private queued = 0;
  private corks = 0;
  private corked: Buffer[] | null = null;
  private peer: string | undefined = undefined;
  private readInto: ReadInto | null;
  /** The buffer of the next read, in ReadInto mode. */
  private readBuf: Buffer | null = null;
  // Listeners, one field per event (a keyed record made every lookup a megamorphic load).
  private onData: Listener | Listener[] | null = null;
  private onEnd: Listener | Listener[] | null = null;
  private onClose: Listener | Listener[] | null = null;
  private onDrain: Listener | Listener[] | null = null;
  private onError: Listener | Listener[] | null = null;
  private onConnect: Listener | Listener[] | null = null;
  // The proxy's slots (ConnSlots).
  dfpOwner: unknown = null;
  dfpSplice: unknown = null;
  dfpOwnBuffer: Buffer | null = null;
  dfpEarly: Buffer[] | null = null;

  constructor(handle: RawHandle, readInto: ReadInto | null, connecting: boolean) {
    this.handle = handle;
    this.readInto = readInto;
    handle.dfpConn = this;
    if (readInto !== null) {
      this.readBuf = readInto.buffer();
      handle.useUserBuffer(this.readBuf);
    }
    handle.onread = readInto !== null ? onReadInto : onReadFresh;
    if (connecting) this.flags = F_CONNECTING;
    else this.startReading();
  }

  // ------------------------------------------------------------ state

  get destroyed(): boolean {
    return (this.flags & F_CLOSED) !== 0;
  }

  get readableEnded(): boolean {
    return (this.flags & F_EOF) !== 0;
  }

  get writable(): boolean {
    return (this.flags & (F_ENDING | F_CLOSED)) === 0;
  }

  get writableLength(): number {
    return this.queued;
  }

  get writableNeedDrain(): boolean {
    return (this.flags & F_NEED_DRAIN) !== 0;
  }

  get writableCorked(): number {
    return this.corks;
  }

  get remoteAddress(): string | undefined {
    if (this.peer === undefined && (this.flags & (F_CLOSED | F_CONNECTING)) === 0) {
      const out: { address?: string } = {};
      if (this.handle.getpeername(out) === 0) this.peer = out.address;
    }
    return this.peer;
  }

  setNoDelay(): void {
    if ((this.flags & F_CLOSED) === 0) this.handle.setNoDelay(true);
  }

  // ------------------------------------------------------------ events

  private listenersOf(event: ConnEvent): Listener | Listener[] | null {
    switch (event) {
      case 'data':
        return this.onData;
      case 'end':
        return this.onEnd;
      case 'close':
        return this.onClose;
      case 'drain':
        return this.onDrain;
      case 'error':
        return this.onError;
      default:
        return this.onConnect;
    }
  }

  private setListeners(event: ConnEvent, l: Listener | Listener[] | null): void {
    switch (event) {
      case 'data':
        this.onData = l;
        break;
      case 'end':
        this.onEnd = l;
        break;
      case 'close':
        this.onClose = l;
        break;
      case 'drain':
        this.onDrain = l;
        break;
      case 'error':
        this.onError = l;
        break;
      default:
        this.onConnect = l;
    }
  }

  on(event: ConnEvent, listener: Listener): this {
    const cur = this.listenersOf(event);
    this.setListeners(event, cur === null ? listener : Array.isArray(cur) ? [...cur, listener] : [cur, listener]);
    return this;
  }

  once(event: ConnEvent, listener: Listener): this {
    const wrapper: Listener & { inner?: Listener } = (...args: unknown[]) => {
      this.removeListener(event, wrapper);
      listener.apply(this, args);
    };
    wrapper.inner = listener;
    return this.on(event, wrapper);
  }

  off(event: ConnEvent, listener: Listener): this {
    return this.removeListener(event, listener);
  }

  removeListener(event: ConnEvent, listener: Listener): this {
    const cur = this.listenersOf(event);
    const matches = (l: Listener) => l === listener || (l as { inner?: Listener }).inner === listener;
    if (cur === null) return this;
    if (!Array.isArray(cur)) {
      if (matches(cur)) this.setListeners(event, null);
      return this;
    }
    const i = cur.findIndex(matches);
    if (i < 0) return this;
    const rest = cur.filter((_, k) => k !== i);
    this.setListeners(event, rest.length === 1 ? rest[0]! : rest);
    return this;
  }

  listenerCount(event: ConnEvent): number {
    const cur = this.listenersOf(event);
    return cur === null ? 0 : Array.isArray(cur) ? cur.length : 1;
  }

  removeAllListeners(event: ConnEvent): this {
    this.setListeners(event, null);
    return this;
  }

  private emit(l: Listener | Listener[] | null, arg?: unknown): void {
    if (l === null) return;
    if (!Array.isArray(l)) {
      l.call(this, arg);
      return;
    }
    for (const f of l.slice()) f.call(this, arg);
  }

  // ------------------------------------------------------------ reading

  pause(): void {
    if ((this.flags & F_PAUSED) !== 0) return;
    this.flags |= F_PAUSED;
    if ((this.flags & F_READING) !== 0) {
      this.flags &= ~F_READING;
      this.handle.readStop();
    }
  }

  resume(): void {
    if ((this.flags & F_PAUSED) === 0) return;
    this.flags &= ~F_PAUSED;
    this.startReading();
  }

  isPaused(): boolean {
    return (this.flags & F_PAUSED) !== 0;
  }

  private startReading(): void {
    if ((this.flags & (F_READING | F_PAUSED | F_EOF | F_CLOSED)) !== 0) return;
    const err = this.handle.readStart();
    if (err !== 0) this.fail(err, 'read');
    else this.flags |= F_READING;
  }

  /** A read result: n > 0 bytes are in `buf` (fresh mode) or in readBuf (ReadInto mode). */
  onRead(n: number, buf: Buffer | null): Buffer | undefined {
    if ((this.flags & F_CLOSED) !== 0) return undefined;
    if (n > 0) {
      if (buf !== null) {
        this.emit(this.onData, buf);
        return undefined;
      }
      const into = this.readInto!;
      into.callback.call(this, n, this.readBuf!);
      this.readBuf = into.buffer();
      return this.readBuf;
    }
    if (n === 0) return undefined;
    if (n === UV_EOF) {
      this.flags = (this.flags | F_EOF) & ~F_READING;
      this.handle.readStop();
      this.emit(this.onEnd);
      if ((this.flags & F_FINISHED) !== 0) this.destroy();
      return undefined;
    }
    this.fail(n, 'read');
    return undefined;
  }

  // ------------------------------------------------------------ writing

  write(buf: Buffer): boolean {
    if ((this.flags & (F_CLOSED | F_ENDING)) !== 0) return false;
    if (buf.length === 0) return true;
    if (this.corks > 0 || (this.flags & F_CONNECTING) !== 0) {
      (this.corked ??= []).push(buf);
      this.queued += buf.length;
    } else {
      this.send(buf);
    }
    return this.queued < HIGH_WATER || this.needDrain();
  }

  /** One write to libuv; what it cannot send now stays queued there and counts in `queued`. */
  private send(buf: Buffer): void {
    const req = takeWriteReq(this);
    this.submitted(req, this.handle.writeBuffer(req, buf), buf, buf.length);
  }

  /** After a write went to libuv: a write done at once leaves its request object free for the next; one libuv queued keeps `held` alive (libuv points into it) and counts as queued. */
  private submitted(req: WriteReq, err: number, held: Buffer | Buffer[], bytes: number): void {
    if (err !== 0) {
      this.fail(err, 'write');
      return;
    }
    if (I!.state[I!.kLastWriteWasAsync] === 0) {
      spareWriteReq = req;
      return;
    }
    req.buffer = held;
    req.dfpBytes = bytes;
    this.queued += bytes;
  }

  private needDrain(): false {
    this.flags |= F_NEED_DRAIN;
    return false;
  }

  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0) return;
    if (--this.corks > 0) return;
    this.flushCorked();
  }

  /** Hand the corked buffers to libuv in one writev. */
  private flushCorked(): void {
    const chunks = this.corked;
    if (chunks === null || (this.flags & (F_CLOSED | F_CONNECTING)) !== 0) return;
    this.corked = null;
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    this.queued -= bytes;
    if (chunks.length === 1) {
      this.send(chunks[0]!);
    } else {
      const req = takeWriteReq(this);
      this.submitted(req, this.handle.writev(req, chunks, true), chunks, bytes);
    }
    if ((this.flags & F_CLOSED) !== 0) return;
    if ((this.flags & F_ENDING) !== 0 && (this.flags & F_FINISHED) === 0) this.shutdown();
    else if (this.queued === 0) this.drained();
  }

  writeDone(status: number, bytes: number): void {
    this.queued -= bytes;
    if ((this.flags & F_CLOSED) !== 0) return;
    if (status < 0) {
      this.fail(status, 'write');
      return;
    }
    if (this.queued === 0) this.drained();
  }

  private drained(): void {
    if ((this.flags & F_NEED_DRAIN) === 0) return;
    this.flags &= ~F_NEED_DRAIN;
    this.emit(this.onDrain);
  }

  /** Send our FIN once everything written so far is out. */
  end(): void {
    if ((this.flags & (F_ENDING | F_CLOSED)) !== 0) return;
    if ((this.flags & (F_EOF | F_CONNECTING)) === F_EOF && this.queued === 0) {
      // The peer has ended and nothing is queued: closing sends our FIN as a shutdown
      // would (there is nothing unread to turn it into a reset), one system call and one
      // callback fewer.
      this.flags |= F_ENDING | F_FINISHED;
      this.destroy();
      return;
    }
    this.flags |= F_ENDING;
    this.corks = 0;
    if (this.corked !== null) {
      if ((this.flags & F_CONNECTING) !== 0) return; // connected() flushes, then shuts down
      this.flushCorked();
      return;
    }
    this.shutdown();
  }

  private shutdown(): void {
    if ((this.flags & (F_CLOSED | F_CONNECTING)) !== 0) return;
    const req = new I!.ShutdownWrap();
    req.handle = this.handle;
    req.oncomplete = onShutdownDone;
    req.dfpConn = this;
    const err = this.handle.shutdown(req);
    if (err === 1 || err === UV_ENOTCONN) this.shutdownDone(0);
    else if (err !== 0) this.fail(err, 'shutdown');
  }

  shutdownDone(status: number): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    if (status < 0 && status !== UV_ENOTCONN) {
      this.fail(status, 'shutdown');
      return;
    }
    this.flags |= F_FINISHED;
    if ((this.flags & F_EOF) !== 0) this.destroy();
  }

  // ------------------------------------------------------------ closing

  destroy(): void {
    if ((this.flags & F_CLOSED) === 0) this.closeHandle(false);
  }

  /** Close with a TCP reset (RST) instead of a FIN (a plain close while still connecting). */
  resetAndDestroy(): void {
    if ((this.flags & F_CLOSED) === 0) this.closeHandle((this.flags & F_CONNECTING) === 0);
  }

  private closeHandle(reset: boolean): void {
    this.flags = (this.flags | F_CLOSED) & ~F_READING;
    this.corked = null;
    this.handle.onread = noRead;
    if (!reset || this.handle.reset(onHandleClosed) !== 0) this.handle.close(onHandleClosed);
  }

  /** The handle is closed (libuv's callback): 'close', once. */
  closed(): void {
    this.handle.dfpConn = null;
    this.emit(this.onClose);
  }

  private fail(errno: number, syscall: string, detail?: string): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    const err = uvError(errno, syscall, detail);
    this.destroy();
    this.emit(this.onError, err);
  }

  // ------------------------------------------------------------ connecting

  connectDone(status: number, address: string, port: number): void {
    if ((this.flags & F_CLOSED) !== 0) return;
    if (status < 0) {
      this.fail(status, 'connect', `${address}:${port}`);
      return;
    }
    this.flags &= ~F_CONNECTING;
    this.emit(this.onConnect);
    if ((this.flags & F_CLOSED) !== 0) return;
    if (this.corked !== null) this.flushCorked();
    else if ((this.flags & F_ENDING) !== 0) this.shutdown();
    this.startReading();
  }

  /** Start a connection to address:port; 'connect' or 'error' follows. */
  static connect(address: string, family: 4 | 6, port: number, readInto: ReadInto | null): RawConn {
    const handle = new I!.TCP(I!.SOCKET) as RawHandle;
    handle.setNoDelay(true); // libuv applies it to the socket it makes for the connect
    const conn = new RawConn(handle, readInto, true);
    const req = new I!.TCPConnectWrap();
    req.oncomplete = onConnectDone;
    req.address = address;
    req.port = port;
    req.dfpConn = conn;
    const err = family === 6 ? handle.connect6(req, address, port) : handle.connect(req, address, port);
    if (err !== 0) process.nextTick(() => conn.connectDone(err, address, port));
    // Reading starts with the connect (libuv reports the connect first, so nothing is read before it):
    // the socket is then registered with epoll once for both, instead of once for the connect and again,
    // after libuv dropped it, for the reads (an EPOLL_CTL_ADD failing with EEXIST, then a MOD).
    else conn.startReading();
    return conn;
  }
}

/* Callbacks called by the handles and requests (`this` is the handle or request). */

interface WriteReq {
  oncomplete: typeof onWriteDone;
  dfpConn: RawConn;
  dfpBytes: number;
  buffer: unknown;
}

/**
 * A write request object not in use. Node attaches its C++ request to the
 * object only when a write cannot finish at once, so the object of a write
 * that did is reused for the next one instead of making one per write.
 */
let spareWriteReq: WriteReq | null = null;

function takeWriteReq(conn: RawConn): WriteReq {
  let req = spareWriteReq;
  spareWriteReq = null;
  if (req === null) {
    req = new I!.WriteWrap() as WriteReq;
    req.oncomplete = onWriteDone;
    req.buffer = null;
  }
  req.dfpConn = conn;
  req.dfpBytes = 0;
  return req;
}

function noRead(): undefined {
  return undefined;
}

function onReadFresh(this: RawHandle, arrayBuffer: ArrayBuffer | undefined): undefined {
  const conn = this.dfpConn;
  if (conn === null) return undefined;
  const n = I!.state[I!.kReadBytesOrError]!;
  conn.onRead(n, n > 0 ? Buffer.from(arrayBuffer!, I!.state[I!.kArrayBufferOffset]!, n) : null);
  return undefined;
}

function onReadInto(this: RawHandle): Buffer | undefined {
  const conn = this.dfpConn;
  if (conn === null) return undefined;
  return conn.onRead(I!.state[I!.kReadBytesOrError]!, null);
}

function onWriteDone(this: { dfpConn: RawConn; dfpBytes: number; buffer: unknown }, status: number): void {
  this.buffer = null;
  this.dfpConn.writeDone(status, this.dfpBytes);
}

/** Close callback of a handle (`this`, as Node calls it); one function for all, not a closure per connection. */
function onHandleClosed(this: RawHandle): void {
  this.dfpConn?.closed();
}

function onShutdownDone(this: { dfpConn: RawConn }, status: number): void {
  this.dfpConn.shutdownDone(status);
}

function onConnectDone(this: unknown, status: number, _handle: unknown, req: { dfpConn: RawConn; address: string; port: number }): void {
  req.dfpConn.connectDone(status, req.address, req.port);
}

// ------------------------------------------------------------ making connections

/**
 * An outgoing connection (no-delay, half-open); 'connect' or 'error' follows. With `forTls`, always a
 * net.Socket: TLS (tls.connect({ socket })) wraps a stream, not a bare handle, so connections that TLS
 * will wrap take that path and plain ones keep the libuv-handle fast path.
 */
export function openConn(address: string, family: 4 | 6, port: number, readInto: ReadInto | null, forTls = false): Conn {
  if (rawEnabled && !forTls) return RawConn.connect(address, family, port, readInto);
  return adoptNetSocket(net.connect({
    host: address,
    port,
    noDelay: true,
    allowHalfOpen: true,
    onread: readInto === null ? undefined : { buffer: readInto.buffer, callback: readInto.callback as unknown as (n: number, buf: Uint8Array) => boolean },
  }));
}

/**
 * Take over accepting on a listening net.Server: each accepted connection
 * becomes a RawConn passed to `onConn` (the server's 'connection' event is not
 * emitted). Works for cluster workers too (their handle gets connections from
 * the primary through the same callback). Returns false, changing nothing,
 * when raw connections are off or the server's handle is not as expected;
 * the caller then keeps the 'connection' event.
 */
export function acceptRaw(server: net.Server, onConn: (conn: Conn) => void, onError: (err: NodeJS.ErrnoException) => void): boolean {
  if (!rawEnabled) return false;
  const handle = (server as unknown as { _handle?: { onconnection?: unknown; setNoDelay?: unknown } })._handle;
  if (handle === undefined || handle === null || typeof handle.onconnection !== 'function') return false;
  // Linux copies TCP_NODELAY from the listening socket to each accepted one: set once here, it saves a
  // setsockopt per connection. Cluster workers in round-robin mode have a stand-in handle without
  // setNoDelay (the primary owns the socket), and other systems differ: those set it per connection.
  const inherited = process.platform === 'linux' && typeof handle.setNoDelay === 'function' &&
    (handle as { setNoDelay(on: boolean): number }).setNoDelay(true) === 0;
  handle.onconnection = (err: number, clientHandle: RawHandle | undefined) => {
    if (err) {
      onError(uvError(err, 'accept'));
      return;
    }
    if (clientHandle === undefined) return;
    if (!inherited) clientHandle.setNoDelay(true);
    onConn(new RawConn(clientHandle, null, false));
  };
  return true;
}
