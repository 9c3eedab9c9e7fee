/**
 * raw file shape + command-line overrides → the resolved Config.
 * Every value is validated here and errors name the key path
 * (`dns.minTtl`, `listeners[1].address`, `routes[0].backend.type`).
 * Relative file paths resolve against the config file's directory.
 */
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createSecureContext } from 'node:tls';
import { parseHtpasswd } from '../policy/htpasswd.js';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { defaultConfig } from './defaults.js';
import { parseDuration } from './duration.js';
import { formatHostPort, parseHostPort as parseHostPortText } from '../policy/host-port.js';
import {
  ConfigError,
  checkAccessEntry,
  checkDnsServer,
  checkEnum,
  checkHeaderName,
  checkHostGlob,
  checkHostName,
  checkInt,
  describe,
  joinPath,
  readBool,
  readEnum,
  readInt,
  readList,
  readObject,
  readString,
  readStringList,
  type RawObject,
} from './raw.js';
import type {
  AccessConfig,
  AccessEntry,
  PacConfig,
  AuthConfig,
  BackendConfig,
  Config,
  DnsConfig,
  HostPort,
  LimitsConfig,
  ListenerConfig,
  LookupFamily,
  RateLimitConfig,
  RouteConfig,
  TrustConfig,
  UpstreamConfig,
  UpstreamTlsConfig,
} from './types.js';

/** Command-line values that override the file (cli/args.ts passes its Flags, which carry every field). */
export interface Overrides {
  listen: readonly string[];
  admin: string | null;
  dnsServers: readonly string[];
  allowPrivate: boolean;
  /** --connect-ports: "any" or a comma-separated list; null = not given. */
  connectPorts: string | null;
  workers: string | null;
  logFormat: string | null;
  logLevel: string | null;
}

export interface ResolveOptions {
  /** Directory relative file paths resolve against (the config file's). */
  baseDir: string;
  /** Check that referenced files are readable (default true). */
  checkFiles?: boolean;
}

