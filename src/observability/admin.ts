/**
 * The admin port (node:http; not the data path):
 *   GET /healthz  200 "ok"                 live
 *   GET /ready    200 "ready" / 503 "draining"
 *   GET /metrics  Prometheus text 0.0.4
 *   GET /dns      the DNS cache as JSON
 *   GET /config   effective config (cli/check.ts runCheck output), secrets redacted
 *   GET /proxy.pac the PAC file (pac.ts renderPac) when `pac` is set, else 404
 * HEAD works on each; other methods get 405, other paths 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/types.js';
import { CONTENT_TYPE as METRICS_CONTENT_TYPE } from './metrics.js';
import { PAC_CONTENT_TYPE } from './pac.js';

export interface AdminSources {
  isDraining(): boolean;
  /** May be async: with --workers the primary gathers the workers' figures over IPC. */
  metrics(): string | Promise<string>;
  dns(): unknown;
  config(): string;
  /**
   * The PAC script (pac.ts renderPac), or null when `pac` is not configured.
   * Called per request, so a reload can swap what it returns. Absent: 404.
   */
  pac?: () => string | null;
}

export interface AdminServer {
  /** The bound address (the real port when 0 was asked for). */
  address: HostPort;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

interface Reply {
  status: number;
  type: string;
  body: string | Promise<string>;
  /** Default no-store: every answer but the PAC file describes live state. */
  cacheControl?: string;
}

/** Browsers refetch the PAC file on their own schedule; this bounds how stale a cached copy is after a reload. */
const PAC_CACHE_CONTROL = 'max-age=300';

function route(path: string, sources: AdminSources): Reply {
  switch (path) {
    case '/healthz':
      return { status: 200, type: TEXT, body: 'ok\n' };
    case '/ready':
      return sources.isDraining() ? { status: 503, type: TEXT, body: 'draining\n' } : { status: 200, type: TEXT, body: 'ready\n' };
    case '/metrics':
      return { status: 200, type: METRICS_CONTENT_TYPE, body: sources.metrics() };
    case '/dns':
      return { status: 200, type: 'application/json', body: Promise.resolve(sources.dns()).then((v) => JSON.stringify(v, null, 2) + '\n') };
    case '/config':
      return { status: 200, type: 'text/yaml; charset=utf-8', body: sources.config() };
    case '/proxy.pac':
      return routePac(sources);
    default:
      return { status: 404, type: TEXT, body: 'not found\n' };
  }
}

function routePac(sources: AdminSources): Reply {
  const script = sources.pac?.() ?? null;
  if (script === null) return { status: 404, type: TEXT, body: 'no PAC file: the pac config key is not set\n' };
  return { status: 200, type: PAC_CONTENT_TYPE, body: script, cacheControl: PAC_CACHE_CONTROL };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, sources: AdminSources): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  let reply: Reply;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply = { status: 405, type: TEXT, body: 'method not allowed\n' };
    res.setHeader('Allow', 'GET, HEAD');
  } else {
    try {
      reply = route(path, sources);
      reply.body = await reply.body;
    } catch (err) {
      reply = { status: 500, type: TEXT, body: `error: ${err instanceof Error ? err.message : String(err)}\n` };
    }
  }
  const body = Buffer.from(await reply.body, 'utf8');
  res.statusCode = reply.status;
  res.setHeader('Content-Type', reply.type);
  res.setHeader('Content-Length', body.length);
  res.setHeader('Cache-Control', reply.cacheControl ?? 'no-store');
  // Node sends no body bytes for HEAD even when end() is given one.
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Start the admin server on `address` (port 0 = any free port). */
export function startAdmin(address: HostPort, sources: AdminSources): Promise<AdminServer> {
  const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => void handle(req, res, sources));
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      const bound = server.address() as AddressInfo;
      resolve({
        address: { host: bound.address, port: bound.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
