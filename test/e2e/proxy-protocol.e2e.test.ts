/**
 * listeners[].proxyProtocol end to end: a load balancer's PROXY v1/v2 header (in one piece with the
 * request, or byte by byte) gives the client address the access log, per-client limits and rate limits
 * use; LOCAL keeps the socket's address; the bytes after the header reach HTTP, TLS (an HTTPS listener)
 * and the SNI listener intact. A connection without a valid header, or silent, is closed and counted;
 * garbage never stops the listener.
 */
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeCertificates } from '../../src/cli/cert.js';
import type { Config } from '../../src/config/types.js';
import { startMeteredHarness } from '../helpers/metered.js';
import { startEchoOrigin } from '../helpers/origin.js';
import { checkAsyncProperty } from '../helpers/property.js';
import { waitFor } from '../helpers/wait.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

const certs = makeCertificates(['localhost', 'sni.test']);

async function start(tweak: (c: Config) => void = () => {}) {
  return startMeteredHarness((c) => {
    c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: true, upstreamPort: 443 }];
    tweak(c);
  });
}

function v1(source: string, port = 40000): Buffer {
  return Buffer.from(`PROXY TCP4 ${source} 127.0.0.1 ${port} 8080\r\n`);
}

/** Every reason a PROXY-protocol listener closes a connection with (parser codes and the chain's own). */
const REASONS = ['not_proxy_protocol', 'v1_too_long', 'v1_malformed', 'v2_bad_version', 'v2_bad_command', 'v2_bad_family', 'v2_too_long', 'v2_short_address', 'timeout', 'closed', 'socket_error', 'connection_limit'];

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2(source: string | null, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  if (source === null) return Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]); // LOCAL, UNSPEC
  const addr = Buffer.alloc(12);
  source.split('.').forEach((o, i) => (addr[i] = Number(o)));
  [127, 0, 0, 1].forEach((o, i) => (addr[4 + i] = o));
  addr.writeUInt16BE(40001, 8);
  addr.writeUInt16BE(8080, 10);
  const body = Buffer.concat([addr, tlvs]);
  const head = Buffer.from([0x21, 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, head, body]);
}

/** Send `parts` (with a pause between them), read until close; the bytes received. */
function exchange(port: number, parts: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    s.once('connect', async () => {
      for (const p of parts) {
        s.write(p);
        await new Promise((r) => setImmediate(r));
      }
    });
    setTimeout(() => reject(new Error(`no close: ${got}`)), 10_000).unref();
  });
}

