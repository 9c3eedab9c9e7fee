/**
 * One client connection on the HTTP listener: reads request heads with the
 * scanner, decides the mode (forward, gateway, CONNECT), and runs one exchange
 * at a time, so responses leave in request order. Pipelined bytes wait, with
 * the socket paused, until the exchange before them is done.
 *
 * Handlers are module-level functions reaching this object through the socket;
 * nothing is allocated per request on the keep-alive path apart from the
 * slices written out.
 */
import type { Conn } from '../io/conn.js';
import { performance } from 'node:perf_hooks';
import {
  BODY_CHUNKED,
  BODY_EOF,
  BodyParser,
  ERROR,
  HeadParser,
  METHOD_DELETE,
  METHOD_GET,
  METHOD_HEAD,
  METHOD_OPTIONS,
  METHOD_PUT,
  METHOD_TRACE,
  NEED_MORE,
} from '../http/index.js';
import { ProxyError, renderErrorReply, toProxyError, type ErrorCode } from '../errors.js';
import type { ResolvedAddress } from '../dns/cache.js';
import type { HostTarget } from '../dns/name.js';
import { connectTo, type ConnectResult } from '../upstream/connect.js';
import type { Closable, ProxyContext } from './context.js';
import { chooseDestination, newDestination, type Destination } from './destination-choice.js';
import { checkedAddressesNow, resolveAndCheck } from './destination.js';
import { HeadBuilder } from './head-builder.js';
import { piece } from './read-buffer.js';
import { buildInterimHead, buildRequestHead, buildResponseHead } from './rewrite.js';
import { Splice, TUNNEL_ONREAD } from './splice.js';
import { isAcceptedUpgrade, offeredUpgrade, type UpgradeOffer } from './upgrade.js';
import { UPSTREAM_ONREAD, UpstreamConn, type UpstreamOwner } from './upstream-conn.js';
import { describePartialHead } from './partial-head.js';

const S_HEAD = 0; // waiting for / reading a request head
const S_SETUP = 1; // head read; resolving and connecting (client paused)
const S_EXCHANGE = 2; // request sent or streaming; response pending or streaming
const S_TUNNEL = 3; // CONNECT or upgrade: spliced, no more HTTP
const S_CLOSED = 4;

/** Shared by every connection: heads are built and written synchronously. */
const HEAD_BUILDER = new HeadBuilder();
/** Body bytes up to this size are copied next to their head: one send instead of two. */
const INLINE_BODY_BYTES = 16 * 1024;
/** Stands in for the parser of a connection that no longer parses (tunnel, closed). */
const IDLE_PARSER = new HeadParser('request');
const MAX_SPARE_PARSERS = 1024;
/** How long a closing connection keeps reading before it is destroyed. */
const LINGER_MS = 2_000;

/** Placeholder until a connection's first HTTP exchange (never reset or fed). */
const NO_BODY_YET = new BodyParser();

// What the connection's timer is for (ClientConn.timerKind).
const T_NONE = 0;
const T_IDLE = 1;
const T_HEAD = 2;
const T_LINGER = 3;
const T_EXCHANGE = 4; // idleTimeout within an exchange: checked, not refreshed per byte
/** Interim (1xx) responses accepted before the final one; more is an origin error. */
const MAX_INTERIM_RESPONSES = 16;
const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');

interface ClientSocket extends Conn {
  dfpClient: ClientConn;
}

export class ClientConn implements UpstreamOwner, Closable {
  readonly ctx: ProxyContext;
  readonly socket: Conn;
  private parser: HeadParser;
  /** Made on the first HTTP exchange: a CONNECT tunnel never needs one. */
  private reqBody: BodyParser = NO_BODY_YET;
  private state = S_HEAD;

  /** Bytes read but not processed yet (after a head during setup, or pipelined). */
  private stash: Buffer | null = null;
  private stashStart = 0;

  private upstream: UpstreamConn | null = null;
  private splice: Splice | null = null;
  /**
   * One timer per connection, for whichever limit applies now: idleTimeout
   * between requests, headerTimeout while a head arrives, the linger after our
   * FIN. Not the socket's own setTimeout: that refreshes on every read and
   * write and keeps a Timeout and a bound function per socket for good.
   */
  private timer: NodeJS.Timeout | null = null;
  private timerMs = 0;
  private timerKind = T_NONE;
  /** The timer is scheduled (not fired, not stopped). */
  private timerActive = false;
  /** bytesIn + bytesOut when the exchange idle timer last looked (-1: not yet). */
  private movedAtCheck = -1;
  /**
   * limits.responseTimeout, refreshed when a request is fully sent; when it fires it acts only if that
   * request's final head is still missing. Made on the first exchange that needs it.
   */
  private responseTimer: NodeJS.Timeout | null = null;
  /** When the first bytes of a head that spans reads arrived (0: none pending). */
  private headStartMs = 0;
  /** Some bytes of the next head have arrived, not all. */
  private partialHead = false;
  /** A paused side is waiting for the other to drain. */
  private clientPausedForUpstream = false;
  private upstreamPausedForClient = false;

