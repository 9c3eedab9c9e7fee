/**
 * The gateway docs' examples, run the way a user runs them: the built CLI (`node dist/cli.js`, so
 * `npm run build` first) with `--config examples/<gateway>/dynamic-forward-proxy.yaml` as the file is, and
 * each doc's own curl line (from examples/README.md) with only the proxy address replaced.
 *
 * The public names in those lines (httpbin.org, gateway.envoyproxy.io) are answered by the test's DNS
 * server (`--dns-server`) with a loopback address where an origin listens on the port the request reaches:
 * 80, or 443 where the example speaks TLS. `--allow-private` lets dfp dial it, as a user trying the example
 * against a local origin would. Nothing leaves 127.0.0.0/8.
 *
 * Envoy Gateway's Backend trusts `wellKnownCACertificates: System`, which a test CA on loopback cannot
 * satisfy without changing the machine's trust store: the example as it is must refuse the test origin
 * (502 tls_certificate_error); the requests that succeed go through the doc's other mechanism, the same
 * manifests with `caCertificateRefs` naming a ConfigMap that holds the test CA.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { makeCertificates } from '../../src/cli/cert.js';
import { curl, hasCurl } from '../helpers/curl.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { rawRequest } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/cli.js');
const README = readFileSync(join(ROOT, 'examples/README.md'), 'utf8');
const example = (name: string): string => join(ROOT, 'examples', name, 'dynamic-forward-proxy.yaml');

/** The docs' curl lines, as examples/README.md shows them (checked below, so the two cannot drift). */
const CURL = {
  kgateway: 'curl -vik http://localhost:8080 -H "host: httpbin.org"',
  gloo: 'curl -H "host: foo" -H "x-rewrite-me: httpbin.org" http://localhost:8080/get',
  envoyGatewayRoot: 'curl -HHost:gateway.envoyproxy.io http://${GATEWAY_HOST}',
  envoyGatewayGet: 'curl -HHost:httpbin.org http://${GATEWAY_HOST}/get',
};

/** A curl line's arguments after `curl`, with `proxy` (as written in the doc) replaced by dfp's address. */
function curlArgs(line: string, proxy: string, address: string): string[] {
  const args: string[] = [];
  let current = '';
  let isQuoted = false;
  let hasArg = false;
  for (const c of line.replace(proxy, address)) {
    if (c === '"') {
      isQuoted = !isQuoted;
      hasArg = true;
    } else if (c === ' ' && !isQuoted) {
      if (hasArg) args.push(current);
      current = '';
      hasArg = false;
    } else {
      current += c;
      hasArg = true;
    }
  }
  if (hasArg) args.push(current);
  expect(args[0]).toBe('curl');
  return args.slice(1);
}

/** The newest file under `dir` (path and mtime). */
function newestFile(dir: string): { path: string; mtimeMs: number } {
  let newest = { path: dir, mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const found = entry.isDirectory() ? newestFile(path) : { path, mtimeMs: statSync(path).mtimeMs };
    if (found.mtimeMs > newest.mtimeMs) newest = found;
  }
  return newest;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` before these tests');
  const newest = newestFile(join(ROOT, 'src'));
  if (statSync(CLI).mtimeMs < newest.mtimeMs) console.warn(`examples.e2e: ${newest.path} is newer than dist/cli.js; these tests run dist/ (npm run build)`);
});

interface Dfp {
  port: number;
  admin: number;
  stdout(): string;
  stderr(): string;
}

/** Start `node dist/cli.js ARGS` on loopback port 0 (proxy and admin); resolves once it says where it listens. */
async function startDfp(args: string[]): Promise<Dfp> {
  const child = spawn(process.execPath, [CLI, ...args, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const where = await new Promise<RegExpExecArray>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`dfp exited ${code}: ${err}`)));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /dfp listening on 127\.0\.0\.1:(\d+), admin on 127\.0\.0\.1:(\d+)\n/.exec(err);
      if (m !== null) resolve(m);
    });
  });
  return { port: Number(where[1]), admin: Number(where[2]), stdout: () => out, stderr: () => err };
}

/** A metric's value from dfp's admin port (0 when the series is absent). */
async function metric(dfp: Dfp, series: string): Promise<number> {
  const res = await rawRequest(dfp.admin, 'GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n');
  const line = (res.responses[0]?.body.toString() ?? '').split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** The complete access-log lines so far (a line still being written is left for later). */
function accessLines(dfp: Dfp): Array<Record<string, unknown>> {
  const lines = dfp.stdout().split('\n');
  lines.pop();
  return lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The access log once it holds `count` lines (each is written as its exchange ends, after the reply). */
async function accessLog(dfp: Dfp, count: number): Promise<Array<Record<string, unknown>>> {
  await waitFor(() => accessLines(dfp).length >= count);
  return accessLines(dfp);
}

/** What an httpbin-like origin saw of each request. */
interface Seen {
  method: string;
  url: string;
  host: string;
  servername: string | null;
}

/** httpbin's answers to the paths the docs ask for: its welcome page at /, the request echoed at /get. */
function httpbin(seen: Seen[]): http.RequestListener {
  return (req, res) => {
    const socket = req.socket as tls.TLSSocket;
    const host = req.headers.host ?? '';
    seen.push({ method: req.method!, url: req.url!, host, servername: typeof socket.servername === 'string' ? socket.servername : null });
    if (req.url === '/get') {
      const body = JSON.stringify({ args: {}, headers: { Host: host }, url: `http://${host}/get` });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html>\n<html lang="en">\n<head>\n<title>httpbin.org</title>\n</head>\n</html>\n');
  };
}

