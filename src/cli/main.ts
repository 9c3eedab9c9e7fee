/**
 * `dfp`: parse the command line and config, start the proxy and the admin
 * port, drain on SIGTERM/SIGINT. Exit codes: 0 clean, 1 runtime failure,
 * 2 bad command line or config.
 */
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/types.js';
import { StreamAccessLog } from '../observability/access-log.js';
import { startAdmin } from '../observability/admin.js';
import { startProxy } from '../proxy/server.js';
import { parseCommand } from './args.js';
import { runCheck } from './check.js';
import { isClusterWorker, runPrimary, serveWorkerRequests } from './workers.js';
import { createMetrics } from '../observability/proxy-metrics.js';

const USAGE = `usage: dfp [--config FILE] [--listen ADDR]... [--admin ADDR|off] [--dns-server ADDR]...
           [--allow-private] [--workers N] [--log-format json|pretty] [--log-level LEVEL]
       dfp check --config FILE [--explain HOST[:PORT] [--mode forward|connect|gateway] [--user NAME] [--resolve]]
       dfp cert --out DIR [--host NAME]...
`;

export async function main(argv: string[]): Promise<number | undefined> {
  let command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`dfp: ${err.message}\n`);
      // `dfp check` answers 0/1 (valid or not); everything else exits 2 on bad input.
      return argv[0] === 'check' ? 1 : 2;
    }
    throw err;
  }
  switch (command.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write('dfp 0.1.0\n');
      return 0;
    case 'check': {
      if (command.explain === null) {
        process.stdout.write(runCheck(command.config));
        return 0;
      }
      try {
        const result = await (await import('./explain.js')).explain(command.config, command.explain);
        process.stdout.write(result.text);
        return result.allowed ? 0 : 1;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`dfp: ${err.message}\n`);
        return 2;
      }
    }
    case 'cert':
      // node-forge is large: load it only for this command.
      process.stdout.write((await import('./cert.js')).runCert(command.outDir, command.hosts));
      return 0;
    case 'run':
      await run(command.config);
      return undefined;
  }
}

async function run(config: Config): Promise<void> {
  const inWorker = isClusterWorker();
  if (config.workers > 1 && !inWorker) {
    await runPrimary(config);
    return;
  }
  const metrics = createMetrics();
  // The access log is info-level: `--log-level warn` (or error) turns it off.
  const accessLog = config.log.level === 'debug' || config.log.level === 'info' ? new StreamAccessLog(process.stdout) : null;
  const proxy = await startProxy(config, { accessLog, metrics: metrics.hooks });
  metrics.attach(proxy.context);
  if (inWorker) serveWorkerRequests(() => metrics.render(), () => proxy.context.dns.snapshot());
  const admin =
    config.admin === null || inWorker
      ? null
      : await startAdmin(config.admin, {
          isDraining: () => proxy.isDraining,
          metrics: () => metrics.render(),
          dns: () => proxy.context.dns.snapshot(),
          config: () => runCheck(config),
        });
  // The admin port counts as this proxy for loop detection (508): with --admin ADDR:0 only now is its port known.
  if (admin !== null) proxy.addLoopAddress(admin.address);
  const where = proxy.addresses.map((a) => `${a.host}:${a.port}`).join(', ');
  if (!inWorker) {
    process.stderr.write(`dfp listening on ${where}${admin ? `, admin on ${admin.address.host}:${admin.address.port}` : ''}\n`);
    const trust = proxy.context.snapshot.upstreamTrust;
    const files = [...config.upstream.tls.trust.caFiles, ...config.upstream.tls.trust.caPems.map((p) => p.source)];
    process.stderr.write(`dfp upstream TLS trust: ${[trust.systemSource, ...files].filter((x) => x !== null).join(' + ') || 'none'}\n`);
    config.routes.forEach((r, i) => {
      const t = r.backend.tls;
      if (t !== null && t.enabled && !t.verifyHostname) {
        process.stderr.write(`dfp warning: routes[${i}].backend.tls.verifyHostname is false: its certificates are not checked against the name dialled\n`);
      }
    });
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`dfp: ${signal}, draining\n`);
    proxy.close().then(
      async () => {
        await admin?.close();
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`dfp: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
