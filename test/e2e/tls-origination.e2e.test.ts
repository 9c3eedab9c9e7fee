/**
 * TLS origination for https:// targets: the proxy speaks TLS to loopback origins signed by a test CA made
 * with dfp's own `cert` code. The custom CA is trusted through upstream.tls.ca; `system` alone does not
 * trust it; a wrong name and an expired certificate are refused with their codes; the origin sees the SNI
 * of the name requested (none for an IP literal); sessions resume; pooled TLS connections are reused,
 * and never for another name at the same address.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type tls from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeCertificates, type CertFiles } from '../../src/cli/cert.js';
import { createMetrics } from '../../src/observability/proxy-metrics.js';
import { startHarness } from '../helpers/harness.js';
import { startRawOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw-client.js';
import { translateManifests } from '../../src/config/manifests.js';
import { parseConfigText } from '../../src/config/raw.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { header } from '../helpers/wait.js';

const YEAR_MS = 365 * 86_400_000;

interface TlsOrigin {
  port: number;
  /** Per TLS connection: the SNI it carried (null: none) and whether its session was resumed. */
  connections: Array<{ servername: string | null; resumed: boolean }>;
  requests: string[];
}

async function startTlsOrigin(certs: CertFiles): Promise<TlsOrigin> {
  const origin: TlsOrigin = { port: 0, connections: [], requests: [] };
  const server = https.createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => {
    origin.requests.push(`${req.method} ${req.url} host=${req.headers.host}`);
    res.end(`tls ok ${req.url}`);
  });
  server.on('secureConnection', (s: tls.TLSSocket) => {
    origin.connections.push({ servername: typeof s.servername === 'string' ? s.servername : null, resumed: s.isSessionReused() });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  origin.port = (server.address() as net.AddressInfo).port;
  return origin;
}

/** A proxy that trusts `ca` (written to a file) in addition to, or instead of, the system store. */
async function startProxyTrusting(certs: CertFiles | null, system: boolean, tweak?: Parameters<typeof startHarness>[0]) {
  const dir = mkdtempSync(join(tmpdir(), 'dfp-tls-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const caFiles: string[] = [];
  if (certs !== null) {
    writeFileSync(join(dir, 'ca.pem'), certs.caCert);
    caFiles.push(join(dir, 'ca.pem'));
  }
  const metrics = createMetrics();
  const h = await startHarness((c) => {
    c.upstream.tls.trust = { system, caFiles, caPems: [] };
    tweak?.(c);
  }, { metrics: metrics.hooks });
  const value = (line: string): number => {
    const found = metrics.render().split('\n').find((l) => l.startsWith(line + ' '));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  };
  return { ...h, value };
}

const get = (url: string, host = 'x') => `GET ${url} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe('TLS origination for https:// targets', () => {
  it('trusts the custom CA: 200 from the origin, which saw the SNI of the name asked for', async () => {
    const certs = makeCertificates(['origin.test']);
    const origin = await startTlsOrigin(certs);
    const h = await startProxyTrusting(certs, true);
    h.dns.set('origin.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, get(`https://origin.test:${origin.port}/a`));
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('tls ok /a');
    expect(origin.connections[0]?.servername).toBe('origin.test');
    expect(origin.requests).toEqual([`GET /a host=origin.test:${origin.port}`]);
    expect(h.value('dfp_tls_handshakes_total{side="upstream",result="ok"}')).toBe(1);
  });

  it('with the system store only, a certificate from the test CA is untrusted: 502 tls_certificate_error', async () => {
    const certs = makeCertificates(['origin.test']);
    const origin = await startTlsOrigin(certs);
    const h = await startProxyTrusting(null, true);
    h.dns.set('origin.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, get(`https://origin.test:${origin.port}/`));
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=tls_certificate_error; details="(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)"$/);
    expect(h.log.records[0]).toMatchObject({ status: 502, error: 'TLS_CERTIFICATE_ERROR', address: '127.0.0.1' }); // the address dialled, even though TLS failed
    expect(h.value('dfp_tls_handshakes_total{side="upstream",result="error"}')).toBe(1);
  });

  it('a certificate for another name is refused (ERR_TLS_CERT_ALTNAME_INVALID)', async () => {
    const certs = makeCertificates(['other.test']);
    const origin = await startTlsOrigin(certs);
    const h = await startProxyTrusting(certs, false);
    h.dns.set('origin.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, get(`https://origin.test:${origin.port}/`));
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toBe('dfp; error=tls_certificate_error; details="ERR_TLS_CERT_ALTNAME_INVALID"');
    expect(origin.requests).toEqual([]);
  });

  it('an expired certificate is refused (CERT_HAS_EXPIRED)', async () => {
    const certs = makeCertificates(['origin.test'], new Date(Date.now() - 3 * YEAR_MS));
    const origin = await startTlsOrigin(certs);
    const h = await startProxyTrusting(certs, false);
    h.dns.set('origin.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, get(`https://origin.test:${origin.port}/`));
    expect(header(res.responses[0], 'proxy-status')).toBe('dfp; error=tls_certificate_error; details="CERT_HAS_EXPIRED"');
  });

  it('an IP literal gets no SNI, and its certificate is checked for the IP', async () => {
    const certs = makeCertificates(['127.0.0.1']);
    const origin = await startTlsOrigin(certs);
    const h = await startProxyTrusting(certs, false);
    const res = await rawRequest(h.port, get(`https://127.0.0.1:${origin.port}/ip`));
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.connections[0]?.servername).toBeNull();
  });

  it('a server that answers the ClientHello with plain HTTP: 502 tls_protocol_error', async () => {
    const h = await startProxyTrusting(null, true);
    const plain = await startRawOrigin((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n')));
    const res = await rawRequest(h.port, get(`https://127.0.0.1:${plain.port}/`));
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=tls_protocol_error/);
    expect(h.log.records[0]).toMatchObject({ error: 'TLS_PROTOCOL_ERROR' });
  });

  it('a server that never answers the ClientHello: 502 tls_protocol_error once connectTimeout has passed', async () => {
    const h = await startProxyTrusting(null, true, (c) => (c.limits.connectTimeoutMs = 300));
    const silent = await startRawOrigin((s) => s.on('data', () => {}));
    const res = await rawRequest(h.port, get(`https://127.0.0.1:${silent.port}/`));
    expect(header(res.responses[0], 'proxy-status')).toBe('dfp; error=tls_protocol_error; details="handshake not finished within 300 ms"');
  });

  it('a CA file that is not a PEM bundle stops the start, naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfp-tls-bad-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    await expect(startHarness((c) => (c.upstream.tls.trust = { system: true, caFiles: [join(dir, 'ca.pem')], caPems: [] }))).rejects.toThrow(/upstream TLS trust: .*ca\.pem is not a PEM certificate bundle/);
  });

  it('reuses a pooled TLS connection for the same name, never for another name at the same address', async () => {
    const certs = makeCertificates(['a.test', 'b.test']);
    const origin = await startTlsOrigin(certs);
    const h = await startProxyTrusting(certs, false);
    h.dns.set('a.test', { a: ['127.0.0.1'] });
    h.dns.set('b.test', { a: ['127.0.0.1'] });
    for (const name of ['a.test', 'a.test', 'b.test', 'a.test']) {
      const res = await rawRequest(h.port, get(`https://${name}:${origin.port}/${name}`));
      expect(res.responses[0]?.status).toBe(200);
    }
    expect(origin.connections.map((c) => c.servername)).toEqual(['a.test', 'b.test']);
    expect(origin.requests.map((r) => r.split(' ')[1])).toEqual(['/a.test', '/a.test', '/b.test', '/a.test']);
  });

  it('resumes the TLS session on the next connection to the same name', async () => {
    const certs = makeCertificates(['origin.test']);
    const origin = await startTlsOrigin(certs);
    // No pooling: every request opens a connection, so the second one can resume.
    const h = await startProxyTrusting(certs, false, (c) => (c.upstream.maxIdlePerHost = 0));
    h.dns.set('origin.test', { a: ['127.0.0.1'] });
    for (const path of ['/1', '/2']) {
      expect((await rawRequest(h.port, get(`https://origin.test:${origin.port}${path}`))).responses[0]?.status).toBe(200);
    }
    expect(origin.connections.map((c) => c.resumed)).toEqual([false, true]);
  });
});