  // The current exchange.
  private readonly dest: Destination = newDestination();
  private keepAlive = true;
  private requestDone = false;
  private responseStarted = false;
  private responseHeadDone = false;
  private responseDone = false;
  private dechunk = false;
  private retried = false;
  /** The client sent its FIN: serve what was received, then close. */
  private clientEnded = false;
  private status = 0;
  private startMs = 0;
  private dnsMs = 0;
  private connectMs = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private errorCode: ErrorCode | null = null;
  /** Method name kept for the log once the parser is gone (tunnels). */
  private method: string | null = null;
  /** The address dialled for this exchange (for the log). */
  private address: string | null = null;
  /** The Upgrade this request may make (access.upgrades), or null: it goes as an ordinary request. */
  private upgradeOffer: UpgradeOffer | null = null;
  private interimCount = 0;
  /** This exchange is in the access log and the metrics already: one line per exchange, whatever path ends it. */
  private logged = false;

  constructor(ctx: ProxyContext, socket: Conn) {
    this.ctx = ctx;
    this.socket = socket;
    this.parser = ctx.spareParsers.pop() ?? new HeadParser('request', { maxHeadBytes: ctx.config.limits.maxHeaderBytes });
    const s = socket as ClientSocket;
    s.dfpClient = this;
    s.on('data', onClientData);
    s.on('end', onClientEnd);
    s.on('close', onClientClose);
    s.on('drain', onClientDrain);
    s.on('error', onClientError);
    this.armTimer(T_IDLE, ctx.config.limits.idleTimeoutMs);
    ctx.connections.add(this);
    ctx.metrics.connectionOpened();
  }

  // ------------------------------------------------------------ reading heads

  onData(chunk: Buffer): void {
    if (this.state === S_CLOSED) return; // discarding until the client's FIN
    if (this.state === S_HEAD) this.readHead(chunk, 0);
    else if (this.state === S_EXCHANGE && !this.requestDone) this.forwardRequestBody(chunk, 0);
    else this.keep(chunk, 0);
  }

  /** Hold bytes until the current exchange is done; reading stops meanwhile. */
  private keep(buf: Buffer, start: number): void {
    if (start >= buf.length) return;
    if (this.stash === null) {
      this.stash = buf;
      this.stashStart = start;
    } else {
      this.stash = Buffer.concat([this.stash.subarray(this.stashStart), buf.subarray(start)]);
      this.stashStart = 0;
    }
    this.socket.pause();
  }

  private readHead(buf: Buffer, start: number): void {
    const parser = this.parser;
    const r = parser.execute(buf, start, buf.length);
    if (r === NEED_MORE) {
      if (!this.partialHead) {
        this.partialHead = true;
        this.headStartMs = performance.now();
        // headerTimeout counts from the first byte; without one, the idle timer keeps running.
        const ms = this.ctx.config.limits.headerTimeoutMs;
        if (ms > 0) this.armTimer(T_HEAD, ms);
      }
      return;
    }
    // A head timer still running is ignored when it fires (the state has changed by then).
    this.partialHead = false;
    if (r === ERROR) {
      this.rejectHead();
      return;
    }
    this.startExchange(buf, r);
  }

  /** (Re)start the connection's timer for `kind`; a limit of 0 means none. */
  private armTimer(kind: number, ms: number): void {
    if (ms <= 0) {
      this.stopTimer();
      return;
    }
    this.timerKind = kind;
    this.timerActive = true;
    if (this.timer !== null && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(onConnTimer, ms, this);
    this.timer.unref();
    this.timerMs = ms;
  }

  private stopTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.timerKind = T_NONE;
    this.timerActive = false;
  }

  timerFired(): void {
    const kind = this.timerKind;
    this.timerKind = T_NONE;
    this.timerActive = false;
    if (kind === T_HEAD) this.headTimedOut();
    else if (kind === T_EXCHANGE) this.checkExchangeIdle();
    else if (kind === T_LINGER || (kind === T_IDLE && this.state === S_HEAD)) this.socket.destroy();
    else if (kind === T_IDLE && this.state === S_SETUP) this.armTimer(T_IDLE, this.ctx.config.limits.idleTimeoutMs); // the exchange takes it over
  }

