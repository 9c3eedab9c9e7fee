/**
 * Which mode a request head asks for and where it goes: CONNECT authority,
 * absolute-form URI (forward), or Host / a route's rewrite header (gateway).
 * Also the checks that belong to that choice: CONNECT ports, routes, loops
 * through Via. Throws ProxyError; the address policy comes later, after
 * resolution (destination.ts).
 */
import { ProxyError } from '../errors.js';
import { FORM_ABSOLUTE, H_VIA, HEADER_STRIDE, METHOD_CONNECT, type HeadParser } from '../http/index.js';
import { normalizeHost, type HostTarget } from '../dns/name.js';
import { decideConnectPort, noRoute } from '../policy/decision.js';
import { refuse } from './destination.js';
import type { ProxyContext } from './context.js';
import type { OriginationTls, RuntimeSnapshot } from './snapshot.js';
import type { ProxyMode } from './metrics-hooks.js';
import { findHeaderByName, hostMatchesRoutes, matchRoute, viaNamesProxy } from './routes.js';
import { parseAbsoluteTarget, parseHostPort, type Authority } from './target.js';

const CH_COLON = 0x3a;

/** The outcome, written into a per-connection object (no allocation beyond the Authority). */
export interface Destination {
  mode: ProxyMode;
  authority: Authority | null;
  host: HostTarget | null;
  /** Host is replaced by the authority (absolute-form, rewrite header). */
  rewriteHost: boolean;
  /** An HTTP/1.1 Upgrade request (an HTTP/1.0 Upgrade is ignored, RFC 9110 §7.8). */
  isUpgrade: boolean;
  /** How the proxy speaks TLS to the upstream (an https:// target, a route with backend tls), or null: plain. */
  tls: OriginationTls | null;
}

export function newDestination(): Destination {
  return { mode: 'forward', authority: null, host: null, rewriteHost: false, isUpgrade: false, tls: null };
}

export function chooseDestination(ctx: ProxyContext, snap: RuntimeSnapshot, p: HeadParser, d: Destination): void {
  d.rewriteHost = false;
  d.isUpgrade = false;
  d.tls = null;
  if (p.method === METHOD_CONNECT) {
    d.mode = 'connect';
    d.authority = parseHostPort(p.buf, p.targetStart, p.targetEnd, 0, true);
    const denial = decideConnectPort(snap.config.access.connectPorts, d.authority.port);
    if (denial !== null) refuse(ctx, denial);
    // Routes restrict CONNECT too: by host (a route that also needs a path or headers admits no tunnel).
    if (!snap.routesAreDefault) {
      const host = d.authority.host.toLowerCase();
      if (!hostMatchesRoutes(snap.config.routes, host)) refuse(ctx, noRoute(host));
    }
  } else {
    d.isUpgrade = p.upgrade && p.versionMinor === 1;
    let authority: Authority;
    if (p.targetForm === FORM_ABSOLUTE) {
      d.mode = 'forward';
      // Every HTTP/1.1 request carries Host, absolute-form too (RFC 9112 §3.2); it is then replaced.
      if (p.versionMinor === 1 && p.hostIndex < 0) throw new ProxyError('REQUEST_MALFORMED', 'missing Host header');
      authority = parseAbsoluteTarget(p.buf, p.targetStart, p.targetEnd);
      if (authority.isHttps) d.tls = snap.httpsTargets; // the proxy speaks TLS to the origin (trust: upstream.tls.ca)
      d.rewriteHost = true;
    } else {
      d.mode = 'gateway';
      const hostIndex = p.hostIndex;
      if (hostIndex < 0) throw new ProxyError('REQUEST_MALFORMED', 'missing Host header');
      const h = p.headers;
      authority = parseHostPort(p.buf, h[hostIndex * HEADER_STRIDE + 2]!, h[hostIndex * HEADER_STRIDE + 3]!, 80, false);
    }
    d.authority = snap.routesAreDefault ? authority : applyRoute(ctx, snap, p, authority, d);
    // A backend the proxy speaks TLS to listens on 443 unless the request names a port.
    if (d.tls !== null && !d.authority.hasPort) d.authority.port = 443;
  }
  checkVia(snap, p);
  const authority = d.authority;
  const host = normalizeHost(authority.host);
  d.host = host;
  // Most hosts normalise to the very string received; only those that do not are looked at again.
  if (d.mode !== 'connect' && (host.kind === 'name' ? host.name : host.address) !== authority.host) forwardIdnAsResolved(d, p.buf, authority, host);
}