export const TOP_KEYS = ['listeners', 'admin', 'dns', 'access', 'auth', 'rateLimit', 'limits', 'upstream', 'routes', 'workers', 'log', 'pac'] as const;
export const LOOKUP_FAMILIES: readonly LookupFamily[] = ['V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'AUTO', 'ALL'];
const LOG_FORMATS = ['json', 'pretty'] as const;
const ACCESS_KEYS = ['mode', 'allowPrivateDestinations', 'allow', 'deny', 'connectPorts', 'upgrades', 'connectSni'];
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

interface Ctx {
  baseDir: string;
  checkFiles: boolean;
}

/** Resolve one parsed config document (null/undefined = empty file) plus overrides. */
export function resolveConfig(raw: unknown, overrides: Overrides | null, options: ResolveOptions): Config {
  const ctx: Ctx = { baseDir: options.baseDir, checkFiles: options.checkFiles ?? true };
  const top = readObject(raw, '', TOP_KEYS);
  const d = defaultConfig();
  const logObj = readObject(top['log'], 'log', ['format', 'level', 'accessFile']);
  const config: Config = {
    listeners: resolveListeners(top, d.listeners, ctx),
    admin: resolveAdmin(top['admin'], d.admin),
    dns: resolveDns(readObject(top['dns'], 'dns', DNS_KEYS), d.dns),
    access: resolveAccess(readObject(top['access'], 'access', ACCESS_KEYS), d.access),
    auth: resolveAuth(readObject(top['auth'], 'auth', ['basic']), ctx),
    rateLimit: resolveRateLimit(readObject(top['rateLimit'], 'rateLimit', ['perClient', 'store'])),
    limits: resolveLimits(readObject(top['limits'], 'limits', LIMIT_KEYS), d.limits),
    upstream: resolveUpstream(readObject(top['upstream'], 'upstream', ['maxIdlePerHost', 'tls']), d.upstream, ctx),
    routes: resolveRoutes(top, d.routes, ctx),
    workers: top['workers'] === 'auto' ? autoWorkers() : readInt(top, 'workers', '', d.workers, 1, 256),
    log: {
      format: readEnum(logObj, 'format', 'log', LOG_FORMATS, d.log.format),
      level: readEnum(logObj, 'level', 'log', LOG_LEVELS, d.log.level),
      accessFile: resolveAccessFile(logObj, ctx),
    },
    pac: resolvePac(top['pac']),
  };
  // CONNECT ports and private destinations are separate decisions: --allow-private opens no port.
  if (overrides) applyOverrides(config, overrides);
  checkAddressesDistinct(config);
  return config;
}

function applyOverrides(config: Config, o: Overrides): void {
  if (o.listen.length > 0) {
    const flagListeners: ListenerConfig[] = o.listen.map((text) => ({
      address: parseHostPort(text, '--listen', true),
      mode: 'http',
      tls: null,
      proxyProtocol: false,
      upstreamPort: 443,
    }));
    // --listen replaces the file's http listeners; sni listeners stay.
    config.listeners = flagListeners.concat(config.listeners.filter((l) => l.mode !== 'http'));
  }
  if (o.admin !== null) config.admin = o.admin === 'off' ? null : parseHostPort(o.admin, '--admin', true);
  if (o.dnsServers.length > 0) config.dns.servers = o.dnsServers.map((s) => checkDnsServer(s, '--dns-server'));
  if (o.allowPrivate) config.access.allowPrivateDestinations = true;
  if (o.connectPorts !== null) config.access.connectPorts = parseConnectPorts(o.connectPorts);
  if (o.workers !== null) config.workers = o.workers === 'auto' ? autoWorkers() : checkInt(parseDecimal(o.workers), '--workers', 1, 256);
  if (o.logFormat !== null) config.log.format = checkEnum(o.logFormat, '--log-format', LOG_FORMATS);
  if (o.logLevel !== null) config.log.level = checkEnum(o.logLevel, '--log-level', LOG_LEVELS);
}

/** --connect-ports: `any` (every port), or a comma-separated list of ports. */
function parseConnectPorts(text: string): number[] {
  if (text === 'any') return [];
  const ports = text.split(',').map((p) => checkInt(parseDecimal(p.trim()), '--connect-ports', 1, 65535));
  if (ports.length === 0) throw new ConfigError('--connect-ports', 'needs a port list or any');
  return ports;
}

function parseDecimal(text: string): number | string {
  if (text.length === 0 || text.length > 9) return text;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return text;
  }
  return Number(text);
}

function sameAddress(a: HostPort, b: HostPort): boolean {
  return a.port !== 0 && a.port === b.port && a.host === b.host;
}

function checkAddressesDistinct(config: Config): void {
  const ls = config.listeners;
  for (let i = 0; i < ls.length; i++) {
    for (let j = 0; j < i; j++) {
      if (sameAddress(ls[i]!.address, ls[j]!.address)) {
        throw new ConfigError(`listeners[${i}].address`, `same address as listeners[${j}]`);
      }
    }
    if (config.admin && sameAddress(config.admin, ls[i]!.address)) {
      throw new ConfigError('admin.address', `same address as listeners[${i}]`);
    }
  }
}

// ---- listeners, admin ----

