/**
 * One exchange on a client connection: its state (destination, timings, byte counts, status, error: what the
 * access log says about it) and, for HTTP, the HTTP/1.1 forwarding itself: the request head and body to the
 * origin, interim heads, the final head and body back, backpressure both ways, responseTimeout.
 *
 * One Exchange per client connection, reset per request: nothing is allocated per request on the keep-alive
 * path. The connection (connection.ts) owns the socket's lifecycle — handlers, its timer, the bytes held
 * between requests, closing — and drives the phases up to an attached upstream connection; from there this
 * module runs the exchange and hands back through ExchangeHost when it ends.
 */
import type { Conn } from '../io/conn.js';
import {
  BODY_CHUNKED, BODY_EOF, BodyParser, ERROR, METHOD_DELETE, METHOD_GET, METHOD_HEAD, METHOD_OPTIONS, METHOD_PUT,
  METHOD_TRACE, NEED_MORE, type HeadParser,
} from '../http/index.js';
import { ProxyError, type ErrorCode } from '../errors.js';
import type { ResolvedAddress } from '../dns/cache.js';
import type { ProxyContext } from './context.js';
import type { RuntimeSnapshot } from './snapshot.js';
import { newDestination, type Destination } from './destination-choice.js';
import { HeadBuilder } from './head-builder.js';
import { piece } from './read-buffer.js';
import { logExchange, type ExchangeRecord } from './reply.js';
import { buildInterimHead, buildRequestHead, buildResponseHead } from './rewrite.js';
import type { Denial } from '../policy/decision.js';
import type { PolicyNote } from './destination.js';
import { isAcceptedUpgrade, type UpgradeOffer } from './upgrade.js';
import type { UpstreamConn, UpstreamOwner } from './upstream-conn.js';

/** Shared by every exchange: heads are built and written synchronously. */
const HEAD_BUILDER = new HeadBuilder();
/** Body bytes up to this size are copied next to their head: one send instead of two. */
const INLINE_BODY_BYTES = 16 * 1024;
/** Interim (1xx) responses accepted before the final one; more is an origin error. */
const MAX_INTERIM_RESPONSES = 16;
/** Placeholder until a connection's first HTTP exchange (never reset or fed): a CONNECT tunnel needs none. */
const NO_BODY_YET = new BodyParser();

/** What the client connection does for its exchange. */
export interface ExchangeHost {
  readonly ctx: ProxyContext;
  /** The runtime snapshot this request started with. */
  readonly snap: RuntimeSnapshot;
  readonly socket: Conn;
  /** The request head being served (the connection's parser). */
  readonly request: HeadParser;
  /** The client sent its FIN. */
  readonly clientEnded: boolean;
  /** Bytes after this request's body (the next requests), held until the exchange is done. */
  hold(buf: Buffer, start: number): void;
  /** The exchange failed: an error reply if the client has no response head yet, else the connection ends. */
  fail(err: unknown): void;
  /** The exchange is complete, logged, its upstream released: serve the next request or close. */
  exchangeDone(): void;
  /** A 101: the connection becomes a tunnel over `up`'s socket; chunk[after..] is the origin's first tunnel bytes. */
  switchProtocols(up: UpstreamConn, chunk: Buffer, after: number): void;
  /** A pooled connection died before answering a retryable request: dial `address` once more. */
  redial(address: ResolvedAddress): void;
  crashed(err: unknown): void;
  /** The client's address, for the log. */
  clientAddress(): string;
}

export class Exchange implements UpstreamOwner, ExchangeRecord, PolicyNote {
  readonly host: ExchangeHost;
  readonly socket: Conn;

  // What the log says about the exchange (tunnels too).
  readonly dest: Destination = newDestination();
  status = 0;
  startMs = 0;
  dnsMs = 0;
  connectMs = 0;
  bytesIn = 0;
  bytesOut = 0;
  errorCode: ErrorCode | null = null;
  /** The policy rule behind a denial (for the log). */
  rule: string | null = null;
  /** The authenticated user (auth.basic), for the log; the rate-limit key. */
  user: string | null = null;
  // PolicyNote: from the name step to the address step, and the report-mode verdict for the log.
  nameAllowed = false;
  wouldDeny: Denial | null = null;
  /** Method name kept for the log once the parser is gone (tunnels). */
  method: string | null = null;
  /** The address dialled (for the log). */
  address: string | null = null;
  /** In the access log and the metrics already: one line per exchange, whatever path ends it. */
  logged = false;