/**
 * Rare path: the host normalised to a different string. Case folding, a
 * trailing dot or another IPv6 spelling leave the Host the origin sees as it
 * was sent; an IDN host (non-ASCII bytes) was resolved as its A-label, and the
 * origin must get that name too (with the port as received), not the raw UTF-8.
 */
function forwardIdnAsResolved(d: Destination, buf: Buffer, authority: Authority, host: HostTarget): void {
  const raw = authority.host;
  let i = 0;
  while (i < raw.length && raw.charCodeAt(i) < 0x80) i++;
  if (i === raw.length) return;
  const resolved = host.kind === 'name' ? host.name : host.family === 6 ? `[${host.address}]` : host.address;
  // An IDN host is never bracketed: its port, if any, starts at the first colon.
  let portStart = authority.authorityEnd;
  for (let k = authority.authorityStart; k < authority.authorityEnd; k++) {
    if (buf[k] === CH_COLON) {
      portStart = k;
      break;
    }
  }
  const port = buf.subarray(portStart, authority.authorityEnd);
  const value = Buffer.allocUnsafe(resolved.length + port.length);
  value.write(resolved, 0, 'latin1');
  port.copy(value, resolved.length);
  authority.hostHeader = value;
  d.rewriteHost = true;
}

/** Route matching for configured routes; may move the destination to a rewrite header. */
function applyRoute(ctx: ProxyContext, snap: RuntimeSnapshot, p: HeadParser, authority: Authority, d: Destination): Authority {
  const host = authority.host.toLowerCase();
  const pathStart = authority.pathStart >= 0 ? authority.pathStart : p.targetStart;
  const route = matchRoute(snap.config.routes, p, host, pathStart);
  if (route === null) refuse(ctx, noRoute(host));
  const backend = route.backend;
  if (backend.type !== 'DynamicForwardProxy') throw new ProxyError('NOT_IMPLEMENTED', `backend type ${backend.type} is not supported yet`);
  const tls = snap.routeTls.get(route);
  if (tls !== undefined) d.tls = tls;
  if (backend.hostRewriteHeader !== null) {
    const i = findHeaderByName(p, backend.hostRewriteHeader);
    if (i >= 0) {
      // It names the destination as Host does, so it may appear once, as Host may (RFC 9112 §3.2).
      if (findHeaderByName(p, backend.hostRewriteHeader, i + 1) >= 0) {
        throw new ProxyError('REQUEST_MALFORMED', `DUPLICATE_HOST: more than one ${backend.hostRewriteHeader} field`);
      }
      const h = p.headers;
      const rewritten = parseHostPort(p.buf, h[i * HEADER_STRIDE + 2]!, h[i * HEADER_STRIDE + 3]!, 80, false);
      rewritten.pathStart = authority.pathStart;
      d.rewriteHost = true;
      return rewritten;
    }
  }
  return authority;
}

/** A Via entry naming this proxy means the request came round again. */
function checkVia(snap: RuntimeSnapshot, p: HeadParser): void {
  const h = p.headers;
  for (let i = p.findHeader(H_VIA); i >= 0; i = p.findHeader(H_VIA, i + 1)) {
    if (viaNamesProxy(p.buf, h[i * HEADER_STRIDE + 2]!, h[i * HEADER_STRIDE + 3]!, snap.pseudonym)) {
      throw new ProxyError('LOOP_DETECTED', 'request already passed through this proxy');
    }
  }
}