const get = (port: number) => Buffer.from(`GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe('PROXY protocol on a listener', () => {
  it('v1 in the same packet as the request: served, and the log names the client from the header', async () => {
    const origin = await startEchoOrigin();
    const p = await start();
    const reply = await exchange(p.port, [Buffer.concat([v1('203.0.113.7'), get(origin.port)])]);
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    await waitFor(() => p.log.records.length === 1);
    expect(p.log.records[0]).toMatchObject({ client: '203.0.113.7', status: 200 });
  });

  it('v2 with TLVs, fed byte by byte: the same', async () => {
    const origin = await startEchoOrigin();
    const p = await start();
    const bytes = Buffer.concat([v2('198.51.100.9', Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63])), get(origin.port)]);
    const reply = await exchange(p.port, [...bytes].map((b) => Buffer.from([b])));
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    await waitFor(() => p.log.records.length === 1);
    expect(p.log.records[0]!.client).toBe('198.51.100.9');
  });

  it('LOCAL (the balancer\'s own health check) keeps the socket\'s address', async () => {
    const origin = await startEchoOrigin();
    const p = await start();
    expect(await exchange(p.port, [v2(null), get(origin.port)])).toMatch(/^HTTP\/1\.1 200 /);
    await waitFor(() => p.log.records.length === 1);
    expect(p.log.records[0]!.client).toBe('127.0.0.1');
  });

  it('no header, a TLS hello, or garbage: closed without a reply, counted by reason; silence: closed after headerTimeout', async () => {
    const p = await start((c) => (c.limits.headerTimeoutMs = 300));
    expect(await exchange(p.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')])).toBe('');
    expect(await exchange(p.port, [Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10])])).toBe('');
    expect(await exchange(p.port, [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n')])).toBe('');
    expect(await exchange(p.port, [])).toBe('');
    expect(p.value('dfp_proxy_protocol_rejected_total{reason="not_proxy_protocol"}')).toBe(2);
    expect(p.value('dfp_proxy_protocol_rejected_total{reason="v1_malformed"}')).toBe(1);
    expect(p.value('dfp_proxy_protocol_rejected_total{reason="timeout"}')).toBe(1);
    expect(p.log.records).toHaveLength(0);
  });

  it('per-client limits count the address from the header, not the balancer\'s', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.limits.maxConnectionsPerClient = 1));
    const hold = net.connect(p.port, '127.0.0.1');
    hold.on('error', () => {});
    onTestFinished(() => void hold.destroy());
    hold.write(Buffer.concat([v1('203.0.113.1'), Buffer.from('GET http://127.0.0.1:1/ HTTP/1.1\r\n')])); // an unfinished head: stays open
    await waitFor(() => p.proxy.context.perClient.get('203.0.113.1') === 1);
    expect(await exchange(p.port, [Buffer.concat([v1('203.0.113.1'), get(origin.port)])])).toMatch(/^HTTP\/1\.1 503 /);
    expect(await exchange(p.port, [Buffer.concat([v1('203.0.113.2'), get(origin.port)])])).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('rate limits key on the header\'s address', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.rateLimit.perClient = { requestsPerSecond: 0.1, burst: 1 }));
    expect(await exchange(p.port, [Buffer.concat([v1('203.0.113.5'), get(origin.port)])])).toMatch(/^HTTP\/1\.1 200 /);
    expect(await exchange(p.port, [Buffer.concat([v1('203.0.113.5'), get(origin.port)])])).toMatch(/^HTTP\/1\.1 429 /);
    expect(await exchange(p.port, [Buffer.concat([v1('203.0.113.6'), get(origin.port)])])).toMatch(/^HTTP\/1\.1 200 /);
  });

  for (const together of [true, false]) it(`an HTTPS listener: the TLS handshake follows the header ${together ? 'in the same packet' : 'in a later packet'}`, async () => {
    const origin = await startEchoOrigin();
    const dir = mkdtempSync(join(tmpdir(), 'dfp-pp-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'cert.pem'), certs.serverCert);
    writeFileSync(join(dir, 'key.pem'), certs.serverKey);
    const p = await start((c) => {
      c.listeners[0] = { ...c.listeners[0]!, tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') } };
    });
    const raw = net.connect(p.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    if (together) raw.cork();
    raw.write(v1('192.0.2.44'));
    if (!together) await waitFor(() => p.proxy.context.perClient.get('192.0.2.44') === 1); // header read, handshake not begun
    const secure = tls.connect({ socket: raw, servername: 'localhost', ca: certs.caCert });
    if (together) process.nextTick(() => raw.uncork());
    let got = '';
    secure.on('data', (c: Buffer) => (got += c.toString()));
    await new Promise((r) => secure.once('secureConnect', r));
    secure.write(get(origin.port));
    await waitFor(() => got.includes('"url"'));
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
    secure.destroy();
    await waitFor(() => p.log.records.length === 1);
    expect(p.log.records[0]!.client).toBe('192.0.2.44');
  });

  it('an SNI listener: the ClientHello after the header is routed as usual', async () => {
    const server = tls.createServer({ cert: certs.serverCert, key: certs.serverKey }, (s) => s.end('hello\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const p = await start((c) => {
      c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'sni', tls: null, proxyProtocol: true, upstreamPort: (server.address() as net.AddressInfo).port }];
    });
    p.dns.set('sni.test', { a: ['127.0.0.1'] });
    const raw = net.connect(p.port, '127.0.0.1');
    await new Promise((r) => raw.once('connect', r));
    raw.write(v2('192.0.2.55'));
    const secure = tls.connect({ socket: raw, servername: 'sni.test', ca: certs.caCert });
    let got = '';
    secure.on('data', (c: Buffer) => (got += c.toString()));
    secure.on('error', () => {});
    await waitFor(() => got === 'hello\n');
    await waitFor(() => p.log.records.length === 1);
    expect(p.log.records[0]).toMatchObject({ mode: 'sni', client: '192.0.2.55', host: 'sni.test' });
  });

  it('property: random bytes never crash or hang the listener, and it serves the next client', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.limits.headerTimeoutMs = 500));
    let runs = 0;
    await checkAsyncProperty(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }),
          fc.uint8Array({ maxLength: 64 }).map((tail) => Buffer.concat([SIGNATURE, Buffer.from(tail)])),
          fc.uint8Array({ maxLength: 64 }).map((tail) => Buffer.concat([Buffer.from('PROXY '), Buffer.from(tail)])),
        ),
        async (bytes) => {
          runs++;
          const reply = await exchange(p.port, [Buffer.from(bytes), Buffer.from('\r\n\r\n'.repeat(40))]);
          // Closed without an answer, or (bytes that happen to make a header) an HTTP error for what follows.
          expect(reply === '' || /^HTTP\/1\.1 [45]\d\d /.test(reply)).toBe(true);
        },
      ),
      { numRuns: 60, timeMs: 15_000, floor: 15 },
    );
    // Every connection was accounted for: rejected with a reason, or logged as a request.
    const rejected = (): number => REASONS.reduce((sum, r) => sum + p.value(`dfp_proxy_protocol_rejected_total{reason="${r}"}`), 0);
    await waitFor(() => rejected() + p.log.records.length === runs);
    expect(await exchange(p.port, [Buffer.concat([v1('203.0.113.9'), get(origin.port)])])).toMatch(/^HTTP\/1\.1 200 /);
    expect(p.proxy.context.chainWaits.size).toBe(0);
  });
});
