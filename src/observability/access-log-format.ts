/**
 * The access-log line: JSON (`--log-format json`, the default, one object per
 * line, built by hand: no JSON.stringify per request) or a one-line text for
 * people (`pretty`). Pure functions and the batching constants the sinks share
 * (access-log.ts: stdout, memory; access-log-file.ts: a file).
 */
import type { AccessRecord } from '../proxy/access-record.js';

/** Escape for a JSON string body; the fast path returns the input untouched. */
export function jsonEscape(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(text).slice(1, -1);
  }
  return text;
}

function quoted(text: string | null): string {
  return text === null ? 'null' : '"' + jsonEscape(text) + '"';
}

let lastStampMs = -1;
let lastStamp = '';

/** ISO time, made once per millisecond. */
function isoTime(now: number): string {
  if (now !== lastStampMs) {
    lastStampMs = now;
    lastStamp = new Date(now).toISOString();
  }
  return lastStamp;
}

/**
 * A non-negative number with three decimals, as toFixed(3) writes it for the
 * values a proxy logs (four times cheaper than toFixed on this path).
 */
export function fixed3(x: number): string {
  const m = x >= 0 && x < 1e15 ? Math.round(x * 1000) : 0;
  const whole = Math.floor(m / 1000);
  const frac = m - whole * 1000;
  return whole + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

export function formatAccessRecord(r: AccessRecord, now: number): string {
  return (
    '{"time":"' + isoTime(now) +
    '","client":' + quoted(r.client) +
    ',"user":' + quoted(r.user) +
    ',"mode":"' + r.mode +
    '","method":' + quoted(r.method) +
    ',"host":' + quoted(r.host) +
    ',"port":' + r.port +
    ',"address":' + quoted(r.address) +
    ',"status":' + r.status +
    ',"bytes_in":' + r.bytesIn +
    ',"bytes_out":' + r.bytesOut +
    ',"duration_ms":' + fixed3(r.durationMs) +
    ',"dns_ms":' + fixed3(r.dnsMs) +
    ',"connect_ms":' + fixed3(r.connectMs) +
    ',"error":' + quoted(r.error) +
    ',"rule":' + quoted(r.rule) +
    (r.wouldDeny === null ? '}\n' : ',"would_deny":' + quoted(r.wouldDeny) + '}\n')
  );
}

// ---- pretty: one line for people ----------------------------------------------------------------

/**
 * `2026-12-03T16:40:00.123Z 127.0.0.1 alice connect CONNECT example.com:443 -> 93.184.216.34 200 in=1.2kB out=34kB 12.3ms dns=0.41ms connect=1.20ms`
 * then `error=CODE`, `rule="..."`, `would_deny="..."` when set. A null field is `-`; dns= and connect= are
 * left out when zero. Fields are separated by single spaces: a value that is not a plain token (empty, `-`,
 * or with a space, quote, backslash or control character) is written in double quotes with `\"`, `\\`,
 * `\xNN` / `\uNNNN` escapes, so a field never breaks the line or sends a terminal escape. Text outside
 * ASCII that prints (é, 例) is kept. Not built for speed like the JSON line: it is for a person at a terminal.
 */
export function formatPrettyRecord(r: AccessRecord, now: number): string {
  let line =
    isoTime(now) + ' ' +
    prettyField(r.client) + ' ' +
    (r.user === null ? '-' : prettyField(r.user)) + ' ' +
    r.mode + ' ' +
    (r.method === '' ? '-' : prettyField(r.method)) + ' ' +
    prettyAuthority(r.host, r.port) + ' -> ' +
    (r.address === null ? '-' : prettyField(r.address)) + ' ' +
    r.status +
    ' in=' + prettyBytes(r.bytesIn) +
    ' out=' + prettyBytes(r.bytesOut) +
    ' ' + prettyMs(r.durationMs);
  if (r.dnsMs > 0) line += ' dns=' + prettyMs(r.dnsMs);
  if (r.connectMs > 0) line += ' connect=' + prettyMs(r.connectMs);
  if (r.error !== null) line += ' error=' + prettyField(r.error);
  if (r.rule !== null) line += ' rule=' + quotedPretty(r.rule);
  if (r.wouldDeny !== null) line += ' would_deny=' + quotedPretty(r.wouldDeny);
  return line + '\n';
}

/** `host:port`, `[v6]:port`, or `-` when neither is known (a connection refused before its head). */
function prettyAuthority(host: string, port: number): string {
  if (host === '' && port === 0) return '-';
  const name = host === '' ? '-' : prettyField(host);
  return (host.indexOf(':') >= 0 && name === host ? '[' + name + ']' : name) + ':' + port;
}

/** A character that must not reach a terminal or a line-based reader as itself. */
function isUnsafeChar(c: number): boolean {
  return (
    c < 0x20 || c === 0x7f ||
    (c >= 0x80 && c < 0xa0) || // C1 controls (0x9b is a one-byte CSI)
    c === 0x2028 || c === 0x2029 || // line and paragraph separators
    c === 0x200e || c === 0x200f || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || // bidi controls
    c === 0xfeff
  );
}

/** The value as it is when it is a plain token, else quoted and escaped. */
export function prettyField(text: string): string {
  if (text === '' || text === '-') return '"' + text + '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x22 || c === 0x5c || isUnsafeChar(c)) return quotedPretty(text);
  }
  return text;
}

function quotedPretty(text: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x22 && c !== 0x5c && !isUnsafeChar(c)) continue;
    out += text.slice(from, i) + escapeChar(c);
    from = i + 1;
  }
  return out + text.slice(from) + '"';
}

function escapeChar(c: number): string {
  if (c === 0x22) return '\\"';
  if (c === 0x5c) return '\\\\';
  if (c < 0x100) return '\\x' + (c < 0x10 ? '0' : '') + c.toString(16);
  return '\\u' + c.toString(16).padStart(4, '0');
}

const BYTE_UNITS = ['kB', 'MB', 'GB', 'TB', 'PB'];

/** Decimal units, as people read sizes: 512B, 1.2kB, 34kB, 5.0MB. */
export function prettyBytes(n: number): string {
  if (n < 1000) return n + 'B';
  let v = n / 1000;
  let unit = 0;
  while (v >= 999.5 && unit < BYTE_UNITS.length - 1) {
    v /= 1000;
    unit++;
  }
  return (v < 9.95 ? v.toFixed(1) : String(Math.round(v))) + BYTE_UNITS[unit];
}

/** 0.41ms, 12.3ms, 1.25s: about three significant digits. */
export function prettyMs(ms: number): string {
  if (ms < 9.995) return ms.toFixed(2) + 'ms';
  if (ms < 999.95) return ms.toFixed(1) + 'ms';
  return (ms / 1000).toFixed(2) + 's';
}

// ---- shared by the sinks ----------------------------------------------------------------------

export type AccessLogFormat = 'json' | 'pretty';

export type RecordFormatter = (r: AccessRecord, now: number) => string;

export function formatterFor(format: AccessLogFormat): RecordFormatter {
  return format === 'pretty' ? formatPrettyRecord : formatAccessRecord;
}

/** Count the lines in `text` (a rare path: lines dropped). */
export function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Lines wait at most this long, so a busy proxy makes a few writes a second, not one per loop turn. */
export const FLUSH_DELAY_MS = 50;
export const FLUSH_BYTES = 64 * 1024;
/** Text a sink holds for a reader that does not keep up (UTF-16 units: bytes for ASCII lines); beyond it lines are dropped. */
export const MAX_PENDING_CHARS = 8 * 1024 * 1024;

