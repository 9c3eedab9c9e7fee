/**
 * The admin port (node:http; not the data path):
 *   GET /healthz  200 "ok"                 live
 *   GET /ready    200 "ready" / 503 "draining"
 *   GET /metrics  Prometheus text 0.0.4
 *   GET /dns      the DNS cache as JSON
 *   GET /config   effective config (cli/check.ts runCheck output), secrets redacted
 * HEAD works on each; other methods get 405, other paths 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/types.js';
import { CONTENT_TYPE as METRICS_CONTENT_TYPE } from './metrics.js';

export interface AdminSources {
  isDraining(): boolean;
  /** May be async: with --workers the primary gathers the workers' figures over IPC. */
  metrics(): string | Promise<string>;
  dns(): unknown;
  config(): string;
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
}

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
    default:
      return { status: 404, type: TEXT, body: 'not found\n' };
  }
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
  res.setHeader('Cache-Control', 'no-store');
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
