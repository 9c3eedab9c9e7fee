/**
 * An SNI passthrough connection (a listener with `mode: sni`): for clients that reach the proxy without
 * knowing it. The ClientHello is read with the incremental scanner (tls/client-hello.ts) — never
 * terminated — its server_name is routed and decided as a CONNECT to that name would be (routes, then the
 * policy on the resolved addresses), the name is dialled on the listener's upstreamPort, the bytes read
 * are replayed and the two sockets spliced. Not TLS, no SNI, an IP literal as SNI, a garbled or oversize
 * ClientHello, or none within headerTimeout: the connection is closed, logged and counted with the reason.
 */
import { performance } from 'node:perf_hooks';
import { normalizeHost } from '../dns/name.js';
import { ERRORS, ProxyError, toProxyError, type ErrorCode } from '../errors.js';
import { HeadParser } from '../http/index.js';
import type { Conn } from '../io/conn.js';
import { noRoute } from '../policy/decision.js';
import { CH_DONE, CH_NEED_MORE, CH_TOO_LARGE, ClientHelloScanner } from '../tls/client-hello.js';
import { connectTo } from '../upstream/connect.js';
import type { ResolvedAddress } from '../dns/cache.js';
import type { Closable, ProxyContext } from './context.js';
import { newDestination, type Destination } from './destination-choice.js';
import { checkedAddressesNow, refuse, resolveAndCheck, takeToken, type PolicyNote } from './destination.js';
import type { Denial } from '../policy/decision.js';
import type { Peer } from './peer.js';
import { releaseClient } from './client-count.js';
import { logExchange, type ExchangeRecord } from './reply.js';
import { hostMatchesRoutes } from './routes.js';
import type { RuntimeSnapshot } from './snapshot.js';
import { TUNNEL_ONREAD, type Splice } from './splice.js';
import { openUpgradeTunnel } from './tunnel.js';

/** Bytes held before a verdict: a ClientHello in 1-byte records is ~6× its size (the scanner's bound). */
const MAX_HELD_BYTES = 128 * 1024;
/** Stands in for the request head of an exchange that has none (the log's method comes from `method`). */
const NO_REQUEST = new HeadParser('request');

const S_HELLO = 0;
const S_SETUP = 1;
const S_TUNNEL = 2;
const S_CLOSED = 3;

interface SniSocket extends Conn {
  dfpOwner: SniConn;
}

export class SniConn implements Closable, ExchangeRecord, PolicyNote {
  readonly ctx: ProxyContext;
  readonly snap: RuntimeSnapshot;
  readonly socket: Conn;
  readonly peer: Peer;
  private readonly upstreamPort: number;
  private readonly scanner = new ClientHelloScanner();
  private held: Buffer[] = [];
  private heldBytes = 0;
  private state = S_HELLO;
  private timer: NodeJS.Timeout | null = null;
  private splice: Splice | null = null;

  // ExchangeRecord: what the log line says.
  readonly dest: Destination = newDestination();
  readonly startMs = performance.now();
  status = 0;
  dnsMs = 0;
  connectMs = 0;
  bytesIn = 0;
  bytesOut = 0;
  errorCode: ErrorCode | null = null;
  rule: string | null = null;
  /** No credentials travel in a ClientHello: the SNI listener has no user (rate-limit key: the client address). */
  readonly user = null;
  // PolicyNote
  nameAllowed = false;
  wouldDeny: Denial | null = null;
  readonly method = '';
  address: string | null = null;
  private logged = false;

  /** `upstreamPort`: the listener's, dialled for the server name. */
  constructor(ctx: ProxyContext, socket: Conn, peer: Peer, upstreamPort: number) {
    this.ctx = ctx;
    this.snap = ctx.snapshot;
    this.socket = socket;
    this.peer = peer;
    this.upstreamPort = upstreamPort;
    this.dest.mode = 'sni';
    const s = socket as SniSocket;
    s.dfpOwner = this;
    s.on('data', onSniData);
    s.on('end', onSniEnd);
    s.on('close', onSniClose);
    s.on('error', onSniError);
    const ms = this.snap.config.limits.headerTimeoutMs;
    if (ms > 0) this.timer = setTimeout(onSniTimeout, ms, this).unref();
    ctx.connections.add(this);
    ctx.metrics.connectionOpened();
  }

  onData(chunk: Buffer): void {
    if (this.state !== S_HELLO) return; // set-up: reading is paused; what still arrives waits in the kernel
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    const verdict = this.scanner.push(chunk);
    if (verdict === CH_NEED_MORE) {
      if (this.heldBytes > MAX_HELD_BYTES) this.reject('REQUEST_HEAD_TOO_LARGE', 'HELD_TOO_MUCH');
      return;
    }
    if (verdict !== CH_DONE) {
      // The scanner's reason (NOT_HANDSHAKE_RECORD, SNI_IP_LITERAL, …) is the metric's label.
      this.reject(verdict === CH_TOO_LARGE ? 'REQUEST_HEAD_TOO_LARGE' : 'REQUEST_MALFORMED', this.scanner.reason ?? 'INVALID');
      return;
    }
    const name = this.scanner.serverName;
    if (name === null) {
      this.reject('REQUEST_MALFORMED', 'NO_SNI');
      return;
    }
    this.route(name);
  }

