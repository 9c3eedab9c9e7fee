/**
 * `--workers N`: N proxy processes sharing the listeners (node:cluster, with
 * the kernel spreading accepts: the primary stays off the data path). The
 * primary runs the admin port and sums the workers' metrics on each scrape.
 * Per-process state (DNS cache, upstream pools, rate-limit buckets) is not
 * shared; see bench/README.md for what that means when scaling out.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config, HostPort } from '../config/types.js';
import { startAdmin } from '../observability/admin.js';
import { runCheck } from './check.js';
import { readReloadConfig, watchConfigFile, type ReloadOutcome } from './reload.js';
import { formatHostPort } from '../policy/host-port.js';
import { renderPac } from '../observability/pac.js';

interface MetricsRequest {
  dfp: 'metrics';
  id: number;
}
interface MetricsReply {
  dfp: 'metrics-reply';
  id: number;
  text: string;
}
interface DnsRequest {
  dfp: 'dns';
  id: number;
}
interface DnsReply {
  dfp: 'dns-reply';
  id: number;
  entries: unknown;
}
interface ReloadRequest {
  dfp: 'reload';
  id: number;
}
interface ReloadReply extends ReloadOutcome {
  dfp: 'reload-reply';
  id: number;
}
type WorkerMessage = MetricsReply | DnsReply | ReloadReply;

const GATHER_TIMEOUT_MS = 2_000;
/** A worker's reload reads files and may open listeners: more time than a scrape. */
const RELOAD_TIMEOUT_MS = 15_000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** In a worker: answer the primary's scrapes with this process's figures, and reload when it says so. */
export function serveWorkerRequests(metrics: () => string, dns: () => unknown, reload: () => Promise<ReloadOutcome>): void {
  process.on('message', (msg: MetricsRequest | DnsRequest | ReloadRequest) => {
    if (msg?.dfp === 'metrics') process.send!({ dfp: 'metrics-reply', id: msg.id, text: metrics() } satisfies MetricsReply);
    else if (msg?.dfp === 'dns') process.send!({ dfp: 'dns-reply', id: msg.id, entries: dns() } satisfies DnsReply);
    else if (msg?.dfp === 'reload') void reload().then((r) => process.send!({ dfp: 'reload-reply', id: msg.id, ok: r.ok, message: r.message } satisfies ReloadReply));
  });
}

export interface PrimaryOptions {
  /** The command line, read again on a reload (each worker does the same when told to). */
  argv: readonly string[];
  configFile: string | null;
  watch: boolean;
  /** SIGHUP and SIGUSR1, held since the start (cli/reload.ts holdSignals). */
  signals: { ready(handlers: Partial<Record<NodeJS.Signals, () => void>>): void };
  /** The config file's hash when it was read (for --watch). */
  baseline: string | null;
}

/**
 * The primary: fork, supervise, serve admin, drain all on SIGTERM/SIGINT, and reload on SIGHUP or a
 * watched file change: the primary checks the new config first (an invalid one is refused here, once),
 * then tells every worker to reload; each worker reads the file itself and swaps its own snapshot.
 */
