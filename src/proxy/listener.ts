/**
 * What happens to an accepted connection before any protocol is spoken, as a chain of stages:
 * accept → [PROXY protocol header: listeners[].proxyProtocol] → admit (draining, limits.maxConnections,
 * maxConnectionsPerClient, by the client address the chain established) → TLS termination (an HTTPS
 * listener) → the listener's protocol handler (HTTP: forward, CONNECT, gateway; or SNI passthrough).
 * What the chain establishes about the client (the socket's peer, or what a PROXY header says) travels
 * as a Peer: nothing after the chain reads it from the socket.
 */
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import type { ListenerConfig } from '../config/types.js';
import { ProxyError, renderErrorReply, type ErrorCode } from '../errors.js';
import { adoptNetSocket, type Conn } from '../io/conn.js';
import { clientConnections, countClient, releaseClient } from './client-count.js';
import { ClientConn } from './connection.js';
import { SniConn } from './sni.js';
import type { ProxyContext } from './context.js';
import type { Peer } from './peer.js';
import { ProxyProtocolParser } from './proxy-protocol.js';

/** A listener as it runs: its config and what was made from it at start. */
export interface ListenerRuntime {
  readonly config: ListenerConfig;
  /** An HTTPS listener's certificate and key (read once at start), or null for plain HTTP. */
  readonly secureContext: tls.SecureContext | null;
}

/** Read a listener's certificate and key; a file that cannot be used stops the start, naming it. */
export function listenerRuntime(config: ListenerConfig): ListenerRuntime {
  if (config.tls === null) return { config, secureContext: null };
  const where = `listener ${config.address.host}:${config.address.port}`;
  try {
    return { config, secureContext: tls.createSecureContext({ cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }) };
  } catch (err) {
    throw new Error(`${where}: cannot use tls.certFile ${config.tls.certFile} / keyFile ${config.tls.keyFile}: ${(err as Error).message}`);
  }
}

/** An accepted connection enters the chain. */
export function acceptConnection(ctx: ProxyContext, listener: ListenerRuntime, socket: Conn): void {
  // Asked once, while the socket is surely open; both socket kinds keep the answer.
  const address = socket.remoteAddress ?? '';
  if (listener.config.proxyProtocol) readProxyHeader(ctx, listener, socket, address);
  else admitClient(ctx, listener, socket, address, null);
}

/** admit → TLS termination → the handler, for a client at `address`; `early`: bytes read after a PROXY header. */
function admitClient(ctx: ProxyContext, listener: ListenerRuntime, socket: Conn, address: string, early: Buffer | null): void {
  const refusal = admit(ctx, address);
  if (refusal !== null) {
    refuse(ctx, socket, refusal);
    return;
  }
  countClient(ctx, address);
  const peer: Peer = { address };
  if (listener.secureContext !== null) {
    // A TLS listener's sockets are net.Sockets: the bytes after the header go back for the TLS layer to
    // read. Paused first: a flowing stream with no 'data' listener left would drop them.
    if (early !== null) {
      socket.pause();
      (socket as unknown as net.Socket).unshift(early);
    }
    terminateTls(ctx, listener, socket, peer);
  } else {
    handle(ctx, listener, socket, peer, early);
  }
}

/** The listener's protocol handler: HTTP (forward, CONNECT, gateway), or SNI passthrough. */
function handle(ctx: ProxyContext, listener: ListenerRuntime, socket: Conn, peer: Peer, early: Buffer | null = null): void {
  const conn = listener.config.mode === 'sni' ? new SniConn(ctx, socket, peer, listener.config.upstreamPort) : new ClientConn(ctx, socket, peer);
  if (early !== null && early.length > 0) conn.onData(early);
}

// ------------------------------------------------------------ PROXY protocol (a load balancer in front)

/**
 * `listeners[].proxyProtocol`: the connection starts with a PROXY protocol v1 or v2 header from the load
 * balancer (proxy-protocol.ts), read before anything else and within limits.headerTimeout; the client
 * address it carries is the Peer (access log, per-client limits, rate-limit key). A LOCAL header (the
 * balancer's own health check) or one without addresses keeps the socket's address. A connection
 * without a valid header is closed and counted in dfp_proxy_protocol_rejected_total{reason}; nothing is
 * answered (the peer does not speak the protocol the listener expects). Connections waiting for their
 * header count toward limits.maxConnections.
 */
