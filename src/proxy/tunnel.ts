/**
 * Entering a tunnel: a CONNECT that reached its destination, or an HTTP connection the origin switched with a
 * 101. From here bytes are spliced both ways (splice.ts) and no HTTP is read on the connection again.
 */
import type { Conn } from '../io/conn.js';
import type { ProxyContext } from './context.js';
import type { RuntimeSnapshot } from './snapshot.js';
import { Splice } from './splice.js';

const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');

/**
 * The CONNECT's destination is connected: answer 200 and splice. `early` holds what the client sent after
 * its CONNECT head (a TLS ClientHello, often), sent first; a FIN the client sent meanwhile is passed on.
 */
export function openConnectTunnel(ctx: ProxyContext, snap: RuntimeSnapshot, client: Conn, upstream: Conn, early: Buffer | null): Splice {
  answerConnect(client);
  return openCheckedTunnel(ctx, snap, client, upstream, early);
}

/** A CONNECT whose first client bytes are checked (access.connectSni): the 200 goes out before them. */
export function answerConnect(client: Conn): void {
  client.write(CONNECT_ESTABLISHED);
}

/** The checked CONNECT passes: splice, `held` (what the client sent, checked) first. */
export function openCheckedTunnel(ctx: ProxyContext, snap: RuntimeSnapshot, client: Conn, upstream: Conn, held: Buffer | null): Splice {
  const splice = openSplice(ctx, snap, client, upstream);
  if (held !== null) splice.writeEarly(true, held);
  if (client.readableEnded) upstream.end();
  return splice;
}

/**
 * The origin answered 101 (already relayed): splice the client with that connection. `fromOrigin` is what
 * the origin sent after its 101 head, `fromClient` what the client sent after its request.
 */
export function openUpgradeTunnel(ctx: ProxyContext, snap: RuntimeSnapshot, client: Conn, upstream: Conn, fromOrigin: Buffer | null, fromClient: Buffer | null): Splice {
  const splice = openSplice(ctx, snap, client, upstream);
  if (fromOrigin !== null) splice.writeEarly(false, fromOrigin);
  if (fromClient !== null) splice.writeEarly(true, fromClient);
  return splice;
}

/** The caller has already taken its own handlers off the client socket. */
function openSplice(ctx: ProxyContext, snap: RuntimeSnapshot, client: Conn, upstream: Conn): Splice {
  // An upgraded HTTP upstream connection sheds its handlers; a fresh CONNECT socket has none.
  upstream.removeAllListeners('data');
  upstream.removeAllListeners('end');
  upstream.removeAllListeners('drain');
  upstream.removeAllListeners('close');
  ctx.metrics.tunnelOpened();
  return new Splice(client, upstream, snap.config.limits.idleTimeoutMs, null);
}
