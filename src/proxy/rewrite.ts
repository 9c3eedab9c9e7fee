/**
 * The heads dfp sends on: the request in origin-form for the origin, the
 * response for the client. Both are slices of the received head (hop-by-hop
 * lines left out) plus a few lines of ours, copied into one Buffer by
 * HeadBuilder.
 */
import { FORM_ABSOLUTE, H_CONTENT_LENGTH, H_HOST, H_TRANSFER_ENCODING, H_UPGRADE, HEADER_STRIDE, METHOD_OPTIONS, type HeadParser } from '../http/index.js';
import type { HeadBuilder } from './head-builder.js';
import type { Authority } from './target.js';

const CRLF = Buffer.from('\r\n');
const HTTP11_CRLF = Buffer.from(' HTTP/1.1\r\n');
const HTTP11 = Buffer.from('HTTP/1.1');
const SLASH = Buffer.from('/');
const ASTERISK = Buffer.from('*');
const HOST_PREFIX = Buffer.from('Host: ');
const CONNECTION_UPGRADE = Buffer.from('Connection: upgrade\r\n');
const CONNECTION_CLOSE = Buffer.from('Connection: close\r\n');
const CONNECTION_KEEP_ALIVE = Buffer.from('Connection: keep-alive\r\n');

export interface ViaLines {
  readonly viaLine11: Buffer;
  readonly viaLine10: Buffer;
}

/** Header lines of `p` in runs, leaving out hop-by-hop lines and those with id `dropId` or `dropId2` (-1: none). */
function addKeptLines(out: HeadBuilder, p: HeadParser, dropId: number, dropId2 = -1): void {
  const buf = p.buf;
  const h = p.headers;
  const n = p.headerCount;
  const hop = p.hopByHop;
  const ids = p.headerIds;
  let runStart = -1;
  for (let i = 0; i < n; i++) {
    if (hop[i] === 1 || ids[i] === dropId || ids[i] === dropId2) {
      if (runStart >= 0) {
        out.add(buf, runStart, h[i * HEADER_STRIDE]!);
        runStart = -1;
      }
    } else if (runStart < 0) {
      runStart = h[i * HEADER_STRIDE]!;
    }
  }
  if (runStart >= 0) out.add(buf, runStart, h[(n - 1) * HEADER_STRIDE + 4]!);
}

/** End of the start line (before its CRLF). */
function startLineEnd(p: HeadParser): number {
  return p.headerCount > 0 ? p.headers[0]! : p.headEnd - 2;
}

/**
 * The request for the origin: origin-form, HTTP/1.1, Host rewritten when asked, Via added. `upgradeLine` is the
 * Upgrade field to send (only the protocols access.upgrades allows, see upgrade.ts), or null: then the request
 * goes as an ordinary one, without Upgrade, HTTP2-Settings or Connection: upgrade.
 */
export function buildRequestHead(out: HeadBuilder, p: HeadParser, authority: Authority, rewriteHost: boolean, upgradeLine: Buffer | null, via: ViaLines): Buffer {
  const buf = p.buf;
  if (p.targetForm === FORM_ABSOLUTE) {
    out.add(buf, p.headStart, p.targetStart);
    const pathStart = authority.pathStart;
    if (pathStart >= p.targetEnd && p.method === METHOD_OPTIONS) out.addAll(ASTERISK); // RFC 9112 §3.2.4
    else if (pathStart >= p.targetEnd || buf[pathStart] !== 0x2f) out.addAll(SLASH);
    if (pathStart < p.targetEnd) out.add(buf, pathStart, p.targetEnd);
    out.addAll(HTTP11_CRLF);
  } else if (p.versionMinor === 1) {
    out.add(buf, p.headStart, startLineEnd(p));
  } else {
    out.add(buf, p.headStart, p.targetEnd);
    out.addAll(HTTP11_CRLF);
  }
  if (rewriteHost) {
    out.addAll(HOST_PREFIX);
    // The A-label form of a non-ASCII name (the one resolved), else the authority as received.
    if (authority.hostHeader !== null) out.addAll(authority.hostHeader);
    else out.add(buf, authority.authorityStart, authority.authorityEnd);
    out.addAll(CRLF);
  }
  addKeptLines(out, p, rewriteHost ? H_HOST : -1);
  if (upgradeLine !== null) {
    out.addAll(upgradeLine);
    out.addAll(CONNECTION_UPGRADE);
  }
  out.addAll(p.versionMinor === 1 ? via.viaLine11 : via.viaLine10);
  out.addAll(CRLF);
  return out.build(null, 0, 0);
}

/**
 * The response for the client, left in `out` (the caller writes it with the
 * first body bytes). HTTP/1.1 status line; no Transfer-Encoding to an HTTP/1.0
 * client (RFC 9112 §6.1); Connection says what the proxy will do.
 */
export function buildResponseHead(out: HeadBuilder, p: HeadParser, clientMinor: number, keepAlive: boolean, via: ViaLines): void {
  addStatusLine(out, p);
  addKeptLines(out, p, clientMinor === 0 ? H_TRANSFER_ENCODING : -1);
  out.addAll(p.versionMinor === 1 ? via.viaLine11 : via.viaLine10);
  if (!keepAlive) out.addAll(CONNECTION_CLOSE);
  else if (clientMinor === 0) out.addAll(CONNECTION_KEEP_ALIVE);
  out.addAll(CRLF);
}

/** The status line, as HTTP/1.1 (the version is ours: RFC 9110 §6.2). */
function addStatusLine(out: HeadBuilder, p: HeadParser): void {
  const buf = p.buf;
  const lineEnd = startLineEnd(p);
  if (p.versionMinor === 1) {
    out.add(buf, p.headStart, lineEnd);
  } else {
    out.addAll(HTTP11);
    out.add(buf, p.headStart + 8, lineEnd);
  }
}

/**
 * An interim (1xx) response for the client, as a new Buffer: like a final head, without the hop-by-hop fields
 * (Connection and what it names, Keep-Alive, Proxy-Authenticate, …) and with Via (RFC 9110 §7.6.1, §7.6.3).
 * A 1xx has no content, so Content-Length and Transfer-Encoding mean nothing there: they are left out, so that
 * a lenient client cannot be made to read the bytes after it as a body. A 101 keeps the origin's Upgrade and
 * gets `Connection: upgrade`: the switch it announces is what both ends act on. Built from the parser's
 * buffer, which the next head may overwrite, so always copied.
 */
export function buildInterimHead(out: HeadBuilder, p: HeadParser, via: ViaLines): Buffer {
  addStatusLine(out, p);
  addKeptLines(out, p, H_CONTENT_LENGTH, H_TRANSFER_ENCODING);
  if (p.statusCode === 101) {
    const h = p.headers;
    for (let u = p.findHeader(H_UPGRADE); u >= 0; u = p.findHeader(H_UPGRADE, u + 1)) out.add(p.buf, h[u * HEADER_STRIDE]!, h[u * HEADER_STRIDE + 4]!);
    out.addAll(CONNECTION_UPGRADE);
  }
  out.addAll(p.versionMinor === 1 ? via.viaLine11 : via.viaLine10);
  out.addAll(CRLF);
  return out.build(null, 0, 0);
}
