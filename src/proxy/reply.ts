/**
 * What the proxy says about an exchange: its error reply (the table in errors.ts) and its one access-log
 * line and metric, built from the exchange's state. Called once per exchange, whatever path ends it.
 */
import { performance } from 'node:perf_hooks';
import type { HostTarget } from '../dns/name.js';
import { renderErrorReply, type ProxyError } from '../errors.js';
import { METHOD_HEAD, type HeadParser } from '../http/index.js';
import type { ProxyContext } from './context.js';
import type { Destination } from './destination-choice.js';
import type { ErrorCode } from '../errors.js';

/** The error reply for `err` to the request `request` (HEAD gets no body). */
export function errorReply(err: ProxyError, request: HeadParser): Buffer {
  return renderErrorReply(err, { isHead: request.method === METHOD_HEAD });
}

/** What the log line says about an exchange (exchange.ts keeps it). */
export interface ExchangeRecord {
  readonly dest: Destination;
  readonly startMs: number;
  readonly status: number;
  readonly dnsMs: number;
  readonly connectMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly errorCode: ErrorCode | null;
  /** The policy rule behind a denial. */
  readonly rule: string | null;
  /** The authenticated user, or null. */
  readonly user: string | null;
  /** Report mode: what an access rule would have refused. */
  readonly wouldDeny: { readonly rule: string } | null;
  /** Method name kept for the log once the parser is gone (tunnels); else taken from `request`. */
  readonly method: string | null;
  readonly address: string | null;
}

/** The exchange's metric and access-log line; `client` is the client's address, `request` its head parser. */
export function logExchange(ctx: ProxyContext, x: ExchangeRecord, client: string, request: HeadParser): void {
  const durationMs = performance.now() - x.startMs;
  const status = x.status;
  const dest = x.dest;
  ctx.metrics.requestDone(dest.mode, status, durationMs);
  const log = ctx.accessLog;
  if (log === null) return;
  const authority = dest.authority;
  log.write({
    client,
    user: x.user,
    mode: dest.mode,
    method: x.method ?? methodForLog(request),
    // The name as resolved (lower case, A-label, no trailing dot) once known, else as received.
    host: hostForLog(dest.host, authority?.host ?? ''),
    port: authority?.port ?? 0,
    address: x.address,
    status,
    bytesIn: x.bytesIn,
    bytesOut: x.bytesOut,
    durationMs,
    dnsMs: x.dnsMs,
    connectMs: x.connectMs,
    error: x.errorCode,
    rule: x.rule,
    wouldDeny: x.wouldDeny === null ? null : x.wouldDeny.rule,
  });
}

function hostForLog(host: HostTarget | null, received: string): string {
  if (host === null) return received;
  return host.kind === 'name' ? host.name : host.address;
}

/** Log names of the methods the scanner knows (METHOD_* order); others are sliced from the head. */
const METHOD_NAMES = ['', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

export function methodForLog(parser: HeadParser): string {
  const m = parser.method;
  if (m > 0 && m < METHOD_NAMES.length) return METHOD_NAMES[m]!;
  return parser.methodEnd > parser.methodStart ? parser.methodName() : '';
}
