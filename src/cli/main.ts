/**
 * `dfp`: parse the command line and config, start the proxy and the admin
 * port, drain on SIGTERM/SIGINT. Exit codes: 0 clean, 1 runtime failure,
 * 2 bad command line or config.
 */
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/types.js';
import { startAdmin } from '../observability/admin.js';
import { startProxy } from '../proxy/server.js';
import { parseCommand, USAGE } from './args.js';
import { runCheck } from './check.js';
import { isClusterWorker, runPrimary, serveWorkerRequests } from './workers.js';
import { createMetrics } from '../observability/proxy-metrics.js';
import { createAccessLog } from '../observability/access-log.js';
import { renderPac } from '../observability/pac.js';
import { formatHostPort } from '../policy/host-port.js';
import { contentHash, holdSignals, readReloadConfig, watchConfigFile, type ReloadOutcome } from './reload.js';
import type { AdminServer, AdminSources } from '../observability/admin.js';
import type { ProxyServer } from '../proxy/server.js';
import type { HostPort } from '../config/types.js';


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
      await run(command.config, argv, command.configFile, command.watch);
      return undefined;
  }
}

async function run(config: Config, argv: readonly string[], configFile: string | null, watchFile: boolean): Promise<void> {
  // Taken now, before anything is started: a SIGHUP or SIGUSR1 during the start is held, not the default
  // (SIGHUP ends a process, SIGUSR1 opens Node's inspector), and an edit during the start is a change.
  const signals = holdSignals(['SIGHUP', 'SIGUSR1']);
  const baseline = watchFile && configFile !== null ? contentHash(configFile) : null;
  const inWorker = isClusterWorker();
  if (config.workers > 1 && !inWorker) {
    await runPrimary(config, { argv, configFile, watch: watchFile, signals, baseline });
    return;
  }
  const metrics = createMetrics();
  let current = config;
  let accessLog = makeAccessLog(config);
  const proxy = await startProxy(config, { accessLog, metrics: metrics.hooks });
  metrics.attach(proxy.context);
  const adminSources = {
    isDraining: () => proxy.isDraining,
    metrics: () => metrics.render(),
    dns: () => proxy.context.dns.snapshot(),
    config: () => runCheck(current),
    pac: () => (current.pac === null ? null : renderPac(current.pac)),
  };
  let admin = config.admin === null || inWorker ? null : await startAdmin(config.admin, adminSources);
  // The admin port counts as this proxy for loop detection (508): with --admin ADDR:0 only now is its port known.
  if (admin !== null) proxy.addLoopAddress(admin.address);

  let stopping = false;
  /**
   * One reload (they run one after the other). Everything the new config needs that can fail is made
   * first — its access log, a moved admin port, then the proxy's own swap — and only when all of it
   * worked is anything switched; otherwise what was made is closed and the running config stays.
   */
  const reload = async (why: string): Promise<ReloadOutcome> => {
    if (stopping) return { ok: false, message: 'shutting down' };
    const next = readReloadConfig(argv);
    if (next instanceof Error) return refused(why, next);
    const logChanged = next.log.format !== current.log.format || next.log.accessFile !== current.log.accessFile || next.log.level !== current.log.level;
    const adminMoved = !inWorker && !sameAdmin(current.admin, next.admin);
    let newLog: ReturnType<typeof makeAccessLog> = null;
    let newAdmin: AdminServer | null = null;
    try {
      if (logChanged) newLog = makeAccessLog(next);
      if (adminMoved && next.admin !== null) newAdmin = await startAdmin(next.admin, adminSources);
      await proxy.reload(next);
    } catch (err) {
      await newLog?.close();
      await newAdmin?.close();
      return refused(why, err as Error);
    }
    if (logChanged) {
      const old = accessLog;
      accessLog = newLog;
      proxy.setAccessLog(newLog);
      void old?.close();
    }
    if (adminMoved) {
      const old = admin;
      admin = newAdmin;
      if (admin !== null) proxy.addLoopAddress(admin.address);
      await old?.close();
    }
    current = next;
    metrics.dfp.configReloadsTotal.labels('ok').inc();
    if (!inWorker) process.stderr.write(`dfp: config reloaded (${why}); listening on ${proxy.addresses.map((a) => formatHostPort(a)).join(', ')}\n`);
    return { ok: true, message: '' };
  };
  const refused = (why: string, err: Error): ReloadOutcome => {
    metrics.dfp.configReloadsTotal.labels('error').inc();
    process.stderr.write(`dfp: reload (${why}) refused, the running config stays: ${err.message}\n`);
    return { ok: false, message: err.message };
  };
  let chain: Promise<unknown> = Promise.resolve();
  const reloadSoon = (why: string): Promise<ReloadOutcome> => {
    const run = chain.then(() => reload(why));
    chain = run.catch(() => {});
    return run;
  };
  if (inWorker) serveWorkerRequests(() => metrics.render(), () => proxy.context.dns.snapshot(), () => reloadSoon('primary'));
  const unwatch = watchFile && configFile !== null && !inWorker ? watchConfigFile(configFile, () => void reloadSoon('file changed'), baseline) : null;
  signals.ready({ SIGHUP: () => void reloadSoon('SIGHUP'), SIGUSR1: () => accessLog?.reopen() });


  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    unwatch?.();
    process.stderr.write(`dfp: ${signal}, draining\n`);
    proxy.close().then(
      async () => {
        await admin?.close();
        await accessLog?.close();
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
  // Announced once every signal handler is in place: a SIGHUP sent after this line reloads.
  if (!inWorker) {
    const where = proxy.addresses.map((a) => formatHostPort(a)).join(', ');
    process.stderr.write(`dfp listening on ${where}${admin ? `, admin on ${formatHostPort(admin.address)}` : ''}\n`);
    announce(config, proxy.addresses[0]);
    const trust = proxy.context.snapshot.upstreamTrust;
    const files = [...config.upstream.tls.trust.caFiles, ...config.upstream.tls.trust.caPems.map((p) => p.source)];
    process.stderr.write(`dfp upstream TLS trust: ${[trust.systemSource, ...files].filter((x) => x !== null).join(' + ') || 'none'}\n`);
    warnings(config);
  }
}

/** The access log the config asks for; info-level: `--log-level warn` (or error) turns it off. */
function makeAccessLog(config: Config): ReturnType<typeof createAccessLog> | null {
  if (config.log.level !== 'debug' && config.log.level !== 'info') return null;
  return createAccessLog({ format: config.log.format, file: config.log.accessFile });
}

function sameAdmin(a: HostPort | null, b: HostPort | null): boolean {
  return a === null || b === null ? a === b : a.host === b.host && a.port === b.port;
}

/** The one-line example a new user can paste. */
function announce(config: Config, first: HostPort | undefined): void {
  const http = config.listeners.findIndex((l) => l.mode === 'http' && l.tls === null);
  if (http < 0 || first === undefined) return;
  const bound = formatHostPort(http === 0 ? first : config.listeners[http]!.address);
  process.stderr.write(`dfp try: curl -x http://${bound} http://example.com/\n`);
}

function warnings(config: Config): void {
  config.routes.forEach((r, i) => {
    const t = r.backend.tls;
    if (t !== null && t.enabled && !t.verifyHostname) {
      process.stderr.write(`dfp warning: routes[${i}].backend.tls.verifyHostname is false: its certificates are not checked against the name dialled\n`);
    }
  });
  if (config.auth.basic !== null && config.listeners.some((l) => l.mode === 'sni')) {
    process.stderr.write('dfp warning: an SNI listener carries no credentials: auth.basic does not apply to it (access rules and rate limits do)\n');
  }
}