function readProxyHeader(ctx: ProxyContext, listener: ListenerRuntime, socket: Conn, address: string): void {
  if (ctx.draining || ctx.connections.size + ctx.chainWaits.size >= ctx.snapshot.config.limits.maxConnections) {
    ctx.metrics.proxyProtocolRejected('connection_limit');
    socket.destroy();
    return;
  }
  const wait: HeaderWait = { ctx, listener, socket, address, parser: new ProxyProtocolParser(), fed: 0, timer: null, done: false };
  ctx.chainWaits.add(socket);
  const ms = ctx.snapshot.config.limits.headerTimeoutMs;
  if (ms > 0) wait.timer = setTimeout(onHeaderTimeout, ms, wait).unref();
  (socket as HeaderSocket).dfpOwner = wait;
  socket.on('data', onHeaderData);
  socket.on('error', onHeaderError);
  socket.on('close', onHeaderClose);
}

interface HeaderWait {
  readonly ctx: ProxyContext;
  readonly listener: ListenerRuntime;
  readonly socket: Conn;
  /** The socket's own peer address (kept for LOCAL headers). */
  readonly address: string;
  readonly parser: ProxyProtocolParser;
  /** Bytes fed to the parser. */
  fed: number;
  timer: NodeJS.Timeout | null;
  done: boolean;
}

interface HeaderSocket extends Conn {
  dfpOwner: HeaderWait;
}

function onHeaderData(this: HeaderSocket, chunk: Buffer): void {
  const w = this.dfpOwner;
  if (w.done) return;
  w.fed += chunk.length;
  const r = w.parser.push(chunk);
  if (r.state === 'more') return;
  if (r.state === 'error') {
    headerFailed(w, r.reason);
    return;
  }
  endWait(w);
  const h = r.header;
  const address = h.local || h.source === null ? w.address : h.source.address;
  // The bytes of this chunk after the header are the client's first bytes (fed - length of them).
  const after = w.fed - r.length;
  const early = after > 0 ? chunk.subarray(chunk.length - after) : null;
  admitClient(w.ctx, w.listener, w.socket, address, early);
}

function endWait(w: HeaderWait): void {
  w.done = true;
  if (w.timer !== null) clearTimeout(w.timer);
  w.timer = null;
  w.ctx.chainWaits.delete(w.socket);
  w.socket.removeListener('data', onHeaderData);
  w.socket.removeListener('error', onHeaderError);
  w.socket.removeListener('close', onHeaderClose);
}

function headerFailed(w: HeaderWait, reason: string): void {
  if (w.done) return;
  endWait(w);
  w.ctx.metrics.proxyProtocolRejected(reason);
  w.socket.on('error', onIgnoredError);
  w.socket.destroy();
}

function onHeaderTimeout(w: HeaderWait): void {
  w.timer = null;
  headerFailed(w, 'timeout');
}

function onHeaderError(this: HeaderSocket): void {
  headerFailed(this.dfpOwner, 'socket_error');
}

function onHeaderClose(this: HeaderSocket): void {
  headerFailed(this.dfpOwner, 'closed');
}

/**
 * An HTTPS listener: the client speaks TLS to the proxy, and every mode (forward, CONNECT, gateway) runs
 * inside it. The handshake must finish within limits.headerTimeout; one that fails (plain HTTP sent to the
 * port, a client that does not trust the certificate, garbage) is counted in dfp_tls_handshakes_total and
 * the connection closed. Only then does the protocol handler see the connection.
 */
function terminateTls(ctx: ProxyContext, listener: ListenerRuntime, socket: Conn, peer: Peer): void {
  const secure = new tls.TLSSocket(socket as unknown as net.Socket, {
    isServer: true,
    secureContext: listener.secureContext!,
    ALPNProtocols: ['http/1.1'],
  });
  const handshake: TlsHandshake = { ctx, listener, secure, peer, timer: null, failed: false };
  ctx.chainWaits.add(socket);
  // The TLS layer owns the socket's handle from here, but the net.Socket below is what the listening
  // server counts: when the TLS socket closes it must close too, or server.close() waits for it.
  secure.once('close', () => {
    ctx.chainWaits.delete(socket);
    (socket as unknown as net.Socket).destroy();
  });
  const ms = ctx.snapshot.config.limits.headerTimeoutMs;
  if (ms > 0) handshake.timer = setTimeout(onHandshakeTimeout, ms, handshake).unref();
  // A closure per handshake: a rare path next to the handshake's own cost.
  const onError = (): void => handshakeFailed(handshake);
  secure.once('error', onError);
  // A client that leaves in the middle of the handshake: nothing more will come (without this the
  // socket would sit half-closed until headerTimeout).
  secure.once('end', onError);
  secure.once('secure', () => {
    ctx.chainWaits.delete(socket);
    secure.removeListener('error', onError);
    secure.removeListener('end', onError);
    if (handshake.timer !== null) clearTimeout(handshake.timer);
    ctx.metrics.tlsHandshake('client', true);
    handle(ctx, listener, adoptNetSocket(secure), peer);
  });
}

