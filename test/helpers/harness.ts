/**
 * Start a real proxy (in this process, port 0) for a test, with its resolver
 * pointed at the test's own DNS server on 127.0.0.1. Everything started is
 * closed when the test finishes.
 */
import { onTestFinished } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { MemoryAccessLog } from '../../src/observability/access-log.js';
import { startProxy, type ProxyServer } from '../../src/proxy/server.js';
import type { ProxyMetrics } from '../../src/proxy/metrics-hooks.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';

export interface Harness {
  proxy: ProxyServer;
  port: number;
  dns: TestDnsServer;
  log: MemoryAccessLog;
  config: Config;
}

export type ConfigTweak = (config: Config) => void;

/** Defaults for tests: loopback origins allowed (they are all on 127.0.0.1), short timeouts, any CONNECT port. */
export async function startHarness(tweak?: ConfigTweak, options: { dns?: TestDnsServer; metrics?: ProxyMetrics } = {}): Promise<Harness> {
  const dns = options.dns ?? (await startDnsServer());
  if (!options.dns) onTestFinished(() => dns.close());
  const config = defaultConfig();
  config.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }];
  config.admin = null;
  config.dns.servers = [dns.address];
  config.dns.queryTimeoutMs = 1_000;
  config.dns.retries = 0;
  config.access.allowPrivateDestinations = true;
  config.access.connectPorts = [];
  config.limits.connectTimeoutMs = 2_000;
  config.limits.drainTimeoutMs = 2_000;
  tweak?.(config);
  const log = new MemoryAccessLog();
  const proxy = await startProxy(config, { accessLog: log, metrics: options.metrics });
  onTestFinished(() => proxy.close());
  return { proxy, port: proxy.addresses[0]!.port, dns, log, config };
}