function resolveListeners(top: RawObject, fallback: ListenerConfig[], ctx: Ctx): ListenerConfig[] {
  const list = readList(top, 'listeners', '');
  if (list === undefined) return fallback;
  if (list.length === 0) throw new ConfigError('listeners', 'needs at least one listener (omit the key for 127.0.0.1:8080)');
  return list.map((item, i) => {
    const path = `listeners[${i}]`;
    const o = readObject(item, path, ['address', 'mode', 'tls', 'proxyProtocol', 'upstreamPort']);
    if (o['address'] === undefined || o['address'] === null) throw new ConfigError(`${path}.address`, 'is required');
    const address = parseHostPort(requireString(o, 'address', path), `${path}.address`, true);
    const mode = readEnum(o, 'mode', path, ['http', 'sni'] as const, 'http');
    let tls: ListenerConfig['tls'] = null;
    if (o['tls'] !== undefined && o['tls'] !== null) {
      const t = readObject(o['tls'], `${path}.tls`, ['certFile', 'keyFile']);
      tls = {
        certFile: readFile(t, 'certFile', `${path}.tls`, ctx, true),
        keyFile: readFile(t, 'keyFile', `${path}.tls`, ctx, true),
      };
      if (mode === 'sni') throw new ConfigError(`${path}.tls`, 'mode sni passes TLS through untouched; remove tls or use mode http');
      if (ctx.checkFiles) checkKeyPair(tls.certFile, tls.keyFile, `${path}.tls`);
    }
    if (mode !== 'sni' && o['upstreamPort'] !== undefined) throw new ConfigError(`${path}.upstreamPort`, 'applies to mode sni only');
    return { address, mode, tls, proxyProtocol: readBool(o, 'proxyProtocol', path, false), upstreamPort: readInt(o, 'upstreamPort', path, 443, 1, 65535) };
  });
}

function resolveAdmin(value: unknown, fallback: HostPort | null): HostPort | null {
  if (value === undefined || value === null) return fallback;
  if (value === false || value === 'off') return null;
  if (typeof value === 'string') return parseHostPort(value, 'admin', true);
  const o = readObject(value, 'admin', ['address']);
  const address = o['address'];
  if (address === undefined || address === null) return fallback;
  if (address === false || address === 'off') return null;
  if (typeof address !== 'string') throw new ConfigError('admin.address', `must be host:port or off, not ${describe(address)}`);
  return parseHostPort(address, 'admin.address', true);
}

// ---- dns ----

const DNS_KEYS = ['servers', 'lookupFamily', 'minTtl', 'maxTtl', 'negativeTtl', 'queryTimeout', 'retries', 'hostTtl', 'maxHosts', 'maxPendingLookups', 'preresolve'];

function resolveDns(o: RawObject, d: DnsConfig): DnsConfig {
  const servers = readStringList(o, 'servers', 'dns');
  const preresolve = readStringList(o, 'preresolve', 'dns');
  const dns: DnsConfig = {
    servers: servers ? servers.map((s, i) => checkDnsServer(s, `dns.servers[${i}]`)) : d.servers,
    lookupFamily: readEnum(o, 'lookupFamily', 'dns', LOOKUP_FAMILIES, d.lookupFamily),
    minTtlMs: readDuration(o, 'minTtl', 'dns', d.minTtlMs, 0),
    maxTtlMs: readDuration(o, 'maxTtl', 'dns', d.maxTtlMs, 1),
    negativeTtlMs: readDuration(o, 'negativeTtl', 'dns', d.negativeTtlMs, 0),
    queryTimeoutMs: readDuration(o, 'queryTimeout', 'dns', d.queryTimeoutMs, 1),
    retries: readInt(o, 'retries', 'dns', d.retries, 0, 10),
    hostTtlMs: readDuration(o, 'hostTtl', 'dns', d.hostTtlMs, 1),
    maxHosts: readInt(o, 'maxHosts', 'dns', d.maxHosts, 1, 10_000_000),
    maxPendingLookups: readInt(o, 'maxPendingLookups', 'dns', d.maxPendingLookups, 1, 1_000_000),
    preresolve: preresolve ? preresolve.map((h, i) => checkHostName(h, `dns.preresolve[${i}]`)) : d.preresolve,
  };
  if (dns.minTtlMs > dns.maxTtlMs) {
    throw new ConfigError(o['minTtl'] !== undefined ? 'dns.minTtl' : 'dns.maxTtl', 'dns.minTtl must not exceed dns.maxTtl');
  }
  return dns;
}

function readDuration(o: RawObject, key: string, path: string, fallback: number, minMs: number): number {
  const value = o[key];
  if (value === undefined || value === null) return fallback;
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new ConfigError(joinPath(path, key), (err as Error).message);
  }
  if (ms < minMs) throw new ConfigError(joinPath(path, key), 'must be greater than 0');
  return ms;
}

// ---- access, auth, rate limit, limits ----

