/**
 * One client connection on the HTTP listener: its lifecycle (socket handlers, one timer, the bytes held
 * between requests, closing) and the phases of each request up to an attached upstream connection:
 * read the head → route (mode, destination, route; destination-choice.ts) → decide and resolve
 * (destination.ts) → connect (pooled or dialled) → exchange (exchange.ts) or tunnel (tunnel.ts) → log
 * (reply.ts). One exchange at a time, so responses leave in request order; pipelined bytes wait until the
 * exchange before them is done. Every failure goes through fail() to the error table.
 *
 * Handlers are module-level functions reaching this object through the socket; nothing is allocated per
 * request on the keep-alive path apart from the slices written out.
 */
import type { Conn } from '../io/conn.js';
import { performance } from 'node:perf_hooks';
import { ERROR, H_PROXY_AUTHORIZATION, HEADER_STRIDE, HeadParser, NEED_MORE } from '../http/index.js';
import { ProxyError, toProxyError, type ErrorCode } from '../errors.js';
import type { ResolvedAddress } from '../dns/cache.js';
import { connectTo, type ConnectResult } from '../upstream/connect.js';
import { originateTls, tlsIdentity } from '../upstream/tls.js';
import { adoptNetSocket } from '../io/conn.js';
import type net from 'node:net';
import type { Closable, ProxyContext } from './context.js';
import type { Peer } from './peer.js';
import { releaseClient } from './client-count.js';
import type { RuntimeSnapshot } from './snapshot.js';
import { chooseDestination } from './destination-choice.js';
import { checkedAddressesNow, rateLimited, refuse, resolveAndCheck, takeToken } from './destination.js';
import type { AuthVerdict, BasicAuth } from '../policy/auth.js';
import { Exchange, type ExchangeHost } from './exchange.js';
import { describePartialHead } from './partial-head.js';
import { piece } from './read-buffer.js';
import { errorReply, methodForLog } from './reply.js';
import { TUNNEL_ONREAD, type Splice } from './splice.js';
import { answerConnect, openCheckedTunnel, openConnectTunnel, openUpgradeTunnel } from './tunnel.js';
import { ConnectSniCheck, SNI_PASS, SNI_WAIT } from './connect-sni.js';
import { offeredUpgrade } from './upgrade.js';
import { UPSTREAM_ONREAD, UpstreamConn } from './upstream-conn.js';

const S_HEAD = 0; // waiting for / reading a request head
const S_SETUP = 1; // head read; resolving and connecting
const S_EXCHANGE = 2; // request sent or streaming; response pending or streaming
const S_TUNNEL = 3; // CONNECT or upgrade: spliced, no more HTTP
const S_CLOSED = 4;
const S_SNI_CHECK = 5; // CONNECT answered; its first client bytes are read for the SNI (access.connectSni)

/** Stands in for the parser of a connection that no longer parses (tunnel, closed). */
const IDLE_PARSER = new HeadParser('request');
const MAX_SPARE_PARSERS = 1024;
/** How long a closing connection keeps reading before it is destroyed. */
const LINGER_MS = 2_000;

// What the connection's timer is for (ClientConn.timerKind).
const T_NONE = 0;
const T_IDLE = 1;
const T_HEAD = 2;
const T_LINGER = 3;
const T_EXCHANGE = 4; // idleTimeout within an exchange: checked when it fires, not refreshed per byte
const T_SNI = 5; // headerTimeout for the first bytes of a checked CONNECT

interface ClientSocket extends Conn {
  dfpOwner: ClientConn;
}

export class ClientConn implements ExchangeHost, Closable {
  readonly ctx: ProxyContext;
  /** The runtime snapshot this connection's current request uses (taken from ctx per request). */
  snap: RuntimeSnapshot;
  readonly socket: Conn;
  private parser: HeadParser;
  private state = S_HEAD;
  /** The current (or last) exchange: one object for the connection's life, reset per request. */
  private readonly x: Exchange;

  /** Bytes read but not processed yet (after a head during setup, or pipelined). */
  private stash: Buffer | null = null;
  private stashStart = 0;