export async function runPrimary(config: Config, options: PrimaryOptions): Promise<void> {
  let current = config;
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const workers = new Set<Worker>();
  let stopping = false;
  let nextId = 1;
  const pending = new Map<number, (msg: WorkerMessage) => void>();

  const fork = (): Worker => {
    const worker = cluster.fork();
    workers.add(worker);
    worker.on('message', (msg: WorkerMessage) => pending.get(msg.id)?.(msg));
    worker.on('exit', (code) => {
      workers.delete(worker);
      if (!stopping) {
        process.stderr.write(`dfp: worker ${worker.process.pid} exited (${code}); starting another\n`);
        fork();
      } else if (workers.size === 0) {
        process.exit(0);
      }
    });
    return worker;
  };

  const listening = new Promise<void>((resolve, reject) => {
    let ready = 0;
    const onListening = () => {
      if (++ready === config.workers * config.listeners.length) {
        cluster.off('listening', onListening);
        resolve();
      }
    };
    cluster.on('listening', onListening);
    cluster.once('exit', (w, code) => {
      if (ready < config.workers * config.listeners.length) reject(new Error(`worker exited with ${code} before listening`));
    });
  });
  for (let i = 0; i < config.workers; i++) fork();
  await listening;

  const gather = <T extends WorkerMessage>(kind: 'metrics' | 'dns' | 'reload', timeoutMs = GATHER_TIMEOUT_MS): Promise<T[]> =>
    Promise.all(
      [...workers].map(
        (w) =>
          new Promise<T>((resolve, reject) => {
            const id = nextId++;
            const timer = setTimeout(() => {
              pending.delete(id);
              reject(new Error(`worker ${w.process.pid} did not answer`));
            }, timeoutMs);
            pending.set(id, (msg) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(msg as T);
            });
            w.send({ dfp: kind, id });
          }),
      ),
    );

  const admin =
    config.admin === null
      ? null
      : await startAdmin(config.admin, {
          isDraining: () => stopping,
          metrics: async () => sumPrometheusText((await gather<MetricsReply>('metrics')).map((r) => r.text)),
          dns: () => gather<DnsReply>('dns').then((rs) => rs.map((r) => r.entries)),
          config: () => runCheck(current),
          pac: () => (current.pac === null ? null : renderPac(current.pac)),
        });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`dfp: ${signal}, draining ${workers.size} workers\n`);
    void admin?.close();
    if (workers.size === 0) process.exit(0);
    for (const w of workers) w.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  /**
   * A reload: the primary reads the config first (an invalid one is refused here, once), then every worker
   * reloads it and answers; the primary's own view (/config, /proxy.pac) changes only when all of them did.
   */
  const reload = async (why: string): Promise<void> => {
    if (stopping) return;
    const next = readReloadConfig(options.argv);
    if (next instanceof Error) {
      process.stderr.write(`dfp: reload (${why}) refused, the running config stays: ${next.message}\n`);
      return;
    }
    if (next.workers !== current.workers || !sameAddress(next.admin, current.admin)) {
      process.stderr.write('dfp: reload: workers and, with --workers, the admin address are not changed live (restart for them)\n');
    }
    let replies: ReloadReply[];
    try {
      replies = await gather<ReloadReply>('reload', RELOAD_TIMEOUT_MS);
    } catch (err) {
      process.stderr.write(`dfp: reload (${why}): ${(err as Error).message}; workers may differ\n`);
      return;
    }
    const failed = replies.filter((r) => !r.ok);
    if (failed.length === 0) {
      current = next;
      process.stderr.write(`dfp: config reloaded in ${replies.length} workers (${why})\n`);
    } else {
      process.stderr.write(`dfp: reload (${why}) refused by ${failed.length} of ${replies.length} workers, the running config stays there: ${failed[0]!.message}\n`);
    }
  };
  let chain: Promise<void> = Promise.resolve();
  const reloadSoon = (why: string): void => {
    chain = chain.then(() => reload(why)).catch(() => {});
  };
  options.signals.ready({
    SIGHUP: () => reloadSoon('SIGHUP'),
    // logrotate: each worker writes its own access log (the same file, O_APPEND): each reopens it.
    SIGUSR1: () => {
      for (const w of workers) w.process.kill('SIGUSR1');
    },
  });
  if (options.watch && options.configFile !== null) watchConfigFile(options.configFile, () => reloadSoon('file changed'), options.baseline);
  // Announced once every signal handler is in place.
  const where = config.listeners.map((l) => formatHostPort(l.address)).join(', ');
  process.stderr.write(`dfp listening on ${where} with ${config.workers} workers${admin ? `, admin on ${formatHostPort(admin.address)}` : ''}\n`);
}

function sameAddress(a: HostPort | null, b: HostPort | null): boolean {
  return a === null || b === null ? a === b : a.host === b.host && a.port === b.port;
}

/**
 * Sum Prometheus text expositions series by series (counters, gauges and
 * histogram buckets all add up across processes). Families keep the order in
 * which they first appear; their HELP/TYPE lines are kept once.
 */
export function sumPrometheusText(texts: readonly string[]): string {
  const families = new Map<string, { meta: string[]; series: Map<string, number> }>();
  for (const text of texts) {
    let family: { meta: string[]; series: Map<string, number> } | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        const name = line.split(' ')[2] ?? '';
        family = families.get(name);
        if (family === undefined) {
          family = { meta: [], series: new Map() };
          families.set(name, family);
        }
        if (!family.meta.includes(line)) family.meta.push(line);
        continue;
      }
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      if (family === undefined) {
        family = { meta: [], series: new Map() };
        families.set(key, family);
      }
      family.series.set(key, (family.series.get(key) ?? 0) + value);
    }
  }
  let out = '';
  for (const { meta, series } of families.values()) {
    for (const m of meta) out += m + '\n';
    for (const [key, value] of series) out += `${key} ${value}\n`;
  }
  return out;
}