  // The HTTP exchange.
  /** The client connection stays open after this exchange. */
  keepAlive = true;
  /** The Upgrade this request may make (access.upgrades), or null: it goes as an ordinary request. */
  upgradeOffer: UpgradeOffer | null = null;
  requestDone = false;
  responseStarted = false;
  responseHeadDone = false;
  responseDone = false;
  /** A paused side is waiting for the other to drain. */
  clientPausedForUpstream = false;
  private upstreamPausedForClient = false;
  private upstream: UpstreamConn | null = null;
  private reqBody: BodyParser = NO_BODY_YET;
  private dechunk = false;
  private retried = false;
  private interimCount = 0;
  /** bytesIn + bytesOut when the idle check last looked (-1: not yet). */
  private movedAtCheck = -1;
  /**
   * limits.responseTimeout, refreshed when a request is fully sent; when it fires it acts only if that
   * request's final head is still missing. Made on the first exchange that needs it.
   */
  private responseTimer: NodeJS.Timeout | null = null;
  /** BodyParser onData for HTTP/1.0 clients of a chunked response; made the first time one is needed. */
  private decodedWriter: ((buf: Buffer, start: number, end: number) => void) | null = null;

  constructor(host: ExchangeHost) {
    this.host = host;
    this.socket = host.socket;
  }

  /** A new exchange begins (a head was read, or failed to be). */
  reset(startMs: number): void {
    this.startMs = startMs;
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
    this.rule = null;
    this.user = null;
    this.nameAllowed = false;
    this.wouldDeny = null;
    this.address = null;
    this.upgradeOffer = null;
    this.interimCount = 0;
    this.logged = false;
    this.clientPausedForUpstream = false;
    this.dest.mode = 'forward';
    this.dest.authority = null;
    this.dest.host = null;
  }

  /** The metric and the access-log line, once. */
  log(): void {
    if (this.logged) return;
    this.logged = true;
    const host = this.host;
    logExchange(host.ctx, this, host.clientAddress(), host.request);
  }

  // ------------------------------------------------------------ request

  /**
   * The upstream connection is ready: send the request head, and the body bytes that came with it
   * (stash[stashStart..], which is the exchange's now: what is not body goes back through host.hold()).
   */
  attach(up: UpstreamConn, stash: Buffer | null, stashStart: number): void {
    const host = this.host;
    const p = host.request;
    this.upstream = up;
    this.address = up.address.address;
    this.movedAtCheck = -1;
    up.owner = this;
    up.parser.reset();
    up.parser.requestMethod = p.method;
    const sock = up.socket;
    if (this.reqBody === NO_BODY_YET) {
      this.reqBody = new BodyParser();
      this.reqBody.filterTrailers = true; // trailer fields that frame or route never go on
    }
    this.reqBody.reset(p.bodyKind, p.contentLength);
    if (this.reqBody.done) this.requestSent();
    const d = this.dest;
    const head = buildRequestHead(HEAD_BUILDER, p, d.authority!, d.rewriteHost, this.upgradeOffer?.line ?? null, host.snap);
    if (stash !== null && !this.requestDone) {
      // Head and the body bytes that came with it leave in one writev.
      sock.cork();
      sock.write(head);
      this.forwardRequestBody(stash, stashStart);
      sock.uncork();
    } else {
      sock.write(head);
      if (stash !== null) host.hold(stash, stashStart);
    }
    if (this.upstream !== up) return; // failed while sending
    if (host.clientEnded && !this.requestDone) {
      // The FIN came while we connected: the body can only be as long as the stash was.
      this.endRequestBodyAtEof();
      return;
    }
    if (sock.isPaused()) sock.resume();
    if (!this.requestDone && !this.clientPausedForUpstream && this.socket.isPaused()) this.socket.resume();
  }