  private headTimedOut(): void {
    if (this.state !== S_HEAD) return;
    // The log line says what the head had shown so far, and how long it took.
    this.startMs = this.headStartMs > 0 ? this.headStartMs : performance.now();
    this.headStartMs = 0;
    describePartialHead(this.parser, this.dest);
    this.replyError(new ProxyError('REQUEST_TIMEOUT', `no complete head within ${this.ctx.config.limits.headerTimeoutMs} ms`));
  }

  /**
   * idleTimeout inside an exchange: the timer is not refreshed per byte (that would cost a timer-list
   * operation per read); when it fires it looks whether any byte moved since its last look. So an exchange
   * where nothing moves ends between one and two idleTimeouts after its last byte. The wait for the final
   * head after the whole request was sent is left to responseTimeout (unless that is off): a long poll is
   * not idle.
   */
  private checkExchangeIdle(): void {
    if (this.state !== S_EXCHANGE) return;
    const moved = this.bytesIn + this.bytesOut;
    const idleMs = this.ctx.config.limits.idleTimeoutMs;
    // Waiting for the final head of a request fully sent (a long poll) is responseTimeout's to end, when it is on.
    const awaitingHead = this.requestDone && !this.responseHeadDone && this.ctx.config.limits.responseTimeoutMs > 0;
    if (moved !== this.movedAtCheck || awaitingHead) {
      this.movedAtCheck = moved;
      this.armTimer(T_EXCHANGE, idleMs);
      return;
    }
    const detail = `no byte moved either way for ${idleMs} ms`;
    // A client that stopped in the middle of its body (we were reading it) is told so; else the origin is silent or not reading.
    if (!this.requestDone && !this.clientPausedForUpstream && !this.responseStarted) this.fail(new ProxyError('REQUEST_BODY_TIMEOUT', detail));
    else this.fail(new ProxyError('IDLE_TIMEOUT', detail));
  }

  /** The request is fully sent: its final response head is due within limits.responseTimeout. */
  private requestSent(): void {
    this.requestDone = true;
    if (this.responseHeadDone) return;
    const ms = this.ctx.config.limits.responseTimeoutMs;
    if (ms <= 0) return;
    if (this.responseTimer === null) {
      this.responseTimer = setTimeout(onResponseTimer, ms, this);
      this.responseTimer.unref();
    } else {
      this.responseTimer.refresh();
    }
  }

  responseTimerFired(): void {
    if (this.state !== S_EXCHANGE || !this.requestDone || this.responseHeadDone) return;
    this.fail(new ProxyError('RESPONSE_TIMEOUT', `no response head within ${this.ctx.config.limits.responseTimeoutMs} ms of the request`));
  }

  private rejectHead(): void {
    const parser = this.parser;
    const status = parser.errorStatus;
    const code: ErrorCode = status === 431 ? 'REQUEST_HEAD_TOO_LARGE' : status === 414 ? 'REQUEST_URI_TOO_LONG' : status === 501 ? 'NOT_IMPLEMENTED' : 'REQUEST_MALFORMED';
    this.startMs = performance.now();
    // Nothing of this head is known for sure: the log must not show the previous exchange's destination.
    this.dest.mode = 'forward';
    this.dest.authority = null;
    this.dest.host = null;
    this.replyError(new ProxyError(code, parser.error ?? 'malformed request'));
  }

  // ------------------------------------------------------------ starting an exchange

  private startExchange(buf: Buffer, afterHead: number): void {
    // No pause here: bytes that arrive before the upstream is ready go to keep(),
    // which pauses only then (a pause/resume pair costs two epoll_ctl calls).
    this.state = S_SETUP;
    this.clientAddress(); // asked while the socket is open (it keeps the answer): the log may be written after a close
    this.stash = afterHead < buf.length ? buf : null;
    this.stashStart = afterHead;
    // From the head's first byte when it came in pieces.
    this.startMs = this.headStartMs > 0 ? this.headStartMs : performance.now();
    this.headStartMs = 0;
    this.resetExchange();
    try {
      chooseDestination(this.ctx, this.parser, this.dest);
      if (this.dest.isUpgrade) {
        this.upgradeOffer = offeredUpgrade(this.parser, this.ctx.config.access.upgrades);
        if (this.upgradeOffer === null) this.dest.isUpgrade = false; // served as an ordinary request
      }
      this.keepAlive = this.dest.mode !== 'connect' && this.parser.keepAlive && !this.ctx.draining;
      this.resolveDestination();
    } catch (err) {
      this.fail(err);
    }
  }

  private resetExchange(): void {
    this.requestDone = false;
    this.responseStarted = false;
    this.responseHeadDone = false;
    this.responseDone = false;
    this.dechunk = false;
    this.retried = false;
    this.status = 0;
    this.dnsMs = 0;
    this.connectMs = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.errorCode = null;
    this.address = null;
    this.upgradeOffer = null;
    this.interimCount = 0;
    this.logged = false;
    this.dest.authority = null;
    this.dest.host = null;
  }