  private splice: Splice | null = null;
  /** A CONNECT being checked (access.connectSni): the check and the upstream socket waiting for its verdict. */
  private sniCheck: ConnectSniCheck | null = null;
  private checkedUpstream: Conn | null = null;
  /**
   * One timer per connection, for whichever limit applies now: idleTimeout between requests and inside
   * an exchange, headerTimeout while a head arrives, the linger after our FIN. Not the socket's own
   * setTimeout: that refreshes on every read and write and keeps a Timeout and a bound function per socket.
   */
  private timer: NodeJS.Timeout | null = null;
  private timerMs = 0;
  private timerKind = T_NONE;
  /** The timer is scheduled (not fired, not stopped). */
  private timerActive = false;
  /** When the first bytes of a head that spans reads arrived (0: none pending). */
  private headStartMs = 0;
  /** Some bytes of the next head have arrived, not all. */
  private partialHead = false;
  /** The client sent its FIN: serve what was received, then close. */
  clientEnded = false;
  /** The last credentials auth accepted on this connection (rememberCredentials). */
  private authOf: BasicAuth | null = null;
  private authBytes: Buffer | null = null;
  private authUser: string | null = null;

  /** The client as the listener chain established it. */
  readonly peer: Peer;

  constructor(ctx: ProxyContext, socket: Conn, peer: Peer) {
    this.ctx = ctx;
    this.peer = peer;
    this.snap = ctx.snapshot;
    this.socket = socket;
    this.parser = spareParser(ctx, this.snap.config.limits.maxHeaderBytes);
    this.x = new Exchange(this);
    const s = socket as ClientSocket;
    s.dfpOwner = this;
    s.on('data', onClientData);
    s.on('end', onClientEnd);
    s.on('close', onClientClose);
    s.on('drain', onClientDrain);
    s.on('error', onClientError);
    this.armTimer(T_IDLE, this.snap.config.limits.idleTimeoutMs);
    ctx.connections.add(this);
    ctx.metrics.connectionOpened();
  }

  /** The request head being served. */
  get request(): HeadParser {
    return this.parser;
  }

  // ------------------------------------------------------------ reading heads

  onData(chunk: Buffer): void {
    if (this.state === S_CLOSED) return; // discarding until the client's FIN
    if (this.state === S_HEAD) this.readHead(chunk, 0);
    else if (this.state === S_SNI_CHECK) this.checkSni(this.sniCheck!.push(chunk));
    else if (this.state === S_EXCHANGE && !this.x.requestDone) this.x.forwardRequestBody(chunk, 0);
    else this.keep(chunk, 0);
  }

  /** Hold bytes until the current exchange is done; reading stops meanwhile. */
  private keep(buf: Buffer, start: number): void {
    if (start >= buf.length) return;
    this.hold(buf, start);
    this.socket.pause();
  }

  hold(buf: Buffer, start: number): void {
    if (start >= buf.length) return;
    if (this.stash === null) {
      this.stash = buf;
      this.stashStart = start;
    } else {
      this.stash = Buffer.concat([this.stash.subarray(this.stashStart), buf.subarray(start)]);
      this.stashStart = 0;
    }
  }

