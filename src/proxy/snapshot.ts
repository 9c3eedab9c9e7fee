/**
 * One runtime snapshot: the resolved config and everything derived from it — the routing shortcut, the Via
 * lines, the memoised policy decisions — built once and read through one reference (ctx.snapshot). A reload
 * builds a new one and swaps the reference whole: requests that start afterwards use the new one, an
 * exchange in flight keeps the one it started with (ClientConn takes it per request).
 */
import type { Config, RouteConfig } from '../config/types.js';
import type { ResolvedAddress } from '../dns/cache.js';
import type { Denial } from '../policy/decision.js';
import { loadTrust, type Trust } from '../upstream/tls.js';

export interface RuntimeSnapshot {
  readonly config: Config;
  /** One catch-all DynamicForwardProxy route without a rewrite header or TLS: route matching can be skipped. */
  readonly routesAreDefault: boolean;
  /** Via received-by name, also used to detect loops. */
  readonly pseudonym: string;
  /** `Via: 1.1 <pseudonym>\r\n` (and 1.0), prebuilt. */
  readonly viaLine11: Buffer;
  readonly viaLine10: Buffer;
  /** Policy decisions on address lists, memoised per list object handed out by the DNS cache. */
  readonly checked: WeakMap<readonly ResolvedAddress[], readonly ResolvedAddress[] | Denial>;
  /** Decisions on IP literals (bounded). */
  readonly literals: Map<string, readonly ResolvedAddress[] | Denial>;
  /** upstream.tls.ca, read and parsed once: what origination checks certificates against. */
  readonly upstreamTrust: Trust;
  /** TLS origination for an https:// target: upstream.tls.ca, SNI from the name, names checked. */
  readonly httpsTargets: OriginationTls;
  /** TLS origination of each route whose backend has tls.enabled. */
  readonly routeTls: ReadonlyMap<RouteConfig, OriginationTls>;
}

/** How one kind of destination is originated: trust, SNI, name check. */
export interface OriginationTls {
  readonly trust: Trust;
  /** A fixed SNI (and name to check); null: the destination's own name (none for an IP literal). */
  readonly sni: string | null;
  readonly verifyHostname: boolean;
}

export function buildSnapshot(config: Config, pseudonym: string): RuntimeSnapshot {
  // The system roots take ~30 ms to parse: read on the first TLS origination. Custom CA files are read
  // now, so that a bad one stops the start (or the reload) naming the file.
  const trustConfig = config.upstream.tls.trust;
  let trust: Trust | null = trustConfig.caFiles.length > 0 || trustConfig.caPems.length > 0 ? loadTrust(trustConfig) : null;
  const upstreamTrust = (): Trust => (trust ??= loadTrust(trustConfig));
  const routeTls = new Map<RouteConfig, OriginationTls>();
  for (const route of config.routes) {
    const t = route.backend.tls;
    if (t === null || !t.enabled) continue;
    // A route's own CA files are read now (a bad one stops the start); without its own, upstream.tls.ca.
    const own = t.trust === null ? null : loadTrust(t.trust);
    routeTls.set(route, {
      get trust() {
        return own ?? upstreamTrust();
      },
      sni: t.sni === 'auto' ? null : t.sni,
      verifyHostname: t.verifyHostname,
    });
  }
  return {
    config,
    routesAreDefault: isDefaultRouting(config),
    pseudonym,
    viaLine11: Buffer.from(`Via: 1.1 ${pseudonym}\r\n`),
    viaLine10: Buffer.from(`Via: 1.0 ${pseudonym}\r\n`),
    checked: new WeakMap(),
    literals: new Map(),
    get upstreamTrust(): Trust {
      return upstreamTrust();
    },
    httpsTargets: {
      get trust() {
        return upstreamTrust();
      },
      sni: null,
      verifyHostname: true,
    },
    routeTls,
  };
}

function isDefaultRouting(config: Config): boolean {
  const routes = config.routes;
  if (routes.length !== 1) return false;
  const r = routes[0]!;
  return r.match.hosts.length === 0 && (r.match.pathPrefix === '/' || r.match.pathPrefix === '') && Object.keys(r.match.headers).length === 0 && r.backend.type === 'DynamicForwardProxy' && r.backend.hostRewriteHeader === null && (r.backend.tls === null || !r.backend.tls.enabled);
}
