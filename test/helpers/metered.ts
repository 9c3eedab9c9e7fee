/**
 * A harness proxy with real metrics attached, and `value(series)` reading one series from the
 * Prometheus text (0 when it does not exist yet): what the e2e tests assert counters with.
 */
import { createMetrics } from '../../src/observability/proxy-metrics.js';
import { startHarness, type ConfigTweak, type Harness } from './harness.js';

export interface MeteredHarness extends Harness {
  /** The value of one series, e.g. `dfp_denied_total{reason="deny_rule"}`; 0 when absent. */
  value(series: string): number;
}

export async function startMeteredHarness(tweak?: ConfigTweak): Promise<MeteredHarness> {
  const metrics = createMetrics();
  const h = await startHarness(tweak, { metrics: metrics.hooks });
  metrics.attach(h.proxy.context);
  const value = (series: string): number => {
    const found = metrics.render().split('\n').find((l) => l.startsWith(series + ' '));
    return found === undefined ? 0 : Number(found.slice(series.length + 1));
  };
  return { ...h, value };
}