  /** Request body bytes buf[start..] from the client. */
  forwardRequestBody(buf: Buffer, start: number): void {
    const body = this.reqBody;
    const i = body.execute(buf, start, buf.length);
    if (i === ERROR) {
      this.host.fail(new ProxyError('REQUEST_MALFORMED', body.error ?? 'invalid request body'));
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
      if (i < buf.length) this.host.hold(buf, i);
      if (this.responseDone) this.finish();
    }
  }

  private writeUpstream(part: Buffer): void {
    if (!this.upstream!.socket.write(part)) {
      this.clientPausedForUpstream = true;
      this.socket.pause();
    }
  }

  /** The request is fully sent: its final response head is due within limits.responseTimeout. */
  private requestSent(): void {
    this.requestDone = true;
    if (this.responseHeadDone) return;
    const ms = this.host.snap.config.limits.responseTimeoutMs;
    if (ms <= 0) return;
    if (this.responseTimer === null) {
      this.responseTimer = setTimeout(onResponseTimer, ms, this);
      this.responseTimer.unref();
    } else {
      this.responseTimer.refresh();
    }
  }

  responseTimerFired(): void {
    if (this.upstream === null || !this.requestDone || this.responseHeadDone) return;
    this.host.fail(new ProxyError('RESPONSE_TIMEOUT', `no response head within ${this.host.snap.config.limits.responseTimeoutMs} ms of the request`));
  }

  /** EOF while the request body streams: complete only if its framing allows (never for a length or chunked body). */
  endRequestBodyAtEof(): void {
    if (this.reqBody.finish()) {
      this.requestSent();
      if (this.responseDone) this.finish();
      return;
    }
    // The origin must not take a truncated body as complete: drop both sides.
    this.errorCode = 'REQUEST_MALFORMED';
    this.status = 400;
    this.dropUpstream();
    this.log();
    this.socket.destroy();
  }

  /**
   * idleTimeout inside an exchange: the connection's timer is not refreshed per byte (that would cost a
   * timer-list operation per read); when it fires, this looks whether any byte moved since its last look.
   * null: keep waiting; else the error that ends the exchange. So an exchange where nothing moves ends
   * between one and two idleTimeouts after its last byte. The wait for the final head after the whole
   * request was sent is left to responseTimeout (unless that is off): a long poll is not idle.
   */
  checkIdle(idleMs: number): ProxyError | null {
    const moved = this.bytesIn + this.bytesOut;
    const awaitingHead = this.requestDone && !this.responseHeadDone && this.host.snap.config.limits.responseTimeoutMs > 0;
    if (moved !== this.movedAtCheck || awaitingHead) {
      this.movedAtCheck = moved;
      return null;
    }
    const detail = `no byte moved either way for ${idleMs} ms`;
    // A client that stopped in the middle of its body (we were reading it) is told so; else the origin is silent or not reading.
    if (!this.requestDone && !this.clientPausedForUpstream && !this.responseStarted) return new ProxyError('REQUEST_BODY_TIMEOUT', detail);
    return new ProxyError('IDLE_TIMEOUT', detail);
  }