interface TlsHandshake {
  readonly ctx: ProxyContext;
  readonly listener: ListenerRuntime;
  readonly secure: tls.TLSSocket;
  readonly peer: Peer;
  timer: NodeJS.Timeout | null;
  /** Counted once, whether the timeout or an error came first. */
  failed: boolean;
}

function handshakeFailed(h: TlsHandshake): void {
  if (h.failed) return;
  h.failed = true;
  releaseClient(h.ctx, h.peer.address); // never handed to a protocol handler
  if (h.timer !== null) clearTimeout(h.timer);
  h.ctx.metrics.tlsHandshake('client', false);
  h.secure.on('error', onIgnoredError);
  h.secure.destroy();
}

function onHandshakeTimeout(h: TlsHandshake): void {
  h.timer = null;
  handshakeFailed(h);
}

function onIgnoredError(): void {
  // after the failure was counted: 'close' follows
}

/** Whether the proxy takes one more connection from `address`: null, or the code to refuse it with. */
function admit(ctx: ProxyContext, address: string): ErrorCode | null {
  if (ctx.draining) return 'SERVICE_UNAVAILABLE';
  const limits = ctx.snapshot.config.limits;
  // limits.maxConnections counts client connections over all listeners, whichever kind of socket.
  if (ctx.connections.size >= limits.maxConnections) return 'CONNECTION_LIMIT';
  if (clientConnections(ctx, address) >= limits.maxConnectionsPerClient) return 'CONNECTION_LIMIT';
  return null;
}

// ------------------------------------------------------------ refused connections

/** How long a refused connection may take to read its 503 before it is dropped. */
const REFUSED_LINGER_MS = 1_000;
/** Beyond this many refused connections lingering at once, more are dropped at once (no reply). */
const MAX_REFUSED_LINGERING = 1024;

/** Replies by code, made once: a flood of refusals only writes them. */
const refusedReplies = new Map<ErrorCode, Buffer>();

function refusedReply(code: ErrorCode): Buffer {
  let reply = refusedReplies.get(code);
  if (reply === undefined) {
    reply = renderErrorReply(new ProxyError(code));
    refusedReplies.set(code, reply);
  }
  return reply;
}

/**
 * A connection the proxy will not serve: a 503 and our FIN, without reading a request. What the client
 * sends meanwhile is read and dropped, so unread bytes do not turn the reply into a reset; the client's FIN
 * completes the close, and a fixed linger (not refreshed by reads) bounds how long each one lives. Past
 * MAX_REFUSED_LINGERING at once, new ones are dropped outright.
 */
function refuse(ctx: ProxyContext, socket: Conn, code: ErrorCode): void {
  if (code === 'CONNECTION_LIMIT') ctx.metrics.denied('connection_limit');
  if (ctx.refused.size >= MAX_REFUSED_LINGERING) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(onRefusedLingerEnd, REFUSED_LINGER_MS, socket);
  timer.unref();
  ctx.refused.add(socket);
  socket.on('data', onRefusedData);
  socket.on('error', onRefusedError);
  // Rare path: a closure here keeps state off the socket (no new property shapes for the data path's sockets).
  socket.on('close', () => {
    clearTimeout(timer);
    ctx.refused.delete(socket);
  });
  const reply = refusedReply(code);
  logRefused(ctx, socket, code, reply.length); // first: the client address is asked while the socket is surely open
  socket.write(reply);
  socket.end();
}

function logRefused(ctx: ProxyContext, socket: Conn, code: ErrorCode, bytesOut: number): void {
  const log = ctx.accessLog;
  if (log === null) return;
  log.write({
    client: socket.remoteAddress ?? '',
    user: null,
    mode: 'forward',
    method: '',
    host: '',
    port: 0,
    address: null,
    status: 503,
    bytesIn: 0,
    bytesOut,
    durationMs: 0,
    dnsMs: 0,
    connectMs: 0,
    error: code,
    rule: null,
    wouldDeny: null,
  });
}

function onRefusedData(): void {
  // Dropped: reading only keeps the kernel from answering our close with a reset.
}

function onRefusedError(): void {
  // 'close' follows.
}

function onRefusedLingerEnd(socket: Conn): void {
  socket.destroy();
}
