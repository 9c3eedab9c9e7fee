/**
 * Where a request goes: host and port from an absolute-form URI, an
 * authority-form CONNECT target, a Host header or a rewrite header.
 * Byte loops over the head's buffer; strings only for the host itself.
 */
import { ProxyError } from '../errors.js';

export interface Authority {
  /** Host as written (IPv6 without brackets), not yet normalised. */
  host: string;
  port: number;
  /** Index in the buffer where the path starts (absolute-form only), else -1. */
  pathStart: number;
  /** https:// scheme (absolute-form only). */
  isHttps: boolean;
  /** The port was written (else `port` is the default given). */
  hasPort: boolean;
  /** The authority as received, buf[authorityStart, authorityEnd): what a rewritten Host carries. */
  authorityStart: number;
  authorityEnd: number;
  /**
   * The bytes the forwarded Host line must carry when they must differ from the
   * received authority (an IDN host goes on as the A-label that was resolved), else null.
   */
  hostHeader: Buffer | null;
}

const CH_COLON = 0x3a;
const CH_SLASH = 0x2f;
const CH_LBRACKET = 0x5b;
const CH_RBRACKET = 0x5d;
const CH_AT = 0x40;
const CH_QUESTION = 0x3f;

/** Bytes of an IPv6 address in text form besides ':' (HEXDIG and '.' of a dotted IPv4 tail). */
const IPV6_CHAR = buildIPv6CharTable();

function buildIPv6CharTable(): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of '0123456789abcdefABCDEF.') table[c.charCodeAt(0)] = 1;
  return table;
}

/**
 * Parse `host[:port]` in buf[start, end). `defaultPort` applies when the port is
 * absent; `requirePort` for CONNECT. Throws REQUEST_MALFORMED with a reason.
 */
export function parseHostPort(buf: Buffer, start: number, end: number, defaultPort: number, requirePort: boolean): Authority {
  if (start >= end) throw new ProxyError('REQUEST_MALFORMED', 'empty host');
  let hostStart = start;
  let hostEnd: number;
  let i: number;
  if (buf[start] === CH_LBRACKET) {
    // RFC 3986 IP-literal: only an IPv6 address may stand in brackets (no names, no
    // IPv4, no zone, no IPvFuture). The characters are checked here; normalizeHost
    // (dns/name.ts) parses the address strictly, as it does any host with a colon.
    i = start + 1;
    let hasColon = false;
    let isIPv6Chars = true;
    for (; i < end; i++) {
      const c = buf[i]!;
      if (c === CH_RBRACKET) break;
      if (c === CH_COLON) hasColon = true;
      else if (IPV6_CHAR[c] === 0) isIPv6Chars = false;
    }
    if (i === end) throw new ProxyError('REQUEST_MALFORMED', 'unterminated IPv6 literal');
    if (!hasColon || !isIPv6Chars) throw new ProxyError('REQUEST_MALFORMED', 'brackets must hold an IPv6 address');
    hostStart = start + 1;
    hostEnd = i;
    i++;
  } else {
    i = start;
    while (i < end && buf[i] !== CH_COLON) {
      if (buf[i] === CH_AT) throw new ProxyError('REQUEST_MALFORMED', 'userinfo in authority');
      i++;
    }
    hostEnd = i;
  }
  if (hostEnd === hostStart) throw new ProxyError('REQUEST_MALFORMED', 'empty host');
  let port = defaultPort;
  if (i < end) {
    if (buf[i] !== CH_COLON) throw new ProxyError('REQUEST_MALFORMED', 'invalid authority');
    port = parsePort(buf, i + 1, end);
  } else if (requirePort) {
    throw new ProxyError('REQUEST_MALFORMED', 'CONNECT target needs a port');
  }
  return { host: buf.toString('latin1', hostStart, hostEnd), port, pathStart: -1, isHttps: false, authorityStart: start, authorityEnd: end, hostHeader: null, hasPort: i < end };
}

function parsePort(buf: Buffer, start: number, end: number): number {
  if (start === end || end - start > 5) throw new ProxyError('REQUEST_MALFORMED', 'invalid port');
  let port = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) throw new ProxyError('REQUEST_MALFORMED', 'invalid port');
    port = port * 10 + d;
  }
  if (port === 0 || port > 65535) throw new ProxyError('REQUEST_MALFORMED', 'port out of range');
  return port;
}

/** Case-insensitive prefix test of an ASCII literal (lower-case) at buf[start]. */
function hasPrefixFolded(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start < lower.length) return false;
  for (let k = 0; k < lower.length; k++) {
    if ((buf[start + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/** Parse an absolute-form target `http://authority/path`. */
export function parseAbsoluteTarget(buf: Buffer, start: number, end: number): Authority {
  let isHttps = false;
  let i: number;
  if (hasPrefixFolded(buf, start, end, 'http://')) {
    i = start + 7;
  } else if (hasPrefixFolded(buf, start, end, 'https://')) {
    i = start + 8;
    isHttps = true;
  } else {
    throw new ProxyError('REQUEST_MALFORMED', 'absolute-form target must be http:// or https://');
  }
  const authStart = i;
  while (i < end) {
    const c = buf[i];
    if (c === CH_SLASH || c === CH_QUESTION) break;
    i++;
  }
  const authority = parseHostPort(buf, authStart, i, isHttps ? 443 : 80, false);
  authority.pathStart = i;
  authority.isHttps = isHttps;
  return authority;
}