  private resolveDestination(): void {
    const target = this.dest.host!;
    const port = this.dest.authority!.port;
    const addresses = checkedAddressesNow(this.ctx, target, port);
    if (addresses !== undefined) {
      this.connect(addresses);
      return;
    }
    const t0 = performance.now();
    resolveAndCheck(this.ctx, (target as { name: string }).name, port).then(
      (list) => {
        this.dnsMs = performance.now() - t0;
        if (this.state === S_SETUP) this.connect(list);
      },
      (err: unknown) => {
        this.dnsMs = performance.now() - t0;
        if (this.state === S_SETUP) this.fail(err);
      },
    );
  }

  private connect(addresses: readonly ResolvedAddress[]): void {
    const port = this.dest.authority!.port;
    if (this.dest.mode !== 'connect') {
      const pool = this.ctx.pool;
      for (let i = 0; i < addresses.length; i++) {
        const up = pool.take(addresses[i]!.address, port);
        if (up !== undefined) {
          this.attach(up);
          return;
        }
      }
    }
    this.dial(addresses);
  }

  private dial(addresses: readonly ResolvedAddress[]): void {
    const ctx = this.ctx;
    const onread = this.dest.mode === 'connect' ? TUNNEL_ONREAD : UPSTREAM_ONREAD;
    connectTo(addresses, this.dest.authority!.port, { timeoutMs: ctx.config.limits.connectTimeoutMs, onread }).then(
      (result) => this.onConnected(result),
      (err: unknown) => {
        if (this.state === S_SETUP) this.fail(err);
      },
    );
  }

  private onConnected(result: ConnectResult): void {
    this.connectMs = result.connectMs;
    this.ctx.metrics.upstreamConnected(result.connectMs);
    if (this.dest.mode === 'connect') {
      this.address = result.address.address;
      if (this.state === S_SETUP) this.startTunnel(result.socket);
      else result.socket.destroy();
      return;
    }
    const up = new UpstreamConn(result.socket, result.address, this.dest.authority!.port, this.ctx.config.limits.maxHeaderBytes, this.ctx.pool);
    // The client went away while we connected: keep the fresh connection for someone else.
    if (this.state !== S_SETUP) this.ctx.pool.release(up);
    else this.attach(up);
  }

  // ------------------------------------------------------------ HTTP exchange

  private attach(up: UpstreamConn): void {
    this.upstream = up;
    this.address = up.address.address;
    up.owner = this;
    up.parser.reset();
    up.parser.requestMethod = this.parser.method;
    this.state = S_EXCHANGE;
    const sock = up.socket;
    const p = this.parser;
    if (this.reqBody === NO_BODY_YET) {
      this.reqBody = new BodyParser();
      this.reqBody.filterTrailers = true; // trailer fields that frame or route never go on
    }
    this.reqBody.reset(p.bodyKind, p.contentLength);
    // idleTimeout now watches the exchange (the timer may still be the head's or the idle one: it is looked at when it fires).
    this.movedAtCheck = -1;
    if (this.timerActive) this.timerKind = T_EXCHANGE;
    else this.armTimer(T_EXCHANGE, this.ctx.config.limits.idleTimeoutMs);
    if (this.reqBody.done) this.requestSent();
    const d = this.dest;
    const head = buildRequestHead(HEAD_BUILDER, p, d.authority!, d.rewriteHost, this.upgradeOffer?.line ?? null, this.ctx);
    if (this.stash !== null && !this.requestDone) {
      // Head and the body bytes that came with it leave in one writev.
      const buf = this.stash;
      this.stash = null;
      sock.cork();
      sock.write(head);
      this.forwardRequestBody(buf, this.stashStart);
      sock.uncork();
    } else {
      sock.write(head);
    }
    if (this.clientEnded && !this.requestDone && this.state === S_EXCHANGE) {
      // The FIN came while we connected: the body can only be as long as the stash was.
      this.endRequestBodyAtEof();
      return;
    }
    if (sock.isPaused()) sock.resume();
    if (!this.requestDone && !this.clientPausedForUpstream && this.socket.isPaused()) this.socket.resume();
  }