function resolveAccess(o: RawObject, d: AccessConfig): AccessConfig {
  const allow = readAccessEntries(o, 'allow') ?? d.allow;
  const deny = readAccessEntries(o, 'deny') ?? d.deny;
  const ports = readList(o, 'connectPorts', 'access');
  return {
    mode: readEnum(o, 'mode', 'access', ['enforce', 'report'] as const, d.mode),
    allowPrivateDestinations: readBool(o, 'allowPrivateDestinations', 'access', d.allowPrivateDestinations),
    allow,
    deny,
    connectPorts: ports ? ports.map((p, i) => checkInt(p, `access.connectPorts[${i}]`, 1, 65535)) : d.connectPorts,
    upgrades: (readStringList(o, 'upgrades', 'access') ?? d.upgrades).map((e, i) => checkUpgradeProtocol(e, `access.upgrades[${i}]`)),
    connectSni: readEnum(o, 'connectSni', 'access', ['off', 'match', 'require'] as const, allow.length > 0 ? 'match' : d.connectSni),
  };
}

/**
 * access.allow / access.deny: each entry a rule string ("*.example.com:443", "10.0.0.0/8") or
 * `{ rule, name }`, the name being what logs and Proxy-Status call the rule instead of its index.
 */
function readAccessEntries(o: RawObject, key: 'allow' | 'deny'): AccessEntry[] | null {
  const list = readList(o, key, 'access');
  if (list === null || list === undefined) return null;
  const names = new Set<string>();
  return list.map((item, i) => {
    const path = `access.${key}[${i}]`;
    if (typeof item === 'string') return { rule: checkAccessEntry(item, path), name: null };
    const e = readObject(item, path, ['rule', 'name']);
    const rule = checkAccessEntry(requireString(e, 'rule', path), `${path}.rule`);
    const name = readString(e, 'name', path) ?? null;
    if (name !== null) {
      if (name.length === 0 || name.length > 64 || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
        throw new ConfigError(`${path}.name`, 'must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
      }
      if (names.has(name)) throw new ConfigError(`${path}.name`, `duplicate rule name "${name}"`);
      names.add(name);
    }
    return { rule, name };
  });
}

/** An Upgrade protocol name (RFC 9110 §7.8: a token; no version: every version of it is allowed), lower-cased. */
function checkUpgradeProtocol(value: string, path: string): string {
  if (value.length === 0 || value.length > 64) throw new ConfigError(path, 'must be a protocol name of 1 to 64 characters');
  for (let i = 0; i < value.length; i++) {
    if (!TCHARS.includes(value[i]!)) throw new ConfigError(path, `must be a protocol name (a token without "/"), not ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

function resolveAuth(o: RawObject, ctx: Ctx): AuthConfig {
  if (o['basic'] === undefined || o['basic'] === null) return { basic: null };
  const path = 'auth.basic';
  const b = readObject(o['basic'], path, ['realm', 'users', 'passwordFile']);
  const realm = readString(b, 'realm', path) ?? 'dfp';
  for (let i = 0; i < realm.length; i++) {
    const c = realm.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) throw new ConfigError(`${path}.realm`, 'must be printable ASCII without " or \\');
  }
  const seen = new Set<string>();
  const users = (readList(b, 'users', path) ?? []).map((item, i) => {
    const up = `${path}.users[${i}]`;
    const u = readObject(item, up, ['username', 'password']);
    const username = requireString(u, 'username', up);
    const password = requireString(u, 'password', up);
    if (username.includes(':')) throw new ConfigError(`${up}.username`, 'must not contain ":"');
    if (seen.has(username)) throw new ConfigError(`${up}.username`, `duplicate user "${username}"`);
    seen.add(username);
    return { username, password };
  });
  const passwordFile = b['passwordFile'] === undefined || b['passwordFile'] === null ? null : readFile(b, 'passwordFile', path, ctx, true);
  if (passwordFile !== null && ctx.checkFiles) {
    // Read now, so that `dfp check` and the start refuse a format dfp cannot verify (exit 2, the line named).
    try {
      parseHtpasswd(readFileSync(passwordFile, 'utf8'), passwordFile);
    } catch (err) {
      throw new ConfigError(`${path}.passwordFile`, (err as Error).message);
    }
  }
  if (users.length === 0 && passwordFile === null) throw new ConfigError(path, 'needs users or passwordFile');
  return { basic: { realm, users, passwordFile } };
}

/** log.accessFile: a path (relative to the config file), created if missing; its directory must exist. */
function resolveAccessFile(o: RawObject, ctx: Ctx): string | null {
  const value = o['accessFile'];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError('log.accessFile', `must be a file path, not ${describe(value)}`);
  const full = isAbsolute(value) ? value : resolvePath(ctx.baseDir, value);
  if (ctx.checkFiles) {
    try {
      accessSync(dirname(full), fsConstants.W_OK);
    } catch {
      throw new ConfigError('log.accessFile', `cannot write in ${dirname(full)}`);
    }
  }
  return full;
}

/** pac: { proxy: "HOST:PORT", direct: [globs] } → served at GET /proxy.pac. */
function resolvePac(value: unknown): PacConfig | null {
  if (value === undefined || value === null) return null;
  const o = readObject(value, 'pac', ['proxy', 'direct']);
  const proxy = requireString(o, 'proxy', 'pac');
  const hp = parseHostPort(proxy, 'pac.proxy', false);
  const direct = (readStringList(o, 'direct', 'pac') ?? []).map((g, i) => checkHostGlob(g, `pac.direct[${i}]`));
  return { proxy: formatHostPort(hp), direct };
}

/** `workers: auto` / `--workers auto`: one per core the process may use. */
function autoWorkers(): number {
  return Math.max(1, Math.min(256, availableParallelism()));
}

/** A listener's certificate and key: PEM that Node's TLS accepts as a pair, or the key names the reason. */
function checkKeyPair(certFile: string, keyFile: string, path: string): void {
  try {
    createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  } catch (err) {
    throw new ConfigError(path, `certFile ${certFile} / keyFile ${keyFile} cannot be used: ${(err as Error).message}`);
  }
}

function resolveRateLimit(o: RawObject): RateLimitConfig {
  const store = resolveRateLimitStore(o['store']);
  if (o['perClient'] === undefined || o['perClient'] === null) return { perClient: null, store };
  const path = 'rateLimit.perClient';
  const p = readObject(o['perClient'], path, ['requestsPerSecond', 'burst']);
  const rps = p['requestsPerSecond'];
  if (typeof rps !== 'number' || !Number.isFinite(rps) || rps <= 0 || rps > 1_000_000) {
    throw new ConfigError(`${path}.requestsPerSecond`, rps === undefined ? 'is required' : `must be a number above 0 and at most 1000000, not ${describe(rps)}`);
  }
  return { perClient: { requestsPerSecond: rps, burst: readInt(p, 'burst', path, Math.max(1, Math.ceil(rps)), 1, 10_000_000) }, store };
}

/** `memory` (default) or `redis://HOST:PORT` (an IP or a name; port default 6379). */
function resolveRateLimitStore(value: unknown): RateLimitConfig['store'] {
  const path = 'rateLimit.store';
  if (value === undefined || value === null || value === 'memory') return 'memory';
  if (typeof value !== 'string' || !value.startsWith('redis://')) throw new ConfigError(path, `must be "memory" or "redis://HOST:PORT", not ${describe(value)}`);
  const rest = value.slice('redis://'.length).replace(/\/$/, '');
  if (rest.includes('@') || rest.includes('/')) throw new ConfigError(path, 'must be redis://HOST:PORT (no credentials or database in the URL)');
  const hp = parseHostPort(rest.includes(':') && !rest.endsWith(']') ? rest : `${rest}:6379`, path, false);
  return { redis: hp };
}

const LIMIT_KEYS = ['maxHeaderBytes', 'maxConnections', 'maxConnectionsPerClient', 'headerTimeout', 'responseTimeout', 'idleTimeout', 'connectTimeout', 'drainTimeout'];

function resolveLimits(o: RawObject, d: LimitsConfig): LimitsConfig {
  return {
    maxHeaderBytes: readInt(o, 'maxHeaderBytes', 'limits', d.maxHeaderBytes, 1024, 1_048_576),
    maxConnections: readInt(o, 'maxConnections', 'limits', d.maxConnections, 1, 1_000_000),
    maxConnectionsPerClient: readInt(o, 'maxConnectionsPerClient', 'limits', d.maxConnectionsPerClient, 1, 1_000_000),
    headerTimeoutMs: readDuration(o, 'headerTimeout', 'limits', d.headerTimeoutMs, 1),
    responseTimeoutMs: readDuration(o, 'responseTimeout', 'limits', d.responseTimeoutMs, 0),
    idleTimeoutMs: readDuration(o, 'idleTimeout', 'limits', d.idleTimeoutMs, 1),
    connectTimeoutMs: readDuration(o, 'connectTimeout', 'limits', d.connectTimeoutMs, 1),
    drainTimeoutMs: readDuration(o, 'drainTimeout', 'limits', d.drainTimeoutMs, 0),
  };
}

// ---- upstream, routes ----

function resolveUpstream(o: RawObject, d: UpstreamConfig, ctx: Ctx): UpstreamConfig {
  const t = readObject(o['tls'], 'upstream.tls', ['ca']);
  return {
    maxIdlePerHost: readInt(o, 'maxIdlePerHost', 'upstream', d.maxIdlePerHost, 0, 10_000),
    tls: { trust: t['ca'] === undefined || t['ca'] === null ? d.tls.trust : readTrust(t['ca'], 'upstream.tls.ca', ctx) },
  };
}

/** `ca: system | file.pem | [system, file.pem]`. */
/** An inline bundle, as manifests translate a ConfigMap's ca.crt: { pem, source }. */
function isInlinePem(item: unknown): item is { pem: string; source: string } {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return false;
  const o = item as Record<string, unknown>;
  return typeof o['pem'] === 'string' && typeof o['source'] === 'string' && Object.keys(o).length === 2;
}

function readTrust(value: unknown, path: string, ctx: Ctx): TrustConfig {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw new ConfigError(path, 'needs at least one CA: system or a PEM file');
  const trust: TrustConfig = { system: false, caFiles: [], caPems: [] };
  items.forEach((item, i) => {
    const p = Array.isArray(value) ? `${path}[${i}]` : path;
    if (isInlinePem(item)) {
      trust.caPems.push({ source: item.source, pem: item.pem });
      return;
    }
    if (typeof item !== 'string' || item.length === 0) throw new ConfigError(p, `must be system or a PEM file path, not ${describe(item)}`);
    if (item === 'system') {
      if (trust.system) throw new ConfigError(p, 'system listed twice');
      trust.system = true;
    } else {
      trust.caFiles.push(checkFile(item, p, ctx));
    }
  });
  return trust;
}

function resolveRoutes(top: RawObject, fallback: RouteConfig[], ctx: Ctx): RouteConfig[] {
  const list = readList(top, 'routes', '');
  if (list === undefined) return fallback;
  if (list.length === 0) throw new ConfigError('routes', 'needs at least one route (omit the key for one DynamicForwardProxy route for everything)');
  return list.map((item, i) => {
    const path = `routes[${i}]`;
    const r = readObject(item, path, ['match', 'backend']);
    const mp = `${path}.match`;
    const m = readObject(r['match'], mp, ['hosts', 'pathPrefix', 'headers']);
    const hosts = (readStringList(m, 'hosts', mp) ?? []).map((h, j) => checkHostGlob(h, `${mp}.hosts[${j}]`));
    const pathPrefix = readString(m, 'pathPrefix', mp) ?? '/';
    if (pathPrefix.charCodeAt(0) !== 0x2f) throw new ConfigError(`${mp}.pathPrefix`, 'must start with /');
    const headerEntries: [string, string][] = [];
    const rawHeaders = m['headers'];
    if (rawHeaders !== undefined && rawHeaders !== null) {
      if (typeof rawHeaders !== 'object' || Array.isArray(rawHeaders)) {
        throw new ConfigError(`${mp}.headers`, `must be a mapping of header name to value, not ${describe(rawHeaders)}`);
      }
      for (const [name, value] of Object.entries(rawHeaders as RawObject)) {
        const hp = `${mp}.headers.${name}`;
        const lower = checkHeaderName(name, hp);
        if (typeof value !== 'string') throw new ConfigError(hp, `must be a string (quote it), not ${describe(value)}`);
        if (headerEntries.some(([n]) => n === lower)) throw new ConfigError(hp, `header ${lower} listed twice`);
        headerEntries.push([lower, value]);
      }
    }
    // fromEntries defines own properties, so even a "__proto__" header name stays data.
    const headers: Record<string, string> = Object.fromEntries(headerEntries);
    return { match: { hosts, pathPrefix, headers }, backend: resolveBackend(r['backend'], `${path}.backend`, ctx) };
  });
}

const BACKEND_TYPES = ['DynamicForwardProxy', 'Static'] as const;

function resolveBackend(value: unknown, path: string, ctx: Ctx): BackendConfig {
  const b = readObject(value, path, ['type', 'hostRewriteHeader', 'endpoints', 'tls']);
  const type = readEnum(b, 'type', path, BACKEND_TYPES, 'DynamicForwardProxy');
  const tls = b['tls'] === undefined || b['tls'] === null ? null : resolveBackendTls(b['tls'], `${path}.tls`, ctx);
  if (type === 'DynamicForwardProxy') {
    if (b['endpoints'] !== undefined) throw new ConfigError(`${path}.endpoints`, 'only for type Static');
    const header = readString(b, 'hostRewriteHeader', path);
    return { type, hostRewriteHeader: header === undefined ? null : checkHeaderName(header, `${path}.hostRewriteHeader`), tls };
  }
  if (b['hostRewriteHeader'] !== undefined) throw new ConfigError(`${path}.hostRewriteHeader`, 'only for type DynamicForwardProxy');
  const endpoints = readStringList(b, 'endpoints', path);
  if (!endpoints || endpoints.length === 0) throw new ConfigError(`${path}.endpoints`, 'type Static needs at least one host:port');
  return { type, endpoints: endpoints.map((e, i) => parseHostPort(e, `${path}.endpoints[${i}]`, false)), tls };
}

function resolveBackendTls(value: unknown, path: string, ctx: Ctx): UpstreamTlsConfig {
  const t = readObject(value, path, ['enabled', 'ca', 'sni', 'verifyHostname']);
  const sni = readString(t, 'sni', path) ?? 'auto';
  return {
    enabled: readBool(t, 'enabled', path, true),
    trust: t['ca'] === undefined || t['ca'] === null ? null : readTrust(t['ca'], `${path}.ca`, ctx),
    sni: sni === 'auto' ? 'auto' : checkHostName(sni, `${path}.sni`),
    verifyHostname: readBool(t, 'verifyHostname', path, true),
  };
}

// ---- small readers ----

function parseHostPort(text: string, path: string, allowPortZero: boolean): HostPort {
  try {
    return parseHostPortText(text, allowPortZero);
  } catch (err) {
    throw new ConfigError(path, (err as Error).message);
  }
}

function requireString(o: RawObject, key: string, path: string): string {
  const value = readString(o, key, path);
  if (value === undefined) throw new ConfigError(joinPath(path, key), 'is required');
  return value;
}

function readFile(o: RawObject, key: string, path: string, ctx: Ctx, required: boolean): string {
  const value = readString(o, key, path);
  if (value === undefined) {
    if (required) throw new ConfigError(joinPath(path, key), 'is required');
    return '';
  }
  return checkFile(value, joinPath(path, key), ctx);
}

function checkFile(file: string, path: string, ctx: Ctx): string {
  const full = isAbsolute(file) ? file : resolvePath(ctx.baseDir, file);
  if (ctx.checkFiles) {
    try {
      accessSync(full, fsConstants.R_OK);
    } catch (err) {
      throw new ConfigError(path, `cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return full;
}
