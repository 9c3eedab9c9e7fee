/**
 * Hardening of where a request may go, end to end through the real proxy:
 * bracketed hosts that are not IPv6 literals, IDN hosts forwarded in the form
 * that was resolved, a duplicated rewrite header, the admin port counted as
 * part of the proxy for loop detection, and the cloud metadata address list.
 * Every rejection is checked three ways: status, Proxy-Status error and the
 * access-log record's error code.
 *
 * Metadata addresses are never dialled: the policy refuses them before any
 * connect (the tests only run with that policy in place).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Config, RouteConfig } from '../../src/config/types.js';
import type { ParsedMessage } from '../../src/http/index.js';
import { startAdmin } from '../../src/observability/admin.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { freePort, startHeadOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

function dfpRoute(hostRewriteHeader: string | null = null): RouteConfig {
  return { match: { hosts: [], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader, tls: null } };
}

const withRewriteHeader = (c: Config) => {
  c.routes = [dfpRoute('x-rewrite-me')];
};

function expectReply(msg: ParsedMessage | undefined, status: number, proxyStatus: string): void {
  expect(msg?.status).toBe(status);
  expect(header(msg, 'proxy-status')).toMatch(new RegExp(`^dfp; error=${proxyStatus}(;|$)`));
  const body = msg!.body.toString('latin1');
  expect(body.length).toBeGreaterThan(0);
  expect(body.replace(/\n$/, '')).not.toMatch(/[\r\n]/);
}

/** Send `request` on a fresh connection and wait until the proxy closes it (an error reply closes). */
async function sendUntilClosed(h: Harness, request: string | Buffer) {
  const client = await connectRaw(h.port);
  client.send(request);
  return client.closed();
}

async function lastLogRecord(h: Harness) {
  await waitFor(() => h.log.records.length > 0);
  return h.log.records[h.log.records.length - 1]!;
}

describe('a bracketed host must be an IPv6 literal', () => {
  it.each([
    ['a name in brackets', 'Host: [evil.example]'],
    ['an IPv4 address in brackets', 'Host: [127.0.0.1]'],
    ['an IPv4 address in brackets with a port', 'Host: [127.0.0.1]:{P}'],
    ['an unterminated bracket', 'Host: [::1'],
    ['an unterminated bracket with a port', 'Host: [::1:{P}'],
    ['empty brackets', 'Host: []:{P}'],
    ['an IPv6 zone', 'Host: [fe80::1%25lo]:{P}'],
    ['text after the closing bracket', 'Host: [::1]x:{P}'],
  ])('answers 400 http_request_error to %s in Host, and connects nowhere', async (_name, line) => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set('evil.example', { a: ['127.0.0.1'] });
    const res = await sendUntilClosed(h, `GET / HTTP/1.1\r\n${line.replace('{P}', String(origin.port))}\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(header(res.responses[0], 'proxy-status')).toMatch(/details="[^"]+"/);
    expect(await lastLogRecord(h)).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
    expect(origin.connections.length).toBe(0);
    expect(h.dns.totalQueries()).toBe(0);
  });

  it('names the problem in the details of a name in brackets', async () => {
    const h = await startHarness();
    const res = await sendUntilClosed(h, 'GET / HTTP/1.1\r\nHost: [evil.example]\r\n\r\n');
    expect(header(res.responses[0], 'proxy-status')).toContain('IPv6');
  });

  it('answers 400 to an absolute-form target with an IPv4 address in brackets', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const res = await sendUntilClosed(h, `GET http://[127.0.0.1]:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(await lastLogRecord(h)).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
    expect(origin.connections.length).toBe(0);
  });

  it('answers 400 to a CONNECT target with an IPv4 address in brackets', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const res = await sendUntilClosed(h, `CONNECT [127.0.0.1]:${origin.port} HTTP/1.1\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(await lastLogRecord(h)).toMatchObject({ mode: 'connect', status: 400, error: 'REQUEST_MALFORMED' });
    expect(origin.connections.length).toBe(0);
  });

  it.each([
    ['a name in brackets', '[evil.example]:{P}'],
    ['an IPv4 address in brackets', '[127.0.0.1]:{P}'],
    ['an unterminated bracket', '[::1:{P}'],
  ])('answers 400 when the rewrite header holds %s', async (_name, value) => {
    const h = await startHarness(withRewriteHeader);
    const origin = await startRecordingOrigin();
    h.dns.set('evil.example', { a: ['127.0.0.1'] });
    const res = await sendUntilClosed(h, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nx-rewrite-me: ${value.replace('{P}', String(origin.port))}\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(await lastLogRecord(h)).toMatchObject({ mode: 'gateway', status: 400, error: 'REQUEST_MALFORMED' });
    expect(origin.connections.length).toBe(0);
  });

  it('still serves a real IPv6 literal in Host, in an absolute-form target and in the rewrite header', async () => {
    const h = await startHarness(withRewriteHeader);
    const origin = await startHeadOrigin((_head, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6'), '::1');
    const p = origin.port;
    const gateway = await rawRequest(h.port, `GET /g HTTP/1.1\r\nHost: [::1]:${p}\r\n\r\n`);
    const forward = await rawRequest(h.port, `GET http://[::1]:${p}/f HTTP/1.1\r\nHost: x\r\n\r\n`);
    const rewritten = await rawRequest(h.port, `GET /r HTTP/1.1\r\nHost: front.example\r\nx-rewrite-me: [0:0::1]:${p}\r\n\r\n`);
    expect([gateway, forward, rewritten].map((r) => r.responses[0]?.status)).toEqual([200, 200, 200]);
    expect(origin.heads.map((head) => head.split('\r\n')[1])).toEqual([`Host: [::1]:${p}`, `Host: [::1]:${p}`, `Host: [0:0::1]:${p}`]);
    expect(h.log.records.map((r) => [r.host, r.address, r.error])).toEqual([
      ['::1', '::1', null],
      ['::1', '::1', null],
      ['::1', '::1', null], // the log names the address in its canonical form
    ]);
  });
});

