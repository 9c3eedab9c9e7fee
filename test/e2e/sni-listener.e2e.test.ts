/**
 * The SNI passthrough listener (mode: sni): clients that reach the proxy without knowing it. The ClientHello
 * is read, never terminated; its server name is routed and decided like a CONNECT, dialled on the
 * listener's upstreamPort, and the bytes spliced — tested with curl --resolve and openssl s_client against
 * a loopback TLS origin. Not TLS, no SNI, an IP literal, a denied name or silence: closed, logged, counted.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeCertificates } from '../../src/cli/cert.js';
import { createMetrics } from '../../src/observability/proxy-metrics.js';
import { cleanEnv, curl, hasCurl } from '../helpers/curl.js';
import { startHarness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

const certs = makeCertificates(['sni.test', 'other.sni.test']);
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

async function startOrigin(): Promise<{ port: number; servernames: (string | false | null)[] }> {
  const servernames: (string | false | null)[] = [];
  const server = https.createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => res.end(`passthrough ${req.url}`));
  server.on('secureConnection', (s: tls.TLSSocket) => servernames.push(s.servername));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, servernames };
}

async function startSniProxy(upstreamPort: number, tweak?: Parameters<typeof startHarness>[0]) {
  const metrics = createMetrics();
  const h = await startHarness((c) => {
    c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'sni', tls: null, proxyProtocol: false, upstreamPort }];
    tweak?.(c);
  }, { metrics: metrics.hooks });
  h.dns.set('sni.test', { a: ['127.0.0.1'] });
  const value = (line: string): number => {
    const found = metrics.render().split('\n').find((l) => l.startsWith(line + ' '));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  };
  const dir = mkdtempSync(join(tmpdir(), 'dfp-sni-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), certs.caCert);
  return { ...h, value, ca: join(dir, 'ca.pem') };
}

/** A raw client: send bytes, resolve when the proxy closes. */
function sendAndWaitClose(port: number, data: Buffer | string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    s.on('error', () => {});
    s.on('close', () => resolve());
  });
}

describe.skipIf(!hasCurl)('SNI passthrough with curl', () => {
  it('curl --resolve NAME:PORT:127.0.0.1 https://NAME:PORT/ reaches the origin through the proxy, TLS end to end', async () => {
    const origin = await startOrigin();
    const h = await startSniProxy(origin.port);
    const res = await curl(['--resolve', `sni.test:${h.port}:127.0.0.1`, '--cacert', h.ca, `https://sni.test:${h.port}/p`]);
    expect(res.status).toBe(200);
    expect(res.body).toBe('passthrough /p');
    expect(origin.servernames).toEqual(['sni.test']);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'sni', host: 'sni.test', port: origin.port, status: 200, error: null, address: '127.0.0.1' });
  });
});

describe.skipIf(!hasOpenssl)('SNI passthrough with openssl s_client', () => {
  it('openssl s_client -servername verifies the origin certificate through the proxy', async () => {
    const origin = await startOrigin();
    const h = await startSniProxy(origin.port);
    const out = await new Promise<string>((resolve) => {
      const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${h.port}`, '-servername', 'sni.test', '-CAfile', h.ca, '-quiet'], { env: cleanEnv(), timeout: 10_000 }, (_err, stdout, stderr) => resolve(stdout + stderr));
      child.stdin!.end('GET /o HTTP/1.1\r\nHost: sni.test\r\nConnection: close\r\n\r\n');
    });
    expect(out).toContain('verify return:1');
    expect(out).toContain('passthrough /o');
  });
});

describe('SNI passthrough refusals', () => {
  it('not TLS, no SNI, an IP literal as SNI: closed and counted by reason', async () => {
    const origin = await startOrigin();
    const h = await startSniProxy(origin.port);
    await sendAndWaitClose(h.port, 'GET / HTTP/1.1\r\nHost: sni.test\r\n\r\n');
    // No SNI: a TLS client to an IP address sends none.
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: h.port, ca: certs.caCert });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await waitFor(() => h.log.records.length === 2);
    expect(h.log.records.map((r) => [r.mode, r.error])).toEqual([
      ['sni', 'REQUEST_MALFORMED'],
      ['sni', 'REQUEST_MALFORMED'],
    ]);
    expect(h.value('dfp_sni_rejected_total{reason="NOT_HANDSHAKE_RECORD"}')).toBe(1);
    expect(h.value('dfp_sni_rejected_total{reason="NO_SNI"}')).toBe(1);
    expect(origin.servernames).toEqual([]);
  });

  it('a name the policy denies is never dialled: destination denied, logged with its rule', async () => {
    const origin = await startOrigin();
    const h = await startSniProxy(origin.port, (c) => (c.access.allowPrivateDestinations = false));
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: h.port, servername: 'sni.test', ca: certs.caCert });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'sni', host: 'sni.test', error: 'DESTINATION_DENIED', rule: 'default: private destinations', address: null });
    expect(origin.servernames).toEqual([]);
  });

  it('routes apply to the server name as for CONNECT', async () => {
    const origin = await startOrigin();
    const h = await startSniProxy(origin.port, (c) => {
      c.routes = [{ match: { hosts: ['allowed.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }];
    });
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: h.port, servername: 'sni.test', ca: certs.caCert });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ error: 'REQUEST_DENIED', rule: 'routes' });
  });

  it('a ClientHello that never completes is closed after headerTimeout', async () => {
    const origin = await startOrigin();
    const h = await startSniProxy(origin.port, (c) => (c.limits.headerTimeoutMs = 300));
    await sendAndWaitClose(h.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'sni', error: 'REQUEST_TIMEOUT' });
  });
});
