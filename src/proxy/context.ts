/**
 * What every connection of one proxy instance shares: configuration, the DNS
 * cache, the upstream pool, the sinks for logs and metrics, and the set of live
 * connections (for draining).
 */
import type { Config, HostPort } from '../config/types.js';
import type { HeadParser } from '../http/index.js';
import type { Conn } from '../io/conn.js';
import type { DnsCache, ResolvedAddress } from '../dns/cache.js';
import type { AccessLogSink } from './access-record.js';
import type { UpstreamPool } from '../upstream/pool.js';
import type { TlsSessions } from '../upstream/tls.js';
import type { RuntimeSnapshot } from './snapshot.js';
import type { ProxyMetrics } from './metrics-hooks.js';
import type { UpstreamConn } from './upstream-conn.js';

export interface Closable {
  /** Close now if idle; otherwise finish the current exchange and close. */
  drain(): void;
  /** Tear down at once. */
  destroy(): void;
}

export interface ProxyContext {
  /** The config and what is derived from it, swapped whole by a reload: read it once per request. */
  snapshot: RuntimeSnapshot;
  /** Replaced by a reload that changes the dns section (read it per lookup, never keep it). */
  dns: DnsCache;
  readonly pool: UpstreamPool<UpstreamConn>;
  /** TLS sessions of originated connections, by identity (process-wide, bounded). */
  readonly tlsSessions: TlsSessions;
  /** Swapped by a reload that changes log.* (read it per line). */
  accessLog: AccessLogSink | null;
  readonly metrics: ProxyMetrics;
  /** Addresses the listeners are bound to (after listen). */
  readonly listenAddresses: HostPort[];
  /**
   * Every address that is this proxy, for loop detection: the listeners, the
   * admin port named in the config, and what the owner adds once bound
   * (ProxyServer.addLoopAddress: an admin port bound on port 0).
   */
  readonly loopAddresses: HostPort[];
  readonly connections: Set<Closable>;
  /** Open connections per client address (limits.maxConnectionsPerClient); an address leaves at 0. */
  readonly perClient: Map<string, number>;
  /** Connections still in the listener chain: waiting for a PROXY header or in a TLS handshake (destroyed on shutdown). */
  readonly chainWaits: Set<Conn>;
  /** Connections refused (over maxConnections, or while draining) that linger until their reply is read. */
  readonly refused: Set<Conn>;
  /** Request parsers of closed connections and of tunnels (which need none), reused by new connections. */
  readonly spareParsers: HeadParser[];
  draining: boolean;
}