  private forwardRequestBody(buf: Buffer, start: number): void {
    const body = this.reqBody;
    const i = body.execute(buf, start, buf.length);
    if (i === ERROR) {
      this.fail(new ProxyError('REQUEST_MALFORMED', body.error ?? 'invalid request body'));
      return;
    }
    if (i > start) {
      this.bytesIn += i - start;
      // Up to forwardEnd: trailer fields are held back by the parser and sent filtered once complete.
      const end = body.forwardEnd;
      if (end > start) this.writeUpstream(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    }
    if (body.done) {
      const trailers = body.takeTrailerSection();
      if (trailers !== null) this.writeUpstream(trailers);
      this.requestSent();
      if (i < buf.length) this.keep(buf, i);
      if (this.responseDone) this.finishExchange();
    }
  }

  private writeUpstream(part: Buffer): void {
    if (!this.upstream!.socket.write(part)) {
      this.clientPausedForUpstream = true;
      this.socket.pause();
    }
  }

  onUpstreamDrain(): void {
    if (this.clientPausedForUpstream) {
      this.clientPausedForUpstream = false;
      if (this.state === S_EXCHANGE && !this.requestDone) this.socket.resume();
    }
  }

  onClientDrain(): void {
    if (this.upstreamPausedForClient) {
      this.upstreamPausedForClient = false;
      this.upstream?.socket.resume();
    }
  }

  onUpstreamData(chunk: Buffer): void {
    const up = this.upstream!;
    this.responseStarted = true;
    if (this.responseHeadDone) {
      this.forwardResponseBody(up, chunk, 0, false);
      return;
    }
    const pos = this.readResponseHead(up, chunk);
    if (pos >= 0) this.forwardResponseBody(up, chunk, pos, true);
  }

  /** Returns the index after the response head, or -1 (need more, handled, or failed). */
  private readResponseHead(up: UpstreamConn, chunk: Buffer): number {
    const parser = up.parser;
    let pos = 0;
    for (;;) {
      const r = parser.execute(chunk, pos, chunk.length);
      if (r === NEED_MORE) return -1;
      if (r === ERROR) {
        this.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', parser.error ?? 'invalid response head'));
        return -1;
      }
      const status = parser.statusCode;
      if (status > 599) {
        this.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', `status ${status} is outside 100-599`));
        return -1;
      }
      if (status >= 100 && status < 200 && status !== 101) {
        // Interim response: pass it on (not to HTTP/1.0 clients) and read the final one.
        if (++this.interimCount > MAX_INTERIM_RESPONSES) {
          this.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', `more than ${MAX_INTERIM_RESPONSES} interim responses`));
          return -1;
        }
        if (this.parser.versionMinor === 1) this.writeClientHead(buildInterimHead(HEAD_BUILDER, parser, this.ctx));
        parser.reset();
        parser.requestMethod = this.parser.method;
        pos = r;
        continue;
      }
      if (status === 101) {
        const offer = this.upgradeOffer;
        if (offer === null || !this.dest.isUpgrade) {
          this.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', '101 without an upgrade request'));
          return -1;
        }
        if (!isAcceptedUpgrade(parser, offer)) {
          this.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', '101 switching to a protocol that was not offered'));
          return -1;
        }
        this.status = 101;
        this.writeClientHead(buildInterimHead(HEAD_BUILDER, parser, this.ctx));
        this.startUpgradeTunnel(up, chunk, r);
        return -1;
      }
      this.status = status;
      this.responseHeadDone = true;
      this.prepareResponseHead(up);
      up.body.reset(parser.bodyKind, parser.contentLength);
      return r;
    }
  }

  /** The response head for the client, left in HEAD_BUILDER: forwardResponseBody writes it with the first body bytes. */
  private prepareResponseHead(up: UpstreamConn): void {
    const p = up.parser;
    const clientMinor = this.parser.versionMinor;
    if (p.bodyKind === BODY_EOF) this.keepAlive = false;
    if (clientMinor === 0 && p.bodyKind === BODY_CHUNKED) {
      // HTTP/1.0 clients cannot read chunked: decode and delimit by close (no trailers go on at all).
      this.dechunk = true;
      this.keepAlive = false;
      up.body.onData = this.decodedWriter ??= (buf, start, end) => this.writeClient(buf, start, end);
      up.body.filterTrailers = false;
    } else {
      up.body.onData = null;
      up.body.filterTrailers = true; // trailer fields that frame or route never go on
    }
    buildResponseHead(HEAD_BUILDER, p, clientMinor, this.keepAlive, this.ctx);
    this.bytesOut += p.headEnd - p.headStart;
  }

  /** BodyParser onData for HTTP/1.0 clients of a chunked response; made the first time one is needed. */
  private decodedWriter: ((buf: Buffer, start: number, end: number) => void) | null = null;

  /** Body bytes chunk[pos..] to the client; with `withHead`, the head waiting in HEAD_BUILDER goes first, in the same write when the body part is small. */
  private forwardResponseBody(up: UpstreamConn, chunk: Buffer, pos: number, withHead: boolean): void {
    const body = up.body;
    const sock = this.socket;
    // Decoded bodies are written from inside execute(): their head must already be out.
    if (withHead && this.dechunk) sock.write(HEAD_BUILDER.build(null, 0, 0));
    const i = body.execute(chunk, pos, chunk.length);
    if (i === ERROR) {
      if (withHead && !this.dechunk) {
        // The head was built but never sent: the client can still get a 502.
        HEAD_BUILDER.reset();
        this.responseHeadDone = false;
      }
      this.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', body.error ?? 'invalid response body'));
      return;
    }
    if (!this.dechunk) {
      this.bytesOut += i - pos;
      // Up to forwardEnd: trailer fields are held back by the parser and sent filtered once complete.
      const end = body.forwardEnd;
      if (!withHead) {
        if (end > pos) sock.write(piece(chunk, pos, end));
      } else if (end - pos <= INLINE_BODY_BYTES) {
        sock.write(HEAD_BUILDER.build(chunk, pos, end));
      } else {
        sock.cork();
        sock.write(HEAD_BUILDER.build(null, 0, 0));
        sock.write(piece(chunk, pos, end));
        sock.uncork();
      }
      if (body.done) {
        const trailers = body.takeTrailerSection();
        if (trailers !== null) sock.write(trailers);
      }
    }
    if (sock.writableNeedDrain) {
      this.upstreamPausedForClient = true;
      up.socket.pause();
    }
    if (body.done) {
      this.responseDone = true;
      if (i < chunk.length) up.exchanges = -1; // trailing garbage: never reuse
      // An early response (request body still coming) ends the connection after it.
      if (!this.requestDone) this.keepAlive = false;
      this.finishExchange();
    }
  }

  /** A head built for the client (interim, 101): a Buffer of its own, which the write keeps. */
  private writeClientHead(head: Buffer): void {
    this.bytesOut += head.length;
    if (!this.socket.write(head) && this.upstream !== null) {
      this.upstreamPausedForClient = true;
      this.upstream.socket.pause();
    }
  }

  /** Decoded body bytes for an HTTP/1.0 client: buf is the upstream read buffer, hence piece(). */
  private writeClient(buf: Buffer, start: number, end: number): void {
    this.bytesOut += end - start;
    if (!this.socket.write(piece(buf, start, end)) && this.upstream !== null) {
      this.upstreamPausedForClient = true;
      this.upstream.socket.pause();
    }
  }

  onUpstreamEnd(): void {
    const up = this.upstream;
    if (up === null) return;
    if (this.responseHeadDone && !this.responseDone && up.body.finish()) {
      // Close-delimited response complete.
      this.responseDone = true;
      up.exchanges = -1;
      this.keepAlive = false;
      this.finishExchange();
    }
  }

  onUpstreamClose(): void {
    const up = this.upstream;
    if (up === null || this.state !== S_EXCHANGE) return;
    up.owner = null;
    this.upstream = null;
    if (!this.responseStarted && up.exchanges > 0 && !this.retried && this.isRetryable()) {
      // A pooled connection died under us before answering: once more on a fresh one.
      this.retried = true;
      this.state = S_SETUP;
      this.dial([up.address]);
      return;
    }
    if (!this.responseHeadDone) {
      const err = up.lastError;
      this.fail(new ProxyError('UPSTREAM_INCOMPLETE', err ? err.code ?? err.message : 'upstream closed before the response head'));
      return;
    }
    // Truncated body: the client must see the connection end, not a short message followed by more.
    this.errorCode = 'UPSTREAM_INCOMPLETE';
    this.logExchange();
    this.socket.destroy();
  }

  private isRetryable(): boolean {
    const m = this.parser.method;
    if (this.reqBody.done === false || this.bytesIn > 0) return false;
    return m === METHOD_GET || m === METHOD_HEAD || m === METHOD_OPTIONS || m === METHOD_TRACE || m === METHOD_PUT || m === METHOD_DELETE;
  }

  private finishExchange(): void {
    const up = this.upstream;
    if (up !== null) {
      this.upstream = null;
      up.owner = null;
      if (this.upstreamPausedForClient) {
        this.upstreamPausedForClient = false;
        up.socket.resume();
      }
      const reusable = up.exchanges >= 0 && this.requestDone && up.parser.keepAlive && up.parser.bodyKind !== BODY_EOF;
      if (reusable) {
        up.exchanges++;
        this.ctx.pool.release(up);
      } else {
        up.destroy();
      }
    }
    this.logExchange();
    if (!this.keepAlive || !this.requestDone) {
      this.closeGracefully();
      return;
    }
    this.state = S_HEAD;
    this.logged = false;
    this.parser.reset();
    this.clientPausedForUpstream = false;
    this.armTimer(T_IDLE, this.ctx.config.limits.idleTimeoutMs);
    const stash = this.stash;
    if (stash !== null) {
      this.stash = null;
      this.readHead(stash, this.stashStart);
    }
    if (this.state !== S_HEAD) return;
    // The client sent its FIN: nothing more will come after the stashed requests.
    if (this.clientEnded) this.closeGracefully();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  // ------------------------------------------------------------ tunnels

  private startTunnel(upstreamSocket: Conn): void {
    this.state = S_TUNNEL;
    this.status = 200;
    this.socket.write(CONNECT_ESTABLISHED);
    this.beginSplice(upstreamSocket);
    const stash = this.stash;
    this.stash = null;
    if (stash !== null) this.splice!.writeEarly(true, stash.subarray(this.stashStart));
    // The client may have sent its FIN while we were connecting.
    if (this.socket.readableEnded) upstreamSocket.end();
  }

  private startUpgradeTunnel(up: UpstreamConn, chunk: Buffer, after: number): void {
    this.state = S_TUNNEL;
    this.upstream = null;
    up.owner = null;
    this.beginSplice(up.socket);
    const splice = this.splice!;
    if (after < chunk.length) splice.writeEarly(false, piece(chunk, after, chunk.length));
    const stash = this.stash;
    this.stash = null;
    if (stash !== null) splice.writeEarly(true, stash.subarray(this.stashStart));
  }

  private beginSplice(upstreamSocket: Conn): void {
    const client = this.socket;
    client.removeListener('data', onClientData);
    client.removeListener('end', onClientEnd);
    client.removeListener('drain', onClientDrain);
    client.removeListener('error', onClientError); // the splice handles errors from here on
    // An upgraded pooled-style connection sheds its HTTP handlers; a fresh CONNECT socket has none.
    upstreamSocket.removeAllListeners('data');
    upstreamSocket.removeAllListeners('end');
    upstreamSocket.removeAllListeners('drain');
    upstreamSocket.removeAllListeners('close');
    this.stopTimer(); // the splice's idle timer covers both sides
    this.method = methodForLog(this.parser);
    this.releaseParser();
    this.ctx.metrics.tunnelOpened();
    this.splice = new Splice(client, upstreamSocket, this.ctx.config.limits.idleTimeoutMs, null);
  }

  // ------------------------------------------------------------ errors and closing

  /** Failure before any response byte reached the client: an error reply, then close. */
  fail(err: unknown): void {
    const up = this.upstream;
    if (up !== null) {
      this.upstream = null;
      up.destroy();
    }
    if (this.responseStarted && this.responseHeadDone) {
      this.errorCode = toProxyError(err).code;
      this.logExchange();
      this.socket.destroy();
      return;
    }
    this.replyError(toProxyError(err));
  }

  private replyError(err: ProxyError): void {
    if (this.state === S_CLOSED) return;
    this.status = err.status;
    this.errorCode = err.code;
    const reply = renderErrorReply(err, { isHead: this.parser.method === METHOD_HEAD });
    this.bytesOut += reply.length;
    if (this.socket.writableCorked) this.socket.uncork();
    this.socket.write(reply);
    this.logExchange();
    this.closeGracefully();
  }

  /** End our side after pending writes; the client's FIN (or the idle timer) finishes the close. */
  private closeGracefully(): void {
    if (this.state === S_CLOSED) return;
    this.state = S_CLOSED;
    this.stash = null;
    const s = this.socket;
    s.end();
    // Keep reading (and discarding) so unread request bytes do not turn our FIN into a reset.
    if (s.isPaused()) s.resume();
    // A fixed linger: a client trickling bytes cannot keep a closing connection open.
    this.armTimer(T_LINGER, LINGER_MS);
  }

  /**
   * The client's FIN means "no more requests": every complete request already
   * received is still answered in order (finishExchange serves the stash), then
   * the connection closes. A head or body cut short by it is dropped.
   */
  onClientEnd(): void {
    this.clientEnded = true;
    if (this.state === S_HEAD) {
      this.closeGracefully();
      return;
    }
    if (this.state === S_EXCHANGE && !this.requestDone) this.endRequestBodyAtEof();
    // In S_SETUP the body has not started yet: attach() checks it after forwarding the stash.
  }

  /** EOF while the request body streams: complete only if its framing allows (never for a length or chunked body). */
  private endRequestBodyAtEof(): void {
    if (this.reqBody.finish()) {
      this.requestSent();
      if (this.responseDone) this.finishExchange();
      return;
    }
    // The origin must not take a truncated body as complete: drop both sides.
    this.errorCode = 'REQUEST_MALFORMED';
    this.status = 400;
    const up = this.upstream;
    this.upstream = null;
    up?.destroy();
    this.logExchange();
    this.state = S_CLOSED;
    this.socket.destroy();
  }

  onClientClose(): void {
    const previous = this.state;
    this.state = S_CLOSED;
    this.stopTimer();
    if (this.responseTimer !== null) {
      clearTimeout(this.responseTimer);
      this.responseTimer = null;
    }
    const up = this.upstream;
    if (up !== null) {
      this.upstream = null;
      up.destroy();
      if (previous === S_EXCHANGE && !this.responseDone) {
        this.errorCode ??= 'UPSTREAM_INCOMPLETE';
      }
    }
    if (previous === S_SETUP || (previous === S_EXCHANGE && !this.responseDone)) this.logExchange();
    if (this.splice !== null) {
      this.ctx.metrics.tunnelClosed(this.splice.bytesUp, this.splice.bytesDown);
      this.bytesIn = this.splice.bytesUp;
      this.bytesOut += this.splice.bytesDown;
      this.logExchange();
      this.splice = null;
    }
    this.ctx.connections.delete(this);
    this.ctx.metrics.connectionClosed();
    this.releaseParser();
  }

  /** Hand the request parser to the next connection: an idle tunnel should not hold one. */
  private releaseParser(): void {
    const parser = this.parser;
    if (parser === IDLE_PARSER) return;
    this.parser = IDLE_PARSER;
    parser.reset();
    if (this.ctx.spareParsers.length < MAX_SPARE_PARSERS) this.ctx.spareParsers.push(parser);
  }

  /**
   * A bug surfaced as an exception on this connection's data path: drop this
   * connection (both sides) and keep serving the others.
   */
  crashed(err: unknown): void {
    reportCrash(err);
    this.errorCode ??= 'INTERNAL_ERROR';
    this.destroy();
  }

  drain(): void {
    if (this.state === S_HEAD && !this.partialHead && this.stash === null) this.closeGracefully();
    else this.keepAlive = false;
  }

  destroy(): void {
    this.splice?.destroy();
    this.upstream?.destroy();
    this.socket.destroy();
  }

  /** The client's address: both kinds of socket ask the kernel once and keep the answer, also after a close. */
  private clientAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  private logExchange(): void {
    if (this.logged) return;
    this.logged = true;
    const ctx = this.ctx;
    const durationMs = performance.now() - this.startMs;
    const status = this.status;
    ctx.metrics.requestDone(this.dest.mode, status, durationMs);
    const log = ctx.accessLog;
    if (log === null) return;
    const authority = this.dest.authority;
    log.write({
      client: this.clientAddress(),
      user: null,
      mode: this.dest.mode,
      method: this.method ?? methodForLog(this.parser),
      // The name as resolved (lower case, A-label, no trailing dot) once known, else as received.
      host: hostForLog(this.dest.host, authority?.host ?? ''),
      port: authority?.port ?? 0,
      address: this.address,
      status,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      durationMs,
      dnsMs: this.dnsMs,
      connectMs: this.connectMs,
      error: this.errorCode,
    });
  }
}

function hostForLog(host: HostTarget | null, received: string): string {
  if (host === null) return received;
  return host.kind === 'name' ? host.name : host.address;
}

/** Log names of the methods the scanner knows (METHOD_* order); others are sliced from the head. */
const METHOD_NAMES = ['', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

function methodForLog(parser: HeadParser): string {
  const m = parser.method;
  if (m > 0 && m < METHOD_NAMES.length) return METHOD_NAMES[m]!;
  return parser.methodEnd > parser.methodStart ? parser.methodName() : '';
}


function onClientData(this: ClientSocket, chunk: Buffer): void {
  try {
    this.dfpClient.onData(chunk);
  } catch (err) {
    this.dfpClient.crashed(err);
  }
}
function onClientEnd(this: ClientSocket): void {
  this.dfpClient.onClientEnd();
}
function onClientClose(this: ClientSocket): void {
  this.dfpClient.onClientClose();
}
function onClientDrain(this: ClientSocket): void {
  this.dfpClient.onClientDrain();
}
function onClientError(this: ClientSocket): void {
  // 'close' follows; nothing to do here but keep the error from being thrown.
}
let lastCrashReport = 0;

function reportCrash(err: unknown): void {
  const now = Date.now();
  if (now - lastCrashReport < 1_000) return;
  lastCrashReport = now;
  process.stderr.write(`dfp: internal error, connection dropped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}

function onConnTimer(conn: ClientConn): void {
  conn.timerFired();
}

function onResponseTimer(conn: ClientConn): void {
  conn.responseTimerFired();
}

