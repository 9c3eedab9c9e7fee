/**
 * The events the data path reports. The observability layer implements them
 * (Prometheus counters); tests may count them. Calls are cheap numbers only.
 */
export type ProxyMode = 'forward' | 'connect' | 'gateway' | 'sni';

export interface ProxyMetrics {
  connectionOpened(): void;
  connectionClosed(): void;
  requestDone(mode: ProxyMode, status: number, durationMs: number): void;
  upstreamConnected(connectMs: number): void;
  tunnelOpened(): void;
  tunnelClosed(bytesUp: number, bytesDown: number): void;
  denied(reason: string): void;
}

export const NO_METRICS: ProxyMetrics = {
  connectionOpened() {},
  connectionClosed() {},
  requestDone() {},
  upstreamConnected() {},
  tunnelOpened() {},
  tunnelClosed() {},
  denied() {},
};
