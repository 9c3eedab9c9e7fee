/**
 * One runtime snapshot: the resolved config and everything derived from it — the routing shortcut, the Via
 * lines, the memoised policy decisions — built once and read through one reference (ctx.snapshot). A reload
 * builds a new one and swaps the reference whole: requests that start afterwards use the new one, an
 * exchange in flight keeps the one it started with (ClientConn takes it per request).
 */
import { readFileSync } from 'node:fs';
import type { Config, RouteConfig } from '../config/types.js';
import type { ResolvedAddress } from '../dns/cache.js';
import type { Denial } from '../policy/decision.js';
import { compileAccessPolicy, type AccessPolicy, type Reported } from '../policy/access-policy.js';
import { BasicAuth } from '../policy/auth.js';
import { parseHtpasswd } from '../policy/htpasswd.js';
import { RateLimiter } from '../policy/rate-limit.js';
import { RedisRateLimiter } from '../policy/rate-limit-redis.js';
import { loadTrust, type Trust } from '../upstream/tls.js';

/** New credentials a client may have verified per second (bcrypt), and at once. */
const AUTH_VERIFY_RATE = 5;
const AUTH_VERIFY_BURST = 10;

/** A memoised decision on a list of addresses. */
export type Checked = readonly ResolvedAddress[] | Denial | Reported<ResolvedAddress>;

export interface RuntimeSnapshot {
  readonly config: Config;
  /** One catch-all DynamicForwardProxy route without a rewrite header or TLS: route matching can be skipped. */
  readonly routesAreDefault: boolean;
  /** Via received-by name, also used to detect loops. */
  readonly pseudonym: string;
  /** `Via: 1.1 <pseudonym>\r\n` (and 1.0), prebuilt. */
  readonly viaLine11: Buffer;
  readonly viaLine10: Buffer;
  /** access.*: the guard and the compiled allow/deny rules. */
  readonly policy: AccessPolicy;
  /**
   * Policy decisions on address lists, memoised per list object handed out by the DNS cache: without
   * rules the decision depends on the list alone (key 0); with rules on the port and whether the name
   * was allowed too (key port × 2 + nameAllowed).
   */
  readonly checked: WeakMap<readonly ResolvedAddress[], Map<number, Checked>>;
  /** Decisions on IP literals, by address then the same key (bounded). */
  readonly literals: Map<string, Map<number, Checked>>;
  /** auth.basic (htpasswd read now; its verification cache lives and dies with this snapshot). */
  readonly auth: BasicAuth | null;
  /**
   * bcrypt verifications per client address (AUTH_VERIFY_RATE/s, burst AUTH_VERIFY_BURST): a header
   * not seen before costs ~60 ms of CPU, so an unauthenticated client sending new wrong passwords would
   * otherwise keep the event loop busy for everyone. Cached verdicts do not count.
   */
  readonly authThrottle: RateLimiter | null;
  /**
   * rateLimit.perClient buckets: in this process (RateLimiter, answers synchronously) or shared through
   * Redis (RedisRateLimiter: one round trip, local buckets while Redis is unreachable). Carried over by
   * a reload that leaves rateLimit unchanged.
   */
  readonly rateLimiter: RateLimiter | RedisRateLimiter | null;
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

/**
 * `previous`: the snapshot this one replaces (a reload). Rate-limit buckets carry over when the limits
 * did not change, so a reload does not hand every client a fresh burst.
 */
export function buildSnapshot(config: Config, pseudonym: string, previous: RuntimeSnapshot | null = null): RuntimeSnapshot {
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
  const basic = config.auth.basic;
  const auth =
    basic === null
      ? null
      : new BasicAuth({
          realm: basic.realm,
          users: basic.users,
          entries: basic.passwordFile === null ? [] : parseHtpasswd(readFileSync(basic.passwordFile, 'utf8'), basic.passwordFile),
        });
  const perClient = config.rateLimit.perClient;
  const sameLimits = previous !== null && JSON.stringify(previous.config.rateLimit) === JSON.stringify(config.rateLimit);
  let rateLimiter: RateLimiter | RedisRateLimiter | null = null;
  if (perClient !== null) {
    if (sameLimits) rateLimiter = previous.rateLimiter;
    else {
      const local = new RateLimiter({ ratePerSecond: perClient.requestsPerSecond, burst: perClient.burst });
      const store = config.rateLimit.store;
      rateLimiter =
        store === 'memory'
          ? local
          : new RedisRateLimiter({
              host: store.redis.host,
              port: store.redis.port,
              ratePerSecond: perClient.requestsPerSecond,
              burst: perClient.burst,
              fallback: local,
              onDegradedChange: (degraded, cause) =>
                process.stderr.write(degraded ? `dfp: rate-limit store unreachable (${cause?.message ?? 'timeout'}): limits are per process until it is back\n` : 'dfp: rate-limit store reachable again\n'),
            });
    }
  }
  return {
    config,
    policy: compileAccessPolicy(config.access),
    auth,
    authThrottle: auth === null ? null : (previous?.authThrottle ?? new RateLimiter({ ratePerSecond: AUTH_VERIFY_RATE, burst: AUTH_VERIFY_BURST, maxKeys: 10_000 })),
    rateLimiter,
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
