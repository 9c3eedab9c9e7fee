/**
 * The resolved configuration: what the rest of dfp reads. Every field is set
 * (defaults applied, durations in milliseconds, addresses split). The raw file
 * shape lives in raw.ts; resolve.ts turns raw + flags into this.
 */
import type { HostPort } from '../policy/host-port.js';

export type LookupFamily = 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'AUTO' | 'ALL';

/** Defined beside its parser (policy/host-port.ts) so that policy/ imports nothing from config/. */
export type { HostPort };

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface ListenerConfig {
  address: HostPort;
  /** http: forward + CONNECT + gateway; sni: TLS passthrough on the ClientHello's SNI. */
  mode: 'http' | 'sni';
  /** Clients speak TLS to the proxy (HTTPS proxy). null = plain. */
  tls: TlsFiles | null;
  proxyProtocol: boolean;
  /** mode sni: the port dialled for the ClientHello's server name (default 443). */
  upstreamPort: number;
}

export interface DnsConfig {
  /** Resolver addresses as "ip" or "ip:port" / "[v6]:port" for c-ares setServers; empty = system. */
  servers: string[];
  lookupFamily: LookupFamily;
  minTtlMs: number;
  maxTtlMs: number;
  negativeTtlMs: number;
  queryTimeoutMs: number;
  /** Retries per query after the first attempt (c-ares `tries` = retries + 1). */
  retries: number;
  hostTtlMs: number;
  maxHosts: number;
  maxPendingLookups: number;
  preresolve: string[];
}

/** One access.allow / access.deny rule: its text (lower-cased) and the name the config may give it. */
export interface AccessEntry {
  rule: string;
  name: string | null;
}

export interface AccessConfig {
  /** enforce: allow/deny rules refuse; report: they only log and count what they would refuse (the guard is enforced in both). */
  mode: 'enforce' | 'report';
  allowPrivateDestinations: boolean;
  allow: AccessEntry[];
  deny: AccessEntry[];
  /** Ports CONNECT may reach; empty = any. */
  connectPorts: number[];
  /** Protocols an Upgrade may switch to (lower-case protocol names); other Upgrade tokens are removed. */
  upgrades: string[];
  /**
   * The TLS SNI inside a CONNECT tunnel: off (not read); match (a ClientHello naming another host closes
   * the tunnel; non-TLS bytes and a ClientHello without SNI pass); require (also refuses those).
   * Default: match when access.allow is set, else off.
   */
  connectSni: 'off' | 'match' | 'require';
}

export interface BasicAuthUser {
  username: string;
  password: string;
}

export interface AuthConfig {
  basic: null | { realm: string; users: BasicAuthUser[]; passwordFile: string | null };
}

export interface RateLimitConfig {
  perClient: null | { requestsPerSecond: number; burst: number };
  /** Where the buckets live: this process ('memory') or a Redis server shared by every replica. */
  store: 'memory' | { redis: HostPort };
}

export interface LimitsConfig {
  maxHeaderBytes: number;
  maxConnections: number;
  /** Concurrent connections from one client address (as the listener chain established it). */
  maxConnectionsPerClient: number;
  headerTimeoutMs: number;
  /** Request fully sent -> final response head; 0 = off. */
  responseTimeoutMs: number;
  /** Between requests, in a tunnel, and in an exchange where no byte moves either way. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  drainTimeoutMs: number;
}

/** Trust for upstream TLS: 'system' roots and/or PEM files. */
export interface TrustConfig {
  system: boolean;
  caFiles: string[];
  /** Bundles given inline (a Kubernetes ConfigMap's ca.crt in a translated manifest), with where they came from. */
  caPems: { source: string; pem: string }[];
}

export interface UpstreamConfig {
  maxIdlePerHost: number;
  tls: { trust: TrustConfig };
}

export interface RouteMatch {
  /** Host globs ("*.example.com", "example.com"); empty = any host. Lower-case. */
  hosts: string[];
  pathPrefix: string;
  /** Header name (lower-case) → exact value. */
  headers: Record<string, string>;
}

export interface UpstreamTlsConfig {
  enabled: boolean;
  /** The route's own CAs; null: upstream.tls.ca. */
  trust: TrustConfig | null;
  /** 'auto' = the destination host name; otherwise a fixed SNI. */
  sni: string;
  verifyHostname: boolean;
}

export type BackendConfig =
  | { type: 'DynamicForwardProxy'; hostRewriteHeader: string | null; tls: UpstreamTlsConfig | null }
  | { type: 'Static'; endpoints: HostPort[]; tls: UpstreamTlsConfig | null };

export interface RouteConfig {
  match: RouteMatch;
  backend: BackendConfig;
}

export interface PacConfig {
  /** What browsers are told to use: "HOST:PORT". */
  proxy: string;
  /** Host globs ("*.internal.example", "intranet") browsers reach DIRECT. */
  direct: string[];
}

export interface Config {
  listeners: ListenerConfig[];
  admin: HostPort | null;
  dns: DnsConfig;
  access: AccessConfig;
  auth: AuthConfig;
  rateLimit: RateLimitConfig;
  limits: LimitsConfig;
  upstream: UpstreamConfig;
  routes: RouteConfig[];
  workers: number;
  log: {
    format: 'json' | 'pretty';
    level: 'debug' | 'info' | 'warn' | 'error';
    /** Access log file (absolute path); null: stdout. Reopened on SIGUSR1 (logrotate). */
    accessFile: string | null;
  };
  /** GET /proxy.pac on the admin port; null: not served. */
  pac: PacConfig | null;
}
