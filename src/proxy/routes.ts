/**
 * Route matching (first match wins) and the loop checks that go with choosing a
 * destination. Everything here is byte or char loops: no RegExp per request.
 */
import { HEADER_STRIDE, type HeadParser } from '../http/index.js';
import type { RouteConfig } from '../config/types.js';

/** `*.example.com` matches any name below example.com (not example.com itself); others match exactly. */
export function hostMatchesGlob(host: string, glob: string): boolean {
  if (glob === '*') return true;
  if (glob.charCodeAt(0) === 0x2a /* * */ && glob.charCodeAt(1) === 0x2e /* . */) {
    const suffix = glob.length - 1; // ".example.com"
    return host.length > suffix && host.endsWith(glob.slice(1));
  }
  return host === glob;
}

function pathHasPrefix(buf: Buffer, start: number, end: number, prefix: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  if (end - start < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (buf[start + k] !== prefix.charCodeAt(k)) return false;
  return true;
}

function headersMatch(parser: HeadParser, wanted: Record<string, string>): boolean {
  for (const name in wanted) {
    let found = false;
    for (let i = 0; i < parser.headerCount && !found; i++) {
      if (equalsFolded(parser, i, name) && parser.headerValue(i) === wanted[name]) found = true;
    }
    if (!found) return false;
  }
  return true;
}

/** Header i's name equals `lowerName` (already lower-case), case-insensitively. */
export function equalsFolded(parser: HeadParser, i: number, lowerName: string): boolean {
  const h = parser.headers;
  const start = h[i * HEADER_STRIDE]!;
  const len = h[i * HEADER_STRIDE + 1]! - start;
  if (len !== lowerName.length) return false;
  const buf = parser.buf;
  for (let k = 0; k < len; k++) if ((buf[start + k]! | 0x20) !== lowerName.charCodeAt(k)) return false;
  return true;
}

/** Index of the first header named `lowerName` at index `from` or later, or -1. */
export function findHeaderByName(parser: HeadParser, lowerName: string, from = 0): number {
  for (let i = from; i < parser.headerCount; i++) if (equalsFolded(parser, i, lowerName)) return i;
  return -1;
}

/**
 * The first route whose match accepts this request, or null. `host` is the
 * normalised destination host; `pathStart` the index of the origin-form path.
 */
export function matchRoute(routes: readonly RouteConfig[], parser: HeadParser, host: string, pathStart: number): RouteConfig | null {
  for (const route of routes) {
    const m = route.match;
    if (m.hosts.length > 0) {
      let ok = false;
      for (const glob of m.hosts) if (hostMatchesGlob(host, glob)) { ok = true; break; }
      if (!ok) continue;
    }
    if (!pathHasPrefix(parser.buf, pathStart, parser.targetEnd, m.pathPrefix)) continue;
    if (!headersMatch(parser, m.headers)) continue;
    return route;
  }
  return null;
}

/**
 * For a connection that has only a name (SNI passthrough): whether some route admits the host. A route
 * that also asks for a path or headers cannot be met without a request, so it admits nothing here.
 */
export function hostMatchesRoutes(routes: readonly RouteConfig[], host: string): boolean {
  for (const route of routes) {
    const m = route.match;
    if ((m.pathPrefix !== '/' && m.pathPrefix !== '') || Object.keys(m.headers).length > 0) continue;
    if (m.hosts.length === 0) return true;
    for (const glob of m.hosts) if (hostMatchesGlob(host, glob)) return true;
  }
  return false;
}

/**
 * True when a Via header value names `pseudonym` as a received-by: an entry
 * `1.1 dfp` or `HTTP/1.1 dfp` (RFC 9110 §7.6.3). Comments are skipped.
 */
export function viaNamesProxy(buf: Buffer, start: number, end: number, pseudonym: string): boolean {
  let i = start;
  while (i < end) {
    // skip OWS and commas
    while (i < end && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x2c)) i++;
    // received-protocol
    while (i < end && buf[i] !== 0x20 && buf[i] !== 0x09 && buf[i] !== 0x2c) i++;
    while (i < end && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
    // received-by
    const byStart = i;
    while (i < end && buf[i] !== 0x20 && buf[i] !== 0x09 && buf[i] !== 0x2c) i++;
    if (i - byStart === pseudonym.length) {
      let same = true;
      for (let k = 0; k < pseudonym.length; k++) {
        if ((buf[byStart + k]! | 0x20) !== pseudonym.charCodeAt(k)) { same = false; break; }
      }
      if (same) return true;
    }
    // rest of the entry (comment)
    while (i < end && buf[i] !== 0x2c) i++;
  }
  return false;
}