describe('an IDN host is forwarded in the form that was resolved', () => {
  const UTF8_HOST = Buffer.from('bücher.example', 'utf8');
  const A_LABEL = 'xn--bcher-kva.example';

  /** A request head as bytes, `{H}` standing for the raw UTF-8 host. */
  function headBytes(template: string): Buffer {
    const [before, after] = template.split('{H}');
    return Buffer.concat([Buffer.from(before!, 'latin1'), UTF8_HOST, Buffer.from(after!, 'latin1')]);
  }

  it('gateway: sends Host as the A-label with the port, resolving the A-label', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set(A_LABEL, { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, headBytes(`GET /idn HTTP/1.1\r\nHost: {H}:${origin.port}\r\nAccept: x\r\n\r\n`));
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET /idn HTTP/1.1\r\nHost: ${A_LABEL}:${origin.port}\r\nAccept: x\r\nVia: 1.1 dfp\r\n\r\n`);
    expect(h.dns.queries(A_LABEL)).toBeGreaterThan(0);
    // The log names the destination as resolved, not the raw bytes read as latin1.
    expect(h.log.records[0]).toMatchObject({ mode: 'gateway', host: A_LABEL, port: origin.port, status: 200, error: null });
  });

  it('rewrite header: sends Host as the A-label taken from the rewrite header', async () => {
    const h = await startHarness(withRewriteHeader);
    const origin = await startRecordingOrigin();
    h.dns.set(A_LABEL, { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, headBytes(`GET /r HTTP/1.1\r\nHost: front.example\r\nx-rewrite-me: {H}:${origin.port}\r\n\r\n`));
    expect(res.responses[0]?.status).toBe(200);
    const lines = origin.allRequests()[0]!.toString('latin1').split('\r\n');
    expect(lines.filter((l) => l.toLowerCase().startsWith('host:'))).toEqual([`Host: ${A_LABEL}:${origin.port}`]);
  });

  it('leaves an ASCII Host exactly as received (case and trailing dot included)', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    h.dns.set('ascii.test', { a: ['127.0.0.1'] });
    const res = await rawRequest(h.port, `GET / HTTP/1.1\r\nHost: ASCII.Test.:${origin.port}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET / HTTP/1.1\r\nHost: ASCII.Test.:${origin.port}\r\nVia: 1.1 dfp\r\n\r\n`);
  });
});

describe('two rewrite header fields are refused like two Host fields', () => {
  it('answers 400 http_request_error (DUPLICATE_HOST) and connects nowhere', async () => {
    const h = await startHarness(withRewriteHeader);
    const a = await startRecordingOrigin();
    const b = await startRecordingOrigin();
    h.dns.set('a.test', { a: ['127.0.0.1'] });
    h.dns.set('b.test', { a: ['127.0.0.1'] });
    const res = await sendUntilClosed(h, `GET / HTTP/1.1\r\nHost: front.example\r\nx-rewrite-me: a.test:${a.port}\r\nX-Rewrite-Me: b.test:${b.port}\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(header(res.responses[0], 'proxy-status')).toContain('details="DUPLICATE_HOST');
    expect(await lastLogRecord(h)).toMatchObject({ mode: 'gateway', status: 400, error: 'REQUEST_MALFORMED' });
    expect(a.connections.length + b.connections.length).toBe(0);
  });

  it('refuses two fields even when they carry the same value', async () => {
    const h = await startHarness(withRewriteHeader);
    const origin = await startRecordingOrigin();
    const v = `127.0.0.1:${origin.port}`;
    const res = await sendUntilClosed(h, `GET / HTTP/1.1\r\nHost: front.example\r\nx-rewrite-me: ${v}\r\nx-rewrite-me: ${v}\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(await lastLogRecord(h)).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED' });
    expect(origin.connections.length).toBe(0);
  });
});

describe('the admin port is part of the proxy for loop detection', () => {
  /** A real admin server on 127.0.0.1 (port 0 unless given), counting the requests it serves. */
  async function startCountingAdmin(port = 0) {
    let served = 0;
    const admin = await startAdmin(
      { host: '127.0.0.1', port },
      {
        isDraining: () => false,
        metrics: () => (served++, ''),
        dns: () => (served++, []),
        config: () => (served++, 'listeners: []\n'),
      },
    );
    onTestFinished(() => admin.close());
    return { admin, served: () => served };
  }

  async function expectLoopsNotReachingAdmin(h: Harness, adminPort: number, served: () => number): Promise<void> {
    h.dns.set('admin.test', { a: ['127.0.0.1'] });
    const requests = [
      `GET http://127.0.0.1:${adminPort}/config HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\n\r\n`,
      `GET http://admin.test:${adminPort}/dns HTTP/1.1\r\nHost: admin.test\r\n\r\n`,
      `GET /config HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\n\r\n`,
      `CONNECT 127.0.0.1:${adminPort} HTTP/1.1\r\n\r\nGET /config HTTP/1.1\r\nHost: a\r\n\r\n`,
    ];
    for (const request of requests) {
      const res = await sendUntilClosed(h, request);
      expectReply(res.responses[0], 508, 'proxy_loop_detected');
    }
    await waitFor(() => h.log.records.length === requests.length);
    expect(h.log.records.map((r) => [r.mode, r.status, r.error])).toEqual([
      ['forward', 508, 'LOOP_DETECTED'],
      ['forward', 508, 'LOOP_DETECTED'],
      ['gateway', 508, 'LOOP_DETECTED'],
      ['connect', 508, 'LOOP_DETECTED'],
    ]);
    expect(served()).toBe(0);
  }

  it('answers 508 to forward, gateway and CONNECT requests for an admin bound on port 0 once the proxy is told its address', async () => {
    const h = await startHarness();
    const { admin, served } = await startCountingAdmin();
    h.proxy.addLoopAddress(admin.address);
    await expectLoopsNotReachingAdmin(h, admin.address.port, served);
  });

  it('answers 508 for the admin address named in the config, from the start', async () => {
    const adminPort = await freePort();
    const h = await startHarness((c) => (c.admin = { host: '127.0.0.1', port: adminPort }));
    const { served } = await startCountingAdmin(adminPort);
    await expectLoopsNotReachingAdmin(h, adminPort, served);
  });

  it('dfp (the CLI, admin on port 0) answers 508 to a request for its own admin port', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--allow-private', '--connect-ports', 'any'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => /admin on 127\.0\.0\.1:\d+/.test(stderr) || child.exitCode !== null, 15_000);
    const adminPort = Number(/admin on 127\.0\.0\.1:(\d+)/.exec(stderr)?.[1]);
    expect(adminPort).toBeGreaterThan(0);
    const direct = await rawRequest(adminPort, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(direct.responses[0]?.status).toBe(200);
    const client = await connectRaw(port);
    client.send(`GET http://127.0.0.1:${adminPort}/config HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectReply(res.responses[0], 508, 'proxy_loop_detected');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const record = JSON.parse(stdout.trim().split('\n')[0]!);
    expect(record).toMatchObject({ mode: 'forward', port: adminPort, status: 508, error: 'LOOP_DETECTED' });
  });
});

describe('cloud metadata addresses stay denied with allowPrivateDestinations', () => {
  it('answers 403 destination_ip_prohibited to a name whose A record is 100.100.100.200 (Alibaba)', async () => {
    const h = await startHarness();
    expect(h.config.access.allowPrivateDestinations).toBe(true);
    h.dns.set('meta.test', { a: ['100.100.100.200'] });
    const res = await sendUntilClosed(h, 'GET http://meta.test/latest/meta-data/ HTTP/1.1\r\nHost: meta.test\r\n\r\n');
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toContain('100.100.100.200 is metadata');
    expect(await lastLogRecord(h)).toMatchObject({ host: 'meta.test', status: 403, error: 'DESTINATION_DENIED', address: null });
  });

  it.each([
    ['an absolute-form target at the Azure wireserver', 'GET http://168.63.129.16/machine HTTP/1.1\r\nHost: x\r\n\r\n', 'forward'],
    ['the ECS credentials endpoint in gateway mode', 'GET /v2/credentials HTTP/1.1\r\nHost: 169.254.170.2\r\n\r\n', 'gateway'],
    ['a CONNECT to the Oracle metadata address', 'CONNECT 192.0.0.192:80 HTTP/1.1\r\n\r\n', 'connect'],
    ['the Alibaba address in its IPv4-mapped IPv6 spelling', 'GET http://[::ffff:100.100.100.200]/ HTTP/1.1\r\nHost: x\r\n\r\n', 'forward'],
    ['the Azure wireserver in its NAT64 spelling', 'GET http://[64:ff9b::a83f:8110]/ HTTP/1.1\r\nHost: x\r\n\r\n', 'forward'],
  ])('answers 403 to %s', async (_name, request, mode) => {
    const h = await startHarness();
    const res = await sendUntilClosed(h, request);
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toContain('is metadata');
    expect(await lastLogRecord(h)).toMatchObject({ mode, status: 403, error: 'DESTINATION_DENIED', address: null });
  });
});
