/**
 * The events the data path reports. The observability layer implements them
 * (Prometheus counters); tests may count them. Calls are cheap numbers only.
 */
import type { DenyReason } from '../policy/deny-reasons.js';
import type { ProxyMode } from './mode.js';

export type { ProxyMode } from './mode.js';
export type { DenyReason } from '../policy/deny-reasons.js';

export interface ProxyMetrics {
  connectionOpened(): void;
  connectionClosed(): void;
  requestDone(mode: ProxyMode, status: number, durationMs: number): void;
  upstreamConnected(connectMs: number): void;
  tunnelOpened(): void;
  tunnelClosed(bytesUp: number, bytesDown: number): void;
  /** A refusal, counted in dfp_denied_total{reason}. */
  denied(reason: DenyReason): void;
  /** Report mode: an allow/deny rule would have refused (the request went through), in dfp_would_deny_total{reason}. */
  wouldDeny(reason: DenyReason): void;
  /** A request or tunnel refused by rateLimit (dfp_rate_limited_total). */
  rateLimited(): void;
  /** A proxyProtocol listener closed a connection without a valid PROXY header (the parser's reason, timeout, closed, socket_error, connection_limit). */
  proxyProtocolRejected(reason: string): void;
  /** An SNI passthrough connection closed without a tunnel: a stable reason (the ClientHello scanner's, or an error code). */
  sniRejected(code: string): void;
  /** A TLS handshake finished: with a client (an HTTPS listener) or an upstream; ok or error. */
  tlsHandshake(side: 'client' | 'upstream', ok: boolean): void;
}

export const NO_METRICS: ProxyMetrics = {
  connectionOpened() {},
  connectionClosed() {},
  requestDone() {},
  upstreamConnected() {},
  tunnelOpened() {},
  tunnelClosed() {},
  denied() {},
  wouldDeny() {},
  rateLimited() {},
  proxyProtocolRejected() {},
  tlsHandshake() {},
  sniRejected() {},
};