/**
 * Listen on `port` of a random 127.x.y.z (80 and 443 need root or CAP_NET_BIND_SERVICE; a random address
 * keeps clear of anything else on 127.0.0.1). The host, or null when the port is not ours to take.
 */
async function listenOnLoopback(server: net.Server, port: number): Promise<string | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const host = `127.${80 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, host, () => resolve(true));
    });
    if (ok) return host;
  }
  return null;
}

function closeOnFinish(server: http.Server): void {
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
}

/** The DNS server of the test, answering `names` with `address`. */
async function dnsAnswering(names: string[], address: string): Promise<TestDnsServer> {
  const dns = await startDnsServer();
  onTestFinished(() => dns.close());
  for (const name of names) dns.set(name, { a: [address] });
  return dns;
}

describe.skipIf(!hasCurl)('the docs’ examples, run by the real CLI with each doc’s curl line', () => {
  it('examples/README.md shows each curl line the tests send', () => {
    for (const line of Object.values(CURL)) expect(README).toContain(line);
  });

  it('kgateway: the doc’s curl gets 200 and httpbin.org’s welcome page; the origin saw Host httpbin.org on port 80', async (ctx) => {
    const seen: Seen[] = [];
    const origin = http.createServer(httpbin(seen));
    const host = await listenOnLoopback(origin, 80);
    if (host === null) return ctx.skip('port 80 on loopback is not ours to take (needs root or CAP_NET_BIND_SERVICE)');
    closeOnFinish(origin);
    const dns = await dnsAnswering(['httpbin.org'], host);
    const dfp = await startDfp(['--config', example('kgateway'), '--dns-server', dns.address, '--allow-private']);

    const res = await curl(curlArgs(CURL.kgateway, 'http://localhost:8080', `http://127.0.0.1:${dfp.port}`));
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^HTTP\/1\.1 200 OK\r\n/); // -i: the response head, as the doc shows it
    expect(res.body).toContain('<title>httpbin.org</title>');
    expect(seen).toEqual([{ method: 'GET', url: '/', host: 'httpbin.org', servername: null }]);
    expect(dns.queries('httpbin.org', 'A')).toBe(1);
    expect(await metric(dfp, 'dfp_requests_total{mode="gateway",code="200"}')).toBe(1);
    expect(await accessLog(dfp, 1)).toMatchObject([{ mode: 'gateway', method: 'GET', host: 'httpbin.org', port: 80, address: host, status: 200 }]);
  });

  it('Gloo: Host foo routes to the host named by x-rewrite-me, which the origin sees as Host; another Host has no route (403)', async (ctx) => {
    const seen: Seen[] = [];
    const origin = http.createServer(httpbin(seen));
    const host = await listenOnLoopback(origin, 80);
    if (host === null) return ctx.skip('port 80 on loopback is not ours to take (needs root or CAP_NET_BIND_SERVICE)');
    closeOnFinish(origin);
    const dns = await dnsAnswering(['httpbin.org'], host);
    const dfp = await startDfp(['--config', example('gloo-gateway'), '--dns-server', dns.address, '--allow-private']);

    const res = await curl(curlArgs(CURL.gloo, 'http://localhost:8080', `http://127.0.0.1:${dfp.port}`));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ args: {}, headers: { Host: 'httpbin.org' }, url: 'http://httpbin.org/get' });
    expect(seen).toEqual([{ method: 'GET', url: '/get', host: 'httpbin.org', servername: null }]);

    const other = await curl(curlArgs(CURL.gloo.replace('host: foo', 'host: bar'), 'http://localhost:8080', `http://127.0.0.1:${dfp.port}`));
    expect(other.status).toBe(403);
    expect(seen).toHaveLength(1);
    expect(dns.queries('httpbin.org')).toBe(1);
    expect(await accessLog(dfp, 2)).toMatchObject([{ host: 'httpbin.org', port: 80, address: host, status: 200 }, { status: 403 }]);
  });

  describe('Envoy Gateway (TLS to port 443 of the Host’s name)', () => {
    const NAMES = ['gateway.envoyproxy.io', 'httpbin.org'];

    /** A TLS origin on loopback port 443 with a certificate for NAMES from a fresh test CA; null: port not ours. */
    async function startTlsOrigin() {
      const certs = makeCertificates(NAMES);
      const seen: Seen[] = [];
      const server = https.createServer({ cert: certs.serverCert, key: certs.serverKey }, httpbin(seen));
      let handshakeFailures = 0;
      server.on('tlsClientError', () => handshakeFailures++);
      const host = await listenOnLoopback(server, 443);
      if (host !== null) closeOnFinish(server);
      return { host, certs, seen, handshakeFailures: () => handshakeFailures };
    }

    it('as written (System roots): the test CA is not trusted, 502 tls_certificate_error, and no request reaches the origin', async (ctx) => {
      const origin = await startTlsOrigin();
      if (origin.host === null) return ctx.skip('port 443 on loopback is not ours to take (needs root or CAP_NET_BIND_SERVICE)');
      const dns = await dnsAnswering(NAMES, origin.host);
      const dfp = await startDfp(['--config', example('envoy-gateway'), '--dns-server', dns.address, '--allow-private']);

      const res = await curl(curlArgs(CURL.envoyGatewayRoot, '${GATEWAY_HOST}', `127.0.0.1:${dfp.port}`));
      expect(res.status).toBe(502);
      expect(origin.seen).toEqual([]);
      expect(await metric(dfp, 'dfp_tls_handshakes_total{side="upstream",result="error"}')).toBe(1);
      expect(await accessLog(dfp, 1)).toMatchObject([{ host: 'gateway.envoyproxy.io', port: 443, status: 502, error: 'TLS_CERTIFICATE_ERROR' }]);
    });

    it('with caCertificateRefs to a ConfigMap holding the test CA: both doc curls get 200 over TLS, with SNI and Host of the name asked for', async (ctx) => {
      const origin = await startTlsOrigin();
      if (origin.host === null) return ctx.skip('port 443 on loopback is not ours to take (needs root or CAP_NET_BIND_SERVICE)');
      const dir = mkdtempSync(join(tmpdir(), 'dfp-examples-'));
      onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
      const written = readFileSync(example('envoy-gateway'), 'utf8');
      expect(written).toContain('    wellKnownCACertificates: System\n');
      const variant =
        written.replace('    wellKnownCACertificates: System\n', '    caCertificateRefs:\n      - group: ""\n        kind: ConfigMap\n        name: test-ca\n') +
        `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: test-ca\ndata:\n  ca.crt: ${JSON.stringify(origin.certs.caCert)}\n`;
      writeFileSync(join(dir, 'dynamic-forward-proxy.yaml'), variant);
      const dns = await dnsAnswering(NAMES, origin.host);
      const dfp = await startDfp(['--config', join(dir, 'dynamic-forward-proxy.yaml'), '--dns-server', dns.address, '--allow-private']);
      const address = `127.0.0.1:${dfp.port}`;

      const root = await curl(curlArgs(CURL.envoyGatewayRoot, '${GATEWAY_HOST}', address));
      expect(root.status).toBe(200);
      expect(root.body).toContain('<title>httpbin.org</title>'); // the test origin's page, whatever the name
      const get = await curl(curlArgs(CURL.envoyGatewayGet, '${GATEWAY_HOST}', address));
      expect(get.status).toBe(200);
      expect(JSON.parse(get.body)).toMatchObject({ headers: { Host: 'httpbin.org' } });
      expect(origin.seen).toEqual([
        { method: 'GET', url: '/', host: 'gateway.envoyproxy.io', servername: 'gateway.envoyproxy.io' },
        { method: 'GET', url: '/get', host: 'httpbin.org', servername: 'httpbin.org' },
      ]);
      expect(origin.handshakeFailures()).toBe(0);
      expect(await metric(dfp, 'dfp_tls_handshakes_total{side="upstream",result="ok"}')).toBe(2);
      expect(await accessLog(dfp, 2)).toMatchObject([
        { host: 'gateway.envoyproxy.io', port: 443, address: origin.host, status: 200 },
        { host: 'httpbin.org', port: 443, address: origin.host, status: 200 },
      ]);
    });
  });
});