describe('TLS origination for a route whose backend has tls', () => {
  /** A proxy with one gateway route to any host, its backend spoken to over TLS with these settings. */
  async function startRouted(certs: CertFiles, tls: { sni?: string; verifyHostname?: boolean; ownCa?: boolean }) {
    const dir = mkdtempSync(join(tmpdir(), 'dfp-route-tls-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'ca.pem'), certs.caCert);
    const ca = { system: false, caFiles: [join(dir, 'ca.pem')], caPems: [] };
    return startHarness((c) => {
      // Without its own ca the route takes upstream.tls.ca.
      if (!tls.ownCa) c.upstream.tls.trust = ca;
      c.routes = [
        {
          match: { hosts: [], pathPrefix: '/', headers: {} },
          backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: { enabled: true, trust: tls.ownCa ? ca : null, sni: tls.sni ?? 'auto', verifyHostname: tls.verifyHostname ?? true } },
        },
      ];
    });
  }

  it('takes plain HTTP from the client and speaks TLS to the backend (gateway mode, the route\'s own CA)', async () => {
    const certs = makeCertificates(['backend.test']);
    const origin = await startTlsOrigin(certs);
    const h = await startRouted(certs, { ownCa: true });
    h.dns.set('backend.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, get('/r', `backend.test:${origin.port}`));
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('tls ok /r');
    expect(origin.connections[0]?.servername).toBe('backend.test');
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', status: 200, error: null });
  });

  it('uses upstream.tls.ca when the route names no CA; a fixed sni is sent and checked instead of the host', async () => {
    const certs = makeCertificates(['internal.name']);
    const origin = await startTlsOrigin(certs);
    const h = await startRouted(certs, { sni: 'internal.name' });
    const res = await rawRequest(h.port, get('/s', `127.0.0.1:${origin.port}`));
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.connections[0]?.servername).toBe('internal.name');
  });

  it('verifyHostname: false accepts a certificate for another name, still from a trusted CA', async () => {
    const certs = makeCertificates(['other.test']);
    const origin = await startTlsOrigin(certs);
    const h = await startRouted(certs, { verifyHostname: false });
    h.dns.set('backend.test', { a: ['127.0.0.1'] });
    expect((await rawRequest(h.port, get('/v', `backend.test:${origin.port}`))).responses[0]?.status).toBe(200);
    const untrusted = makeCertificates(['other.test']); // another CA
    const stranger = await startTlsOrigin(untrusted);
    const res = await rawRequest(h.port, get('/v', `backend.test:${stranger.port}`));
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=tls_certificate_error/);
  });

  it('the Envoy Gateway Backend with caCertificateRefs (a ConfigMap in the same file) runs as written', async () => {
    const certs = makeCertificates(['origin.test']);
    const origin = await startTlsOrigin(certs);
    const manifests = [
      'apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: Backend\nmetadata: { name: backend-dynamic-resolver }\nspec:\n  type: DynamicResolver\n  tls:\n    caCertificateRefs: [{ group: "", kind: ConfigMap, name: corp-ca }]\n',
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: corp-ca }\ndata:\n  ca.crt: ${JSON.stringify(certs.caCert)}\n`,
      'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r }\nspec:\n  hostnames: ["origin.test"]\n  rules: [{ backendRefs: [{ group: gateway.envoyproxy.io, kind: Backend, name: backend-dynamic-resolver }] }]\n',
    ].join('---\n');
    const translated = resolveConfig(translateManifests(parseConfigText(manifests, 'eg.yaml'), 'eg.yaml'), null, { baseDir: '/' });
    const h = await startHarness((c) => (c.routes = translated.routes));
    h.dns.set('origin.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, get('/eg', `origin.test:${origin.port}`));
    expect(res.responses[0]?.status).toBe(200);
    expect(res.responses[0]?.body.toString()).toBe('tls ok /eg');
    const other = await rawRequest(h.port, get('/eg', `elsewhere.test:${origin.port}`));
    expect(other.responses[0]?.status).toBe(403); // the HTTPRoute's hostnames are the only routes
  });
});

