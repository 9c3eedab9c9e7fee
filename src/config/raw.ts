/**
 * The configuration file as written: YAML (or JSON, which is read strictly)
 * before any validation. resolve.ts walks this shape key by key, rejects
 * unknown keys and turns it into the resolved Config (types.ts).
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments, YAMLParseError } from 'yaml';
import { parseIPv4, parseIPv6 } from '../policy/address.js';
import { parseAccessRule } from '../policy/access-rules.js';
import { isHostName, parseHostPort } from '../policy/host-port.js';
import type { HostPort } from './types.js';

/** A rejected configuration value: names the key path and the reason. */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`config: ${path}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/** Durations are strings with a unit ("5s"); see duration.ts. */
export type RawDuration = string | number;
/** "host:port", "[v6]:port". */
export type RawAddress = string;

export interface RawListener {
  address?: RawAddress;
  mode?: 'http' | 'sni';
  tls?: { certFile?: string; keyFile?: string } | null;
  proxyProtocol?: boolean;
}

export interface RawDns {
  servers?: string[];
  lookupFamily?: string;
  minTtl?: RawDuration;
  maxTtl?: RawDuration;
  negativeTtl?: RawDuration;
  queryTimeout?: RawDuration;
  retries?: number;
  hostTtl?: RawDuration;
  maxHosts?: number;
  maxPendingLookups?: number;
  preresolve?: string[];
}

/** `ca: system`, `ca: file.pem` or `ca: [system, file.pem]`. */
/** `system`, a PEM file path, or (from a translated manifest) an inline bundle; or a list of them. */
export type RawCaItem = string | { pem: string; source: string };
export type RawCa = RawCaItem | RawCaItem[];

export interface RawUpstreamTls {
  enabled?: boolean;
  ca?: RawCa;
  sni?: string;
  verifyHostname?: boolean;
}

export interface RawRoute {
  match?: { hosts?: string[]; pathPrefix?: string; headers?: Record<string, string> };
  backend?: {
    type?: string;
    hostRewriteHeader?: string;
    endpoints?: RawAddress[];
    tls?: RawUpstreamTls | null;
  };
}

export interface RawConfig {
  listeners?: RawListener[];
  admin?: { address?: RawAddress | false } | RawAddress | false;
  dns?: RawDns;
  access?: {
    allowPrivateDestinations?: boolean;
    allow?: string[];
    deny?: string[];
    connectPorts?: number[];
    upgrades?: string[];
    connectSni?: string;
  };
  auth?: {
    basic?: {
      realm?: string;
      users?: { username?: string; password?: string }[];
      passwordFile?: string;
    } | null;
  };
  rateLimit?: { perClient?: { requestsPerSecond?: number; burst?: number } | null };
  limits?: {
    maxHeaderBytes?: number;
    maxConnections?: number;
    maxConnectionsPerClient?: number;
    headerTimeout?: RawDuration;
    responseTimeout?: RawDuration;
    idleTimeout?: RawDuration;
    connectTimeout?: RawDuration;
    drainTimeout?: RawDuration;
  };
  upstream?: { maxIdlePerHost?: number; tls?: { ca?: RawCa } };
  routes?: RawRoute[];
  workers?: number;
  log?: { format?: string; level?: string; accessFile?: string | null };
  pac?: { proxy?: string; direct?: string[] } | null;
}

/** The documents of one file: one for a dfp config, one or more for Kubernetes manifests. */
export interface RawFile {
  path: string;
  documents: unknown[];
}

/** Read and parse a config file. Errors name the file (and the line for syntax errors). */
export function readConfigFile(path: string): RawFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError('--config', `cannot read ${path}: ${code}`);
  }
  return { path, documents: parseConfigText(text, path) };
}

/** Parse config text: JSON when the name ends in .json, otherwise YAML (possibly several documents). */
export function parseConfigText(text: string, name: string): unknown[] {
  if (name.endsWith('.json')) {
    try {
      return [JSON.parse(text) as unknown];
    } catch (err) {
      throw new ConfigError(name, `invalid JSON: ${(err as Error).message}`);
    }
  }
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return []; // an empty stream
  const out: unknown[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) throw new ConfigError(name, `invalid YAML: ${oneLine(err instanceof YAMLParseError ? err.message : String(err))}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function oneLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

