/**
 * What the proxy hands to the access log: one record per request or tunnel,
 * and the sink that takes it. The proxy owns these types; observability/
 * access-log.ts implements the sink (JSON lines, batched).
 */
import type { ProxyMode } from './mode.js';

export interface AccessRecord {
  client: string;
  user: string | null;
  mode: ProxyMode;
  method: string;
  host: string;
  port: number;
  address: string | null;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  dnsMs: number;
  connectMs: number;
  error: string | null;
  /** The policy rule that decided a denial (null otherwise). */
  rule: string | null;
  /** Report mode (access.mode: report): the rule that would have refused this request, which went through. */
  wouldDeny: string | null;
}

export interface AccessLogSink {
  write(record: AccessRecord): void;
  flush(): void;
}
