/**
 * Known header names and methods, matched by length first, then by bytes. Header names are folded with | 0x20
 * (safe: the scanner has already checked they are tchars, and every known name is letters and '-').
 * Methods are case-sensitive (RFC 9110 §9.1), so they are compared exactly.
 */
import { asciiBytes } from './chars.js';
import {
  H_CLOSE, H_CONNECTION, H_CONTENT_LENGTH, H_EXPECT, H_HOST, H_HTTP2_SETTINGS, H_KEEP_ALIVE, H_OTHER, H_PROXY_AUTHENTICATE,
  H_PROXY_AUTHORIZATION, H_PROXY_CONNECTION, H_TE, H_TRAILER, H_TRANSFER_ENCODING, H_UPGRADE, H_VIA,
  METHOD_CONNECT, METHOD_DELETE, METHOD_GET, METHOD_HEAD, METHOD_OPTIONS, METHOD_OTHER, METHOD_PATCH,
  METHOD_POST, METHOD_PUT, METHOD_TRACE,
} from './constants.js';

interface Known {
  readonly bytes: Uint8Array;
  readonly id: number;
}

const KNOWN_HEADER_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['host', H_HOST],
  ['content-length', H_CONTENT_LENGTH],
  ['transfer-encoding', H_TRANSFER_ENCODING],
  ['connection', H_CONNECTION],
  ['proxy-connection', H_PROXY_CONNECTION],
  ['proxy-authorization', H_PROXY_AUTHORIZATION],
  ['upgrade', H_UPGRADE],
  ['expect', H_EXPECT],
  ['keep-alive', H_KEEP_ALIVE],
  ['te', H_TE],
  ['trailer', H_TRAILER],
  ['via', H_VIA],
  ['proxy-authenticate', H_PROXY_AUTHENTICATE],
  ['http2-settings', H_HTTP2_SETTINGS],
  ['close', H_CLOSE],
];

const KNOWN_METHODS: ReadonlyArray<readonly [string, number]> = [
  ['GET', METHOD_GET], ['HEAD', METHOD_HEAD], ['POST', METHOD_POST], ['PUT', METHOD_PUT],
  ['DELETE', METHOD_DELETE], ['CONNECT', METHOD_CONNECT], ['OPTIONS', METHOD_OPTIONS], ['TRACE', METHOD_TRACE],
  ['PATCH', METHOD_PATCH],
];

const MAX_KNOWN_LENGTH = 24;

function byLength(list: ReadonlyArray<readonly [string, number]>): Known[][] {
  const table: Known[][] = [];
  for (let n = 0; n <= MAX_KNOWN_LENGTH; n++) table.push([]);
  for (const [name, id] of list) table[name.length].push({ bytes: asciiBytes(name), id });
  return table;
}

const HEADERS_BY_LENGTH = byLength(KNOWN_HEADER_NAMES);
const METHODS_BY_LENGTH = byLength(KNOWN_METHODS);

/** H_* id of the header name buf[start, end) (a validated token), H_OTHER when not a known one. */
export function lookupHeader(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n > MAX_KNOWN_LENGTH) return H_OTHER;
  const candidates = HEADERS_BY_LENGTH[n];
  for (let k = 0; k < candidates.length; k++) {
    const bytes = candidates[k].bytes;
    let j = 0;
    while (j < n && (buf[start + j] | 0x20) === bytes[j]) j++;
    if (j === n) return candidates[k].id;
  }
  return H_OTHER;
}

/** METHOD_* id of buf[start, end) (a validated token), METHOD_OTHER for extension methods. */
export function lookupMethod(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n > MAX_KNOWN_LENGTH) return METHOD_OTHER;
  const candidates = METHODS_BY_LENGTH[n];
  for (let k = 0; k < candidates.length; k++) {
    const bytes = candidates[k].bytes;
    let j = 0;
    while (j < n && buf[start + j] === bytes[j]) j++;
    if (j === n) return candidates[k].id;
  }
  return METHOD_OTHER;
}

/**
 * 1 for headers a proxy never forwards (RFC 9110 §7.6.1), indexed by H_* id. HTTP2-Settings belongs to an h2c
 * upgrade (RFC 7540 §3.2.1), which is connection-specific. Trailer is end-to-end (RFC 9110 §6.6.2): it announces
 * the trailer fields that travel with the body.
 */
export const HOP_BY_HOP_BY_ID: Uint8Array = (() => {
  const t = new Uint8Array(16);
  for (const id of [H_CONNECTION, H_PROXY_CONNECTION, H_KEEP_ALIVE, H_TE, H_UPGRADE,
    H_PROXY_AUTHORIZATION, H_PROXY_AUTHENTICATE, H_HTTP2_SETTINGS, H_CLOSE]) t[id] = 1;
  return t;
})();