  private readHead(buf: Buffer, start: number): void {
    const parser = this.parser;
    const r = parser.execute(buf, start, buf.length);
    if (r === NEED_MORE) {
      if (!this.partialHead) {
        this.partialHead = true;
        this.headStartMs = performance.now();
        // headerTimeout counts from the first byte; without one, the idle timer keeps running.
        const ms = this.snap.config.limits.headerTimeoutMs;
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

  /** From the head's first byte when it came in pieces. */
  private takeHeadStart(): number {
    const t = this.headStartMs > 0 ? this.headStartMs : performance.now();
    this.headStartMs = 0;
    return t;
  }

  private rejectHead(): void {
    const parser = this.parser;
    const status = parser.errorStatus;
    const code: ErrorCode = status === 431 ? 'REQUEST_HEAD_TOO_LARGE' : status === 414 ? 'REQUEST_URI_TOO_LONG' : status === 501 ? 'NOT_IMPLEMENTED' : 'REQUEST_MALFORMED';
    // Nothing of this head is known for sure: the log shows no destination (reset clears the previous one).
    this.x.reset(this.takeHeadStart());
    this.replyError(new ProxyError(code, parser.error ?? 'malformed request'));
  }

  private headTimedOut(): void {
    if (this.state !== S_HEAD) return;
    // The log line says what the head had shown so far, and how long it took.
    this.x.reset(this.takeHeadStart());
    describePartialHead(this.parser, this.x.dest);
    this.replyError(new ProxyError('REQUEST_TIMEOUT', `no complete head within ${this.snap.config.limits.headerTimeoutMs} ms`));
  }

  // ------------------------------------------------------------ the timer

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
    const idleMs = this.snap.config.limits.idleTimeoutMs;
    if (kind === T_HEAD) this.headTimedOut();
    else if (kind === T_SNI) {
      if (this.state === S_SNI_CHECK) this.checkSni(this.sniCheck!.timedOut());
    }
    else if (kind === T_EXCHANGE) this.checkExchangeIdle(idleMs);
    else if (kind === T_LINGER || (kind === T_IDLE && this.state === S_HEAD)) this.socket.destroy();
    else if (kind === T_IDLE && this.state === S_SETUP) this.armTimer(T_IDLE, idleMs); // the exchange takes it over
  }

  private checkExchangeIdle(idleMs: number): void {
    if (this.state !== S_EXCHANGE) return;
    const err = this.x.checkIdle(idleMs);
    if (err === null) this.armTimer(T_EXCHANGE, idleMs);
    else this.fail(err);
  }

  // ------------------------------------------------------------ phases up to the exchange

  private startExchange(buf: Buffer, afterHead: number): void {
    // No pause here: bytes that arrive before the upstream is ready go to keep(),
    // which pauses only then (a pause/resume pair costs two epoll_ctl calls).
    this.state = S_SETUP;
    this.snap = this.ctx.snapshot; // a reload applies from the next request on
    this.stash = afterHead < buf.length ? buf : null;
    this.stashStart = afterHead;
    const x = this.x;
    x.reset(this.takeHeadStart());
    try {
      // authenticate: the connection's own last success (same bytes, same auth) without hashing; a
      // cached verdict synchronously; a first bcrypt verification off this call stack.
      const auth = this.snap.auth;
      if (auth !== null) {
        if (this.authOf === auth && this.sameCredentials()) {
          x.user = this.authUser;
          this.route();
          return;
        }
        const value = proxyAuthorization(this.parser);
        const verdict = auth.checkNow(value);
        if (verdict === undefined) {
          const wait = this.snap.authThrottle!.take(this.peer.address);
          if (wait > 0) throw rateLimited(this.ctx, wait);
          // check() answers every verdict as a value; a rejection would be a bug of ours: this connection's failure.
          auth.check(value).then((v) => this.authenticated(v), (err: unknown) => this.state === S_SETUP && this.fail(err));
          return;
        }
        admit(this.ctx, auth, verdict, x);
        this.rememberCredentials(auth, value, x.user);
      }
      this.route();
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * A keep-alive client sends the same Proxy-Authorization with every request: the connection keeps the
   * bytes of its last accepted one (and the auth instance that accepted them: a reload makes a new one),
   * so a repeat costs a byte compare, not a keyed hash. Only successes are kept.
   */
  private rememberCredentials(auth: BasicAuth, value: string | null, user: string | null): void {
    if (value === null || user === null) return;
    this.authOf = auth;
    this.authBytes = Buffer.from(value, 'latin1');
    this.authUser = user;
  }

  /** The request carries exactly one Proxy-Authorization, byte for byte the remembered one. */
  private sameCredentials(): boolean {
    const p = this.parser;
    const i = p.findHeader(H_PROXY_AUTHORIZATION);
    if (i < 0 || p.findHeader(H_PROXY_AUTHORIZATION, i + 1) >= 0) return false;
    const start = p.headers[i * HEADER_STRIDE + 2]!;
    const end = p.headers[i * HEADER_STRIDE + 3]!;
    const kept = this.authBytes!;
    return end - start === kept.length && p.buf.compare(kept, 0, kept.length, start, end) === 0;
  }

  /** The answer of a bcrypt verification: go on with the request, unless the connection moved on meanwhile. */
  private authenticated(verdict: AuthVerdict): void {
    if (this.state !== S_SETUP) return;
    try {
      admit(this.ctx, this.snap.auth!, verdict, this.x);
      this.rememberCredentials(this.snap.auth!, proxyAuthorization(this.parser), this.x.user);
      this.route();
    } catch (err) {
      this.fail(err);
    }
  }

  /** rate limit (a shared store answers asynchronously) → route. Throws ProxyError. */
  private route(): void {
    const pending = takeToken(this.ctx, this.snap, this.x.user ?? this.peer.address);
    if (pending === null) this.routeRequest();
    else pending.then(() => this.routeAfterWait(), (err: unknown) => this.state === S_SETUP && this.fail(err));
  }

  /** The shared store granted the token: go on, unless the connection moved on meanwhile. */
  private routeAfterWait(): void {
    if (this.state !== S_SETUP) return;
    try {
      this.routeRequest();
    } catch (err) {
      this.fail(err);
    }
  }

  /** route (mode, destination, route) → decide and resolve. Throws ProxyError. */
  private routeRequest(): void {
    const x = this.x;
    const d = x.dest;
    chooseDestination(this.ctx, this.snap, this.parser, d);
    if (d.isUpgrade) {
      x.upgradeOffer = offeredUpgrade(this.parser, this.snap.config.access.upgrades);
      if (x.upgradeOffer === null) d.isUpgrade = false; // served as an ordinary request
    }
    x.keepAlive = d.mode !== 'connect' && this.parser.keepAlive && !this.ctx.draining;
    this.resolveDestination();
  }

  /** decide + resolve: the policy on the resolved addresses (a cache hit or an IP literal: synchronously). */
  private resolveDestination(): void {
    const x = this.x;
    const target = x.dest.host!;
    const port = x.dest.authority!.port;
    const addresses = checkedAddressesNow(this.ctx, this.snap, target, port, x);
    if (addresses !== undefined) {
      this.connect(addresses);
      return;
    }
    const t0 = performance.now();
    resolveAndCheck(this.ctx, this.snap, (target as { name: string }).name, port, x).then(
      (list) => {
        x.dnsMs = performance.now() - t0;
        if (this.state === S_SETUP) this.connect(list);
      },
      (err: unknown) => {
        x.dnsMs = performance.now() - t0;
        if (this.state === S_SETUP) this.fail(err);
      },
    );
  }

  /** connect: a pooled connection to one of the checked addresses (and the same TLS identity), else a new one. */
  private connect(addresses: readonly ResolvedAddress[]): void {
    const d = this.x.dest;
    const port = d.authority!.port;
    if (d.mode !== 'connect') {
      const pool = this.ctx.pool;
      const identity = d.tls !== null ? this.tlsIdentity() : '';
      for (let i = 0; i < addresses.length; i++) {
        const up = pool.take(addresses[i]!.address, port, identity);
        if (up !== undefined) {
          this.attach(up);
          return;
        }
      }
    }
    this.dial(addresses);
  }

  private dial(addresses: readonly ResolvedAddress[]): void {
    const d = this.x.dest;
    // A TLS upstream is a net.Socket read through 'data' (TLS wraps a stream); plain ones read into our buffers.
    const onread = d.tls !== null ? undefined : d.mode === 'connect' ? TUNNEL_ONREAD : UPSTREAM_ONREAD;
    connectTo(addresses, d.authority!.port, { timeoutMs: this.snap.config.limits.connectTimeoutMs, onread, forTls: d.tls !== null }).then(
      (result) => this.onConnected(result),
      (err: unknown) => {
        if (this.state === S_SETUP) this.fail(err);
      },
    );
  }

  private onConnected(result: ConnectResult): void {
    const x = this.x;
    x.connectMs = result.connectMs;
    // The dialled address is logged even when what follows fails (a TLS handshake, a tunnel).
    x.address = result.address.address;
    this.ctx.metrics.upstreamConnected(result.connectMs);
    if (x.dest.mode === 'connect') {
      if (this.state === S_SETUP) this.startTunnel(result.socket);
      else result.socket.destroy();
      return;
    }
    if (x.dest.tls !== null) {
      this.originate(result);
      return;
    }
    this.connected(new UpstreamConn(result.socket, result.address, x.dest.authority!.port, this.snap.config.limits.maxHeaderBytes, this.ctx.pool, ''));
  }

  private connected(up: UpstreamConn): void {
    // The client went away while we connected: keep the fresh connection for someone else.
    if (this.state !== S_SETUP) this.ctx.pool.release(up);
    else this.attach(up);
  }

  /** TLS to the origin over the connected socket: SNI and the certificate check from the destination's name. */
  private originate(result: ConnectResult): void {
    const x = this.x;
    const ctx = this.ctx;
    const snap = this.snap;
    const target = x.dest.host!;
    const tls = x.dest.tls!;
    const identity = this.tlsIdentity();
    const started = performance.now();
    const name = tls.sni ?? (target.kind === 'name' ? target.name : null); // never SNI for an IP literal (RFC 6066 §3)
    originateTls(result.socket as unknown as net.Socket, {
      servername: name,
      host: name ?? (target as { address: string }).address, // name is null only for an IP literal
      trust: tls.trust,
      identity,
      sessions: ctx.tlsSessions,
      verifyHostname: tls.verifyHostname,
      timeoutMs: snap.config.limits.connectTimeoutMs,
    }).then(
      (secure) => {
        ctx.metrics.tlsHandshake('upstream', true);
        x.connectMs += performance.now() - started;
        this.connected(new UpstreamConn(adoptNetSocket(secure), result.address, x.dest.authority!.port, snap.config.limits.maxHeaderBytes, ctx.pool, identity));
      },
      (err: unknown) => {
        ctx.metrics.tlsHandshake('upstream', false);
        if (this.state === S_SETUP) this.fail(err);
      },
    );
  }

  /** What a TLS upstream connection for this request is pooled and resumed under: name checked, trust, check on or off. */
  private tlsIdentity(): string {
    const target = this.x.dest.host!;
    const tls = this.x.dest.tls!;
    const name = tls.sni ?? (target.kind === 'name' ? target.name : target.address);
    return tlsIdentity(tls.verifyHostname ? name : `${name}\nunverified`, tls.trust);
  }

  /** exchange: from here exchange.ts runs it; the timer watches it for idleness. */
  private attach(up: UpstreamConn): void {
    this.state = S_EXCHANGE;
    if (this.timerActive) this.timerKind = T_EXCHANGE; // looked at when it fires
    else this.armTimer(T_EXCHANGE, this.snap.config.limits.idleTimeoutMs);
    const stash = this.stash;
    this.stash = null;
    this.x.attach(up, stash, this.stashStart);
  }

  redial(address: ResolvedAddress): void {
    this.state = S_SETUP;
    this.dial([address]);
  }

  /** The exchange is complete: the next request (held bytes first), or close. */
  exchangeDone(): void {
    if (!this.x.keepAlive || !this.x.requestDone) {
      this.closeGracefully();
      return;
    }
    this.state = S_HEAD;
    this.parser.reset();
    this.armTimer(T_IDLE, this.snap.config.limits.idleTimeoutMs);
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
    this.x.status = 200;
    const mode = this.snap.config.access.connectSni;
    if (mode !== 'off') {
      this.startCheckedTunnel(upstreamSocket, mode);
      return;
    }
    this.leaveHttp();
    const stash = this.stash;
    this.stash = null;
    this.splice = openConnectTunnel(this.ctx, this.snap, this.socket, upstreamSocket, stash === null ? null : stash.subarray(this.stashStart));
  }

  /** access.connectSni: answer the CONNECT, then read the client's first bytes before anything goes on. */
  private startCheckedTunnel(upstreamSocket: Conn, mode: 'match' | 'require'): void {
    this.state = S_SNI_CHECK;
    this.checkedUpstream = upstreamSocket;
    // Until the verdict the origin's first bytes are kept for the splice (a bounded number of reads:
    // splice.ts onTunnelRead pauses past it, so an origin that floods waits in the kernel), and an origin
    // that resets or closes ends the check at once.
    (upstreamSocket as CheckedUpstream).dfpOwner = this;
    upstreamSocket.on('error', onCheckedUpstreamGone);
    upstreamSocket.on('close', onCheckedUpstreamGone);
    this.sniCheck = new ConnectSniCheck(mode, this.x.dest.host!);
    answerConnect(this.socket);
    this.armTimer(T_SNI, this.snap.config.limits.headerTimeoutMs);
    const stash = this.stash;
    this.stash = null;
    if (this.socket.isPaused()) this.socket.resume();
    if (stash !== null) this.checkSni(this.sniCheck.push(stash.subarray(this.stashStart)));
    // The client's FIN came while we connected: nothing more will come, decide on what there is.
    if (this.clientEnded && this.sniCheck !== null) this.checkSni(this.sniCheck.timedOut());
  }

  private checkSni(verdict: number): void {
    if (verdict === SNI_WAIT || this.state !== S_SNI_CHECK) return;
    const check = this.sniCheck!;
    const upstream = this.checkedUpstream!;
    this.sniCheck = null;
    this.checkedUpstream = null;
    upstream.removeListener('error', onCheckedUpstreamGone);
    upstream.removeListener('close', onCheckedUpstreamGone);
    if (verdict === SNI_PASS) {
      this.leaveHttp();
      this.splice = openCheckedTunnel(this.ctx, this.snap, this.socket, upstream, check.takeHeld());
      return;
    }
    // The client has its 200 already: the tunnel just closes, and the log says why.
    const x = this.x;
    x.status = 403;
    x.errorCode = 'REQUEST_DENIED';
    x.rule = 'access.connectSni';
    this.ctx.metrics.denied('connect_sni');
    x.log();
    upstream.destroy();
    this.state = S_CLOSED;
    this.socket.destroy();
  }

  /** The origin went away while the client's first bytes were awaited: the tunnel ends, logged as a 502. */
  checkedUpstreamGone(socket: Conn): void {
    if (this.state !== S_SNI_CHECK || this.checkedUpstream !== socket) return;
    this.sniCheck = null;
    this.checkedUpstream = null;
    socket.removeListener('close', onCheckedUpstreamGone);
    socket.on('error', onIgnoredUpstreamError);
    socket.destroy();
    const x = this.x;
    x.status = 502;
    x.errorCode = 'UPSTREAM_INCOMPLETE';
    x.log();
    this.state = S_CLOSED;
    this.socket.destroy();
  }

  switchProtocols(up: UpstreamConn, chunk: Buffer, after: number): void {
    this.leaveHttp();
    const stash = this.stash;
    this.stash = null;
    const fromOrigin = after < chunk.length ? piece(chunk, after, chunk.length) : null;
    this.splice = openUpgradeTunnel(this.ctx, this.snap, this.socket, up.socket, fromOrigin, stash === null ? null : stash.subarray(this.stashStart));
  }

  /** No more HTTP on this connection: the splice handles the socket's events and its idle timer. */
  private leaveHttp(): void {
    this.state = S_TUNNEL;
    const client = this.socket;
    client.removeListener('data', onClientData);
    client.removeListener('end', onClientEnd);
    client.removeListener('drain', onClientDrain);
    client.removeListener('error', onClientError);
    this.stopTimer();
    this.x.method = methodForLog(this.parser);
    this.releaseParser();
  }

  // ------------------------------------------------------------ errors and closing

  /** Any phase's failure: an error reply while the client has no response head, else the connection ends. */
  fail(err: unknown): void {
    const x = this.x;
    x.dropUpstream();
    const e = toProxyError(err);
    if (x.responseStarted && x.responseHeadDone) {
      x.errorCode = e.code;
      x.log();
      this.socket.destroy();
      return;
    }
    this.replyError(e);
  }

  private replyError(err: ProxyError): void {
    if (this.state === S_CLOSED) return;
    const x = this.x;
    x.status = err.status;
    x.errorCode = err.code;
    x.rule = err.rule;
    const reply = errorReply(err, this.parser);
    x.bytesOut += reply.length;
    if (this.socket.writableCorked) this.socket.uncork();
    this.socket.write(reply);
    x.log();
    this.closeGracefully();
  }

  /** End our side after pending writes; the client's FIN (or the linger timer) finishes the close. */
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
   * The client's FIN means "no more requests": every complete request already received is still
   * answered in order (exchangeDone serves the stash), then the connection closes. A head or body cut
   * short by it is dropped.
   */
  onClientEnd(): void {
    this.clientEnded = true;
    if (this.state === S_SNI_CHECK) {
      this.checkSni(this.sniCheck!.timedOut()); // nothing more will come: decide on what there is
      return;
    }
    if (this.state === S_HEAD) {
      this.closeGracefully();
      return;
    }
    if (this.state === S_EXCHANGE && !this.x.requestDone) {
      this.x.endRequestBodyAtEof();
      if (this.socket.destroyed) this.state = S_CLOSED;
    }
    // In S_SETUP the body has not started yet: the exchange checks it after forwarding the stash.
  }

  onClientDrain(): void {
    this.x.onClientDrain();
  }

  onClientClose(): void {
    const previous = this.state;
    this.state = S_CLOSED;
    this.stopTimer();
    if (this.checkedUpstream !== null) {
      // The client left while its first bytes were being checked.
      this.checkedUpstream.destroy();
      this.checkedUpstream = null;
      this.x.errorCode ??= 'UPSTREAM_INCOMPLETE';
      this.x.log();
    }
    const x = this.x;
    if (previous === S_EXCHANGE && !x.responseDone) x.errorCode ??= 'UPSTREAM_INCOMPLETE';
    x.close();
    if (previous === S_SETUP || (previous === S_EXCHANGE && !x.responseDone)) x.log();
    if (this.splice !== null) {
      this.ctx.metrics.tunnelClosed(this.splice.bytesUp, this.splice.bytesDown);
      x.bytesIn = this.splice.bytesUp;
      x.bytesOut += this.splice.bytesDown;
      x.log();
      this.splice = null;
    }
    this.ctx.connections.delete(this);
    releaseClient(this.ctx, this.peer.address);
    this.ctx.metrics.connectionClosed();
    this.releaseParser();
  }

  /** Hand the request parser to the next connection: an idle tunnel should not hold one. */
  private releaseParser(): void {
    const parser = this.parser;
    if (parser === IDLE_PARSER) return;
    this.parser = IDLE_PARSER;
    parser.reset();
    // A parser made under another limits.maxHeaderBytes (before a reload) is not handed on.
    if (this.ctx.spareParsers.length < MAX_SPARE_PARSERS && parser.maxHeadBytes === this.ctx.snapshot.config.limits.maxHeaderBytes) this.ctx.spareParsers.push(parser);
  }

  /**
   * A bug surfaced as an exception on this connection's data path: drop this connection (both sides) and
   * keep serving the others.
   */
  crashed(err: unknown): void {
    reportCrash(err);
    this.x.errorCode ??= 'INTERNAL_ERROR';
    this.destroy();
  }

  drain(): void {
    if (this.state === S_HEAD && !this.partialHead && this.stash === null) this.closeGracefully();
    else this.x.keepAlive = false;
  }

  destroy(): void {
    this.splice?.destroy();
    this.x.dropUpstream();
    this.socket.destroy();
  }

  /** The client's address, as the listener chain established it. */
  clientAddress(): string {
    return this.peer.address;
  }
}

function onClientData(this: ClientSocket, chunk: Buffer): void {
  try {
    this.dfpOwner.onData(chunk);
  } catch (err) {
    this.dfpOwner.crashed(err);
  }
}
function onClientEnd(this: ClientSocket): void {
  this.dfpOwner.onClientEnd();
}
function onClientClose(this: ClientSocket): void {
  this.dfpOwner.onClientClose();
}
function onClientDrain(this: ClientSocket): void {
  this.dfpOwner.onClientDrain();
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

/** The Proxy-Authorization value, or null when absent; two of them are answered as malformed credentials. */
function proxyAuthorization(p: HeadParser): string | null {
  const i = p.findHeader(H_PROXY_AUTHORIZATION);
  if (i < 0) return null;
  if (p.findHeader(H_PROXY_AUTHORIZATION, i + 1) >= 0) return '';
  return p.headerValue(i);
}

/**
 * auth.basic's verdict: the user goes on the exchange (the log's user, the rate-limit key), anything else
 * is a 407 with the challenge (busy: 429, come back in a second). Proxy-Authorization itself is
 * hop-by-hop: it never reaches an upstream.
 */
function admit(ctx: ProxyContext, auth: BasicAuth, verdict: AuthVerdict, x: { user: string | null }): void {
  if (verdict.ok) {
    x.user = verdict.user;
    return;
  }
  if (verdict.reason === 'busy') throw rateLimited(ctx, 1);
  refuse(ctx, { reason: 'proxy_auth', code: 'AUTH_REQUIRED', detail: AUTH_DETAIL[verdict.reason], rule: 'auth.basic' }, [auth.challenge]);
}

const AUTH_DETAIL = { missing: 'no credentials', malformed: 'malformed credentials', wrong: 'wrong credentials' } as const;

/**
 * A request parser for a new connection: a spare one when it has the head limit in force, else a new one.
 * (A connection keeps the parser, and so the limit, it was opened with.)
 */
function spareParser(ctx: ProxyContext, maxHeadBytes: number): HeadParser {
  const spare = ctx.spareParsers.pop();
  return spare !== undefined && spare.maxHeadBytes === maxHeadBytes ? spare : new HeadParser('request', { maxHeadBytes });
}

interface CheckedUpstream extends Conn {
  dfpOwner: ClientConn;
}

function onCheckedUpstreamGone(this: CheckedUpstream): void {
  this.dfpOwner.checkedUpstreamGone(this);
}

function onIgnoredUpstreamError(): void {
  // the socket is being destroyed; 'close' follows
}