  /** route → decide → resolve, as for a CONNECT to name:upstreamPort. */
  private route(name: string): void {
    this.state = S_SETUP;
    this.socket.pause();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const d = this.dest;
    try {
      d.authority = { host: name, port: this.upstreamPort, pathStart: -1, isHttps: false, authorityStart: 0, authorityEnd: 0, hostHeader: null, hasPort: true };
      const target = normalizeHost(name);
      d.host = target;
      if (target.kind !== 'name') throw new ProxyError('REQUEST_MALFORMED', 'an IP literal as server_name');
      if (!this.snap.routesAreDefault && !hostMatchesRoutes(this.snap.config.routes, target.name)) refuse(this.ctx, noRoute(target.name));
      // Each SNI connection is a new tunnel: it takes a token from the client's bucket.
      const pending = takeToken(this.ctx, this.snap, this.peer.address);
      if (pending === null) this.decide(target);
      else pending.then(() => this.state === S_SETUP && this.decide(target), (err: unknown) => this.fail(err));
    } catch (err) {
      this.fail(err);
    }
  }

  /** decide → resolve → dial. */
  private decide(target: { kind: 'name'; name: string }): void {
    try {
      const now = checkedAddressesNow(this.ctx, this.snap, target, this.upstreamPort, this);
      if (now !== undefined) {
        this.dial(now);
        return;
      }
      const t0 = performance.now();
      resolveAndCheck(this.ctx, this.snap, target.name, this.upstreamPort, this).then(
        (list) => {
          this.dnsMs = performance.now() - t0;
          if (this.state === S_SETUP) this.dial(list);
        },
        (err: unknown) => {
          this.dnsMs = performance.now() - t0;
          this.fail(err);
        },
      );
    } catch (err) {
      this.fail(err);
    }
  }

  private dial(addresses: readonly ResolvedAddress[]): void {
    connectTo(addresses, this.upstreamPort, { timeoutMs: this.snap.config.limits.connectTimeoutMs, onread: TUNNEL_ONREAD }).then(
      (result) => {
        this.connectMs = result.connectMs;
        this.address = result.address.address;
        this.ctx.metrics.upstreamConnected(result.connectMs);
        if (this.state !== S_SETUP) {
          result.socket.destroy();
          return;
        }
        this.state = S_TUNNEL;
        this.status = 200;
        const client = this.socket;
        client.removeListener('data', onSniData);
        client.removeListener('end', onSniEnd);
        client.removeListener('error', onSniError);
        // The bytes read so far (the ClientHello, and whatever followed it) go first.
        const early = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
        this.held = [];
        this.splice = openUpgradeTunnel(this.ctx, this.snap, client, result.socket, null, early);
        client.resume();
      },
      (err: unknown) => this.fail(err),
    );
  }

  private fail(err: unknown): void {
    if (this.state === S_CLOSED || this.state === S_TUNNEL) return;
    const e = toProxyError(err);
    this.rule = e.rule;
    this.reject(e.code, e.code);
  }

  /**
   * No passthrough: log the error code and close (nothing can be said to a TLS client in its own
   * protocol); `reason`, a stable label (the scanner's reason, or the error code), is counted.
   */
  private reject(code: ErrorCode, reason: string): void {
    if (this.state === S_CLOSED) return;
    this.state = S_CLOSED;
    this.errorCode = code;
    this.status = ERRORS[code].status;
    this.ctx.metrics.sniRejected(reason);
    this.log();
    this.socket.destroy();
  }

  timedOut(): void {
    this.timer = null;
    if (this.state === S_HELLO) this.reject('REQUEST_TIMEOUT', 'TIMEOUT');
  }

  onEnd(): void {
    if (this.state === S_HELLO) this.reject('REQUEST_MALFORMED', 'CLOSED_EARLY');
  }

  onClose(): void {
    const previous = this.state;
    this.state = S_CLOSED;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.splice !== null) {
      this.ctx.metrics.tunnelClosed(this.splice.bytesUp, this.splice.bytesDown);
      this.bytesIn = this.splice.bytesUp;
      this.bytesOut = this.splice.bytesDown;
      this.splice = null;
      this.log();
    } else if (previous !== S_CLOSED) {
      this.errorCode ??= 'UPSTREAM_INCOMPLETE';
      this.log();
    }
    this.ctx.connections.delete(this);
    releaseClient(this.ctx, this.peer.address);
    this.ctx.metrics.connectionClosed();
  }

  private log(): void {
    if (this.logged) return;
    this.logged = true;
    logExchange(this.ctx, this, this.peer.address, NO_REQUEST);
  }

  drain(): void {
    if (this.state === S_HELLO) this.socket.destroy();
  }

  destroy(): void {
    this.splice?.destroy();
    this.socket.destroy();
  }
}

function onSniData(this: SniSocket, chunk: Buffer): void {
  this.dfpOwner.onData(chunk);
}
function onSniEnd(this: SniSocket): void {
  this.dfpOwner.onEnd();
}
function onSniClose(this: SniSocket): void {
  this.dfpOwner.onClose();
}
function onSniError(): void {
  // 'close' follows.
}
function onSniTimeout(conn: SniConn): void {
  conn.timedOut();
}