/**
 * The candidate closest to `input` for "did you mean …?": equal after folding
 * case and dropping '-' / '_', or within a small edit distance. null = none close.
 */
export function suggest(input: string, candidates: readonly string[]): string | null {
  const folded = fold(input);
  let best: string | null = null;
  let bestDistance = folded.length >= 5 ? 3 : 2; // accept distance < this
  for (const candidate of candidates) {
    const c = fold(candidate);
    if (c === folded) return candidate;
    if (c.length >= 3 && folded.length > c.length && folded.startsWith(c) && best === null) best = candidate; // "warning" → warn
    const d = editDistance(folded, c, bestDistance);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function fold(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2d || c === 0x5f) continue;
    out += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c | 0x20) : text[i];
  }
  return out;
}

/** Levenshtein distance with adjacent transpositions; stops early past `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev2: number[] = [];
  let prev: number[] = [];
  for (let j = 0; j <= b.length; j++) prev.push(j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= limit) return limit;
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

// ---- Reading raw values: every reader names the key path in its errors. ----

export type RawObject = Record<string, unknown>;

export function joinPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  return String(value);
}

/**
 * `value` as a mapping whose keys are all in `keys` (unknown keys rejected with
 * the nearest known one). null/undefined read as an empty mapping.
 */
export function readObject(value: unknown, path: string, keys: readonly string[]): RawObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(path || '(file)', `must be a mapping, not ${describe(value)}`);
  }
  const obj = value as RawObject;
  for (const key of Object.keys(obj)) {
    if (!keys.includes(key)) {
      const hint = suggest(key, keys);
      throw new ConfigError(joinPath(path, key), `unknown key${hint ? `; did you mean ${hint}?` : ''}`);
    }
  }
  return obj;
}

/** `obj[key]` as a list (absent/null → undefined). */
export function readList(obj: RawObject, key: string, path: string): unknown[] | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new ConfigError(joinPath(path, key), `must be a list, not ${describe(value)}`);
  return value;
}

export function readStringList(obj: RawObject, key: string, path: string): string[] | undefined {
  const list = readList(obj, key, path);
  if (list === undefined) return undefined;
  return list.map((item, i) => {
    if (typeof item !== 'string') throw new ConfigError(joinPath(joinPath(path, key), i), `must be a string, not ${describe(item)}`);
    return item;
  });
}

export function readBool(obj: RawObject, key: string, path: string, fallback: boolean): boolean {
  const value = obj[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(joinPath(path, key), `must be true or false, not ${describe(value)}`);
  return value;
}

export function readString(obj: RawObject, key: string, path: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ConfigError(joinPath(path, key), `must be a string, not ${describe(value)}`);
  if (value.length === 0) throw new ConfigError(joinPath(path, key), 'must not be empty');
  return value;
}

export function checkInt(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ConfigError(path, `must be a whole number, not ${describe(value)}`);
  }
  if (value < min || value > max) throw new ConfigError(path, `must be between ${min} and ${max}, not ${value}`);
  return value;
}

export function readInt(obj: RawObject, key: string, path: string, fallback: number, min: number, max: number): number {
  const value = obj[key];
  if (value === undefined || value === null) return fallback;
  return checkInt(value, joinPath(path, key), min, max);
}

export function readEnum<T extends string>(obj: RawObject, key: string, path: string, values: readonly T[], fallback: T): T {
  const value = obj[key];
  if (value === undefined || value === null) return fallback;
  return checkEnum(value, joinPath(path, key), values);
}

export function checkEnum<T extends string>(value: unknown, path: string, values: readonly T[]): T {
  if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as T;
  const hint = typeof value === 'string' ? suggest(value, values) : null;
  throw new ConfigError(path, `must be one of ${values.join(' | ')}, not ${describe(value)}${hint ? `; did you mean ${hint}?` : ''}`);
}

