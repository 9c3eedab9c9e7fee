/**
 * The HTTPS proxy listener: clients speak TLS to the proxy (certificate from dfp's own `cert` code), and
 * forward, CONNECT and gateway modes all run inside it — with curl (--proxy https://), undici's ProxyAgent
 * and a raw TLS client. Plain HTTP sent to it, and a handshake that never completes, are counted and
 * closed while the proxy keeps serving.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeCertificates } from '../../src/cli/cert.js';
import { createMetrics } from '../../src/observability/proxy-metrics.js';
import { curl, hasCurl } from '../helpers/curl.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { startEchoOrigin } from '../helpers/origin.js';
import { parseStream } from '../../src/http/index.js';
import { waitFor } from '../helpers/wait.js';

const certs = makeCertificates(['127.0.0.1', 'localhost']);

/** A harness whose one listener is an HTTPS proxy listener; `ca` is the file clients trust it with. */
async function startHttpsProxy(tweak?: Parameters<typeof startHarness>[0]): Promise<Harness & { ca: string; metrics: ReturnType<typeof createMetrics> }> {
  const dir = mkdtempSync(join(tmpdir(), 'dfp-https-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, certs.caCert);
  writeFileSync(join(dir, 'server.pem'), certs.serverCert);
  writeFileSync(join(dir, 'server-key.pem'), certs.serverKey);
  const metrics = createMetrics();
  const h = await startHarness((c) => {
    c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: { certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') }, proxyProtocol: false, upstreamPort: 443 }];
    tweak?.(c);
  }, { metrics: metrics.hooks });
  metrics.attach(h.proxy.context);
  return { ...h, ca, metrics };
}

function metric(m: ReturnType<typeof createMetrics>, line: string): number {
  const found = m.render().split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** One request over a TLS connection to the proxy, read until the response is complete or the proxy closes. */
async function overTls(port: number, data: string): Promise<{ status: number | undefined; body: string; raw: string }> {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.caCert, servername: 'localhost' });
  onTestFinished(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  socket.write(data);
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    const done = () => {
      const raw = Buffer.concat(chunks);
      const m = parseStream('response', [raw], { eof: true }).messages[0];
      resolve({ status: m?.status, body: m?.body.toString() ?? '', raw: raw.toString('latin1') });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const m = parseStream('response', [Buffer.concat(chunks)], {}).messages[0];
      if (m?.complete) done();
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

describe.skipIf(!hasCurl)('HTTPS proxy listener with curl', () => {
  it('curl --proxy https:// forward mode, and CONNECT inside TLS (-p)', async () => {
    const h = await startHttpsProxy();
    const origin = await startEchoOrigin();
    h.dns.set('tls-proxy.test', { a: ['127.0.0.1'] });
    const proxy = ['--proxy', `https://127.0.0.1:${h.port}`, '--proxy-cacert', h.ca];
    const forward = await curl([...proxy, `http://tls-proxy.test:${origin.port}/f`]);
    expect(forward.status).toBe(200);
    expect(JSON.parse(forward.body).headers.via).toBe('1.1 dfp');
    const tunnel = await curl([...proxy, '-p', `http://tls-proxy.test:${origin.port}/t`]);
    expect(tunnel.status).toBe(200);
    expect(JSON.parse(tunnel.body).url).toBe('/t');
    expect(h.log.records.map((r) => [r.mode, r.status, r.client])).toEqual([
      ['forward', 200, '127.0.0.1'],
      ['connect', 200, '127.0.0.1'],
    ]);
    expect(metric(h.metrics, 'dfp_tls_handshakes_total{side="client",result="ok"}')).toBe(2);
  });
});

describe('HTTPS proxy listener', () => {
  it('a client that leaves in the middle of the handshake is let go at once: it holds neither a socket nor the shutdown', async () => {
    // headerTimeout far beyond the test's own timeout: before the fix the server socket sat half-closed
    // until it fired, and proxy.close() waited for it.
    const p = await startHttpsProxy((c) => (c.limits.headerTimeoutMs = 600_000));
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: p.port, ca: certs.caCert, servername: 'localhost' }, () => {
          s.destroy();
          resolve();
        });
        s.on('error', () => resolve());
      });
    }
    await waitFor(() => p.proxy.context.chainWaits.size === 0);
    await p.proxy.close();
  });

  it('gateway mode over a raw TLS client', async () => {
    const h = await startHttpsProxy();
    const origin = await startEchoOrigin();
    const res = await overTls(h.port, `GET /g HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).url).toBe('/g');
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', status: 200 });
  });

  it('forward mode and CONNECT over a raw TLS client', async () => {
    const h = await startHttpsProxy();
    const origin = await startEchoOrigin();
    const forward = await overTls(h.port, `GET http://127.0.0.1:${origin.port}/f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(forward.status).toBe(200);
    expect(JSON.parse(forward.body).url).toBe('/f');
    // CONNECT inside TLS, then plain HTTP inside the tunnel.
    const socket = tls.connect({ host: '127.0.0.1', port: h.port, ca: certs.caCert, servername: 'localhost' });
    onTestFinished(() => void socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    socket.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    let got = '';
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.startsWith('HTTP/1.1 200') && got.endsWith('\r\n\r\n')) socket.write('GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    await waitFor(() => got.includes('"url":"/t"'));
    expect(h.log.records.map((r) => r.mode)).toContain('forward');
  });

  it("undici's ProxyAgent with an https: proxy URL", async () => {
    const h = await startHttpsProxy();
    const origin = await startEchoOrigin();
    const agent = new ProxyAgent({ uri: `https://127.0.0.1:${h.port}`, proxyTls: { ca: certs.caCert, servername: 'localhost' } });
    try {
      const res = await request(`http://127.0.0.1:${origin.port}/u`, { dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { url: string }).url).toBe('/u');
    } finally {
      await agent.close();
    }
    // undici tunnels by default: one CONNECT inside the TLS connection, logged when it closes.
    await waitFor(() => h.log.records.length >= 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', status: 200 });
  });

  it('errors from inside TLS come from the error table too (a malformed request gets its 400)', async () => {
    const h = await startHttpsProxy();
    const res = await overTls(h.port, 'GET http://x/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.raw).toContain('Proxy-Status: dfp; error=http_request_error');
  });

  it('plain HTTP sent to it is counted as a failed handshake and closed; the listener keeps serving', async () => {
    const h = await startHttpsProxy();
    const origin = await startEchoOrigin();
    const plain = net.connect(h.port, '127.0.0.1');
    plain.on('error', () => {});
    plain.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise<void>((resolve) => plain.on('close', () => resolve()));
    expect(metric(h.metrics, 'dfp_tls_handshakes_total{side="client",result="error"}')).toBe(1);
    expect(origin.seen.length).toBe(0);
    const res = await overTls(h.port, `GET /after HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: close\r\n\r\n`);
    expect(res.status).toBe(200);
  });

  it('a certificate that cannot be used stops the start, naming the listener and the files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfp-https-bad-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'cert.pem'), 'not a certificate');
    writeFileSync(join(dir, 'key.pem'), certs.serverKey);
    await expect(
      startHarness((c) => {
        c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }, proxyProtocol: false, upstreamPort: 443 }];
      }),
    ).rejects.toThrow(/listener 127\.0\.0\.1:0: cannot use tls\.certFile .*cert\.pem/);
  });

  it('a client that opens the connection and never finishes the handshake is closed after headerTimeout', async () => {
    const h = await startHttpsProxy((c) => (c.limits.headerTimeoutMs = 300));
    const silent = net.connect(h.port, '127.0.0.1');
    silent.on('error', () => {});
    silent.write(Buffer.from([0x16, 0x03, 0x01])); // the start of a TLS record, then nothing
    await new Promise<void>((resolve) => silent.on('close', () => resolve()));
    await waitFor(() => metric(h.metrics, 'dfp_tls_handshakes_total{side="client",result="error"}') === 1);
  });
});