  // ------------------------------------------------------------ response

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
    const request = this.host.request;
    let pos = 0;
    for (;;) {
      const r = parser.execute(chunk, pos, chunk.length);
      if (r === NEED_MORE) return -1;
      if (r === ERROR) return this.failResponse(parser.error ?? 'invalid response head');
      const status = parser.statusCode;
      if (status > 599) return this.failResponse(`status ${status} is outside 100-599`);
      if (status >= 100 && status < 200 && status !== 101) {
        // Interim response: pass it on (not to HTTP/1.0 clients) and read the final one.
        if (++this.interimCount > MAX_INTERIM_RESPONSES) return this.failResponse(`more than ${MAX_INTERIM_RESPONSES} interim responses`);
        if (request.versionMinor === 1) this.writeClientHead(buildInterimHead(HEAD_BUILDER, parser, this.host.snap));
        parser.reset();
        parser.requestMethod = request.method;
        pos = r;
        continue;
      }
      if (status === 101) {
        const offer = this.upgradeOffer;
        if (offer === null || !this.dest.isUpgrade) return this.failResponse('101 without an upgrade request');
        if (!isAcceptedUpgrade(parser, offer)) return this.failResponse('101 switching to a protocol that was not offered');
        this.status = 101;
        this.writeClientHead(buildInterimHead(HEAD_BUILDER, parser, this.host.snap));
        this.upstream = null;
        up.owner = null;
        this.host.switchProtocols(up, chunk, r);
        return -1;
      }
      this.status = status;
      this.responseHeadDone = true;
      this.prepareResponseHead(up);
      up.body.reset(parser.bodyKind, parser.contentLength);
      return r;
    }
  }

  private failResponse(detail: string): number {
    this.host.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', detail));
    return -1;
  }

  /** The response head for the client, left in HEAD_BUILDER: forwardResponseBody writes it with the first body bytes. */
  private prepareResponseHead(up: UpstreamConn): void {
    const p = up.parser;
    const clientMinor = this.host.request.versionMinor;
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
    buildResponseHead(HEAD_BUILDER, p, clientMinor, this.keepAlive, this.host.snap);
    this.bytesOut += p.headEnd - p.headStart;
  }

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
      this.host.fail(new ProxyError('UPSTREAM_PROTOCOL_ERROR', body.error ?? 'invalid response body'));
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
      this.finish();
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

  // ------------------------------------------------------------ both sides' events

  onUpstreamDrain(): void {
    if (this.clientPausedForUpstream) {
      this.clientPausedForUpstream = false;
      if (this.upstream !== null && !this.requestDone) this.socket.resume();
    }
  }

  onClientDrain(): void {
    if (this.upstreamPausedForClient) {
      this.upstreamPausedForClient = false;
      this.upstream?.socket.resume();
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
      this.finish();
    }
  }

  onUpstreamClose(): void {
    const up = this.upstream;
    if (up === null) return;
    up.owner = null;
    this.upstream = null;
    if (!this.responseStarted && up.exchanges > 0 && !this.retried && this.isRetryable()) {
      // A pooled connection died under us before answering: once more on a fresh one.
      this.retried = true;
      this.host.redial(up.address);
      return;
    }
    if (!this.responseHeadDone) {
      const err = up.lastError;
      this.host.fail(new ProxyError('UPSTREAM_INCOMPLETE', err ? err.code ?? err.message : 'upstream closed before the response head'));
      return;
    }
    // Truncated body: the client must see the connection end, not a short message followed by more.
    this.errorCode = 'UPSTREAM_INCOMPLETE';
    this.log();
    this.socket.destroy();
  }

  crashed(err: unknown): void {
    this.host.crashed(err);
  }

  private isRetryable(): boolean {
    const m = this.host.request.method;
    if (this.reqBody.done === false || this.bytesIn > 0) return false;
    return m === METHOD_GET || m === METHOD_HEAD || m === METHOD_OPTIONS || m === METHOD_TRACE || m === METHOD_PUT || m === METHOD_DELETE;
  }

  // ------------------------------------------------------------ ending

  /** Both directions complete: release the upstream connection (to the pool when it can serve again), log, hand back. */
  private finish(): void {
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
        this.host.ctx.pool.release(up);
      } else {
        up.destroy();
      }
    }
    this.log();
    this.host.exchangeDone();
  }

  /** Close the upstream connection of a failed or abandoned exchange. */
  dropUpstream(): void {
    const up = this.upstream;
    if (up !== null) {
      this.upstream = null;
      up.destroy();
    }
  }

  /** The connection is gone: nothing of this exchange may fire later. */
  close(): void {
    this.dropUpstream();
    if (this.responseTimer !== null) {
      clearTimeout(this.responseTimer);
      this.responseTimer = null;
    }
  }
}

function onResponseTimer(x: Exchange): void {
  x.responseTimerFired();
}