// ---- value syntax: names, globs, header names, DNS servers, access entries ----

/** A host name (lower-cased) or throws naming the path. IP literals are not names. */
export function checkHostName(text: string, path: string): string {
  const lower = text.toLowerCase();
  if (!isHostName(lower)) throw new ConfigError(path, `"${text}" is not a host name`);
  return lower;
}

/**
 * A route host pattern: "*" (any), "*.example.com" (any name below), an exact
 * name or an IP literal ("[::1]" or "::1" kept without brackets). Lower-cased.
 */
export function checkHostGlob(text: string, path: string): string {
  const lower = text.toLowerCase();
  if (lower === '*') return lower;
  if (lower.startsWith('*.')) {
    if (!isHostName(lower.slice(2))) throw new ConfigError(path, `"${text}": after "*." must come a host name`);
    return lower;
  }
  if (lower.includes('*')) throw new ConfigError(path, `"${text}": "*" is only allowed as a whole first label ("*.example.com")`);
  if (parseIPv4(lower) >= 0) return lower;
  const bare = lower.startsWith('[') && lower.endsWith(']') ? lower.slice(1, -1) : lower;
  if (bare.includes(':')) {
    if (!parseIPv6(bare, new Uint8Array(16)) || bare.includes('%')) throw new ConfigError(path, `"${text}" is not an IPv6 address`);
    return bare;
  }
  if (!isHostName(lower)) throw new ConfigError(path, `"${text}" is not a host name or pattern`);
  return lower;
}

/** RFC 9110 token characters. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = TCHAR[c + 0x20] = 1;

/** A header field name (a token), lower-cased. */
export function checkHeaderName(text: string, path: string): string {
  if (text.length === 0) throw new ConfigError(path, 'header name must not be empty');
  for (let i = 0; i < text.length; i++) {
    if (TCHAR[text.charCodeAt(i)] !== 1) throw new ConfigError(path, `"${text}" is not a valid header name`);
  }
  return text.toLowerCase();
}

/**
 * A DNS server for c-ares setServers: "1.2.3.4", "1.2.3.4:5353", "::1" or
 * "[::1]:5353". IP literals only (a name would need DNS to find DNS).
 */
export function checkDnsServer(text: string, path: string): string {
  if (parseIPv4(text) >= 0) return text;
  const lower = text.toLowerCase();
  if (!lower.startsWith('[') && lower.includes(':') && lower.indexOf(':') !== lower.lastIndexOf(':')) {
    if (lower.includes('%') || !parseIPv6(lower, new Uint8Array(16))) throw new ConfigError(path, `"${text}" is not an IP address`);
    return lower;
  }
  if (!lower.includes(':')) throw new ConfigError(path, `"${text}": a DNS server must be an IP address, not a name`);
  let hp: HostPort;
  try {
    hp = parseHostPort(lower, false);
  } catch (err) {
    throw new ConfigError(path, `${(err as Error).message} (DNS servers are IP, IP:PORT or [IPv6]:PORT)`);
  }
  if (parseIPv4(hp.host) < 0 && !hp.host.includes(':')) throw new ConfigError(path, `"${text}": a DNS server must be an IP address, not a name`);
  return lower;
}

/**
 * An access.allow / access.deny entry: a name ("example.com", "*.example.com", "*"), an address or CIDR
 * ("10.0.0.0/8", "2001:db8::/32", "[::1]"), each with an optional port or range (":443", ":8000-8999";
 * IPv6 in brackets then). The syntax and its reasons are policy/access-rules.ts's; lower-cased here.
 */
export function checkAccessEntry(text: string, path: string): string {
  const lower = text.toLowerCase();
  try {
    parseAccessRule(lower);
  } catch (err) {
    throw new ConfigError(path, `"${text}": ${(err as Error).message}`);
  }
  return lower;
}
