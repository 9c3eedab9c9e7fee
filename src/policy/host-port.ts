/**
 * Host and host:port syntax for the configuration and the command line
 * (listen and admin addresses): host names, ports, bracketed IPv6.
 */
import { hasZone, parseIPv4, parseIPv6 } from './ip.js';

/** A listen, admin or endpoint address (config/types.ts re-exports it). */
export interface HostPort {
  host: string; // IP literal or name, IPv6 without brackets
  port: number;
}

const scratch = new Uint8Array(16);

/**
 * A DNS host name: dot-separated labels of letters, digits, '-' and '_',
 * 1..63 bytes each, 253 in all, no trailing dot, not all-numeric in the last label
 * (that would be a malformed IPv4 literal).
 */
export function isHostName(text: string): boolean {
  if (text.length === 0 || text.length > 253) return false;
  let labelLen = 0;
  let labelDigitsOnly = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e) {
      if (labelLen === 0) return false;
      if (text.charCodeAt(i - 1) === 0x2d) return false; // label ends in '-'
      labelLen = 0;
      labelDigitsOnly = true;
      continue;
    }
    const isDigit = c >= 0x30 && c <= 0x39;
    const f = c | 0x20;
    const isLetter = f >= 0x61 && f <= 0x7a;
    if (!isDigit && !isLetter && c !== 0x2d && c !== 0x5f) return false;
    if (c === 0x2d && labelLen === 0) return false; // label starts with '-'
    if (!isDigit) labelDigitsOnly = false;
    if (++labelLen > 63) return false;
  }
  if (labelLen === 0 || text.charCodeAt(text.length - 1) === 0x2d) return false;
  return !labelDigitsOnly;
}

/** A decimal port 0..65535 without sign or leading zeros; -1 otherwise. */
export function parsePort(text: string, from = 0, to = text.length): number {
  if (to - from < 1 || to - from > 5) return -1;
  if (to - from > 1 && text.charCodeAt(from) === 0x30) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n <= 65535 ? n : -1;
}

/**
 * Parse "127.0.0.1:8080", "[::1]:8080" or "localhost:8080" (host lower-cased,
 * IPv6 without brackets). A missing host (":8080") is rejected: listening on
 * every interface must be spelled 0.0.0.0 or [::]. Throws an Error whose
 * message is the reason.
 */
export function parseHostPort(text: string, allowPortZero: boolean): HostPort {
  let host: string;
  let portAt: number;
  if (text.charCodeAt(0) === 0x5b) {
    const close = text.indexOf(']');
    if (close < 0) throw new Error(`"${text}": missing ]`);
    host = text.slice(1, close);
    if (!parseIPv6(host, scratch) || hasZone(host)) throw new Error(`"${text}": [${host}] is not an IPv6 address`);
    if (text.charCodeAt(close + 1) !== 0x3a) throw new Error(`"${text}" needs a port: [${host}]:PORT`);
    portAt = close + 2;
    host = host.toLowerCase();
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new Error(`"${text}" needs a port: HOST:PORT`);
    if (text.indexOf(':') !== colon) throw new Error(`"${text}": put IPv6 addresses in brackets, e.g. [::1]:8080`);
    host = text.slice(0, colon).toLowerCase();
    portAt = colon + 1;
    if (host.length === 0) {
      throw new Error(`"${text}" has no host; write 127.0.0.1${text} for this machine or 0.0.0.0${text} / [::]${text} for every interface`);
    }
    if (parseIPv4(host) < 0 && !isHostName(host)) throw new Error(`"${host}" is not an IPv4 address or a host name`);
  }
  const port = parsePort(text, portAt);
  if (port < 0) throw new Error(`"${text.slice(portAt)}" is not a port (0..65535)`);
  if (port === 0 && !allowPortZero) throw new Error('port 0 is not allowed here');
  return { host, port };
}

/** Format a HostPort back to text ("[::1]:80" for IPv6). */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
