/**
 * Live reload of the real dfp process: SIGHUP and --watch (a ConfigMap-style symlink swap) swap the config
 * under traffic — a client loop running throughout sees no failed request, a tunnel opened before the
 * reload still carries data after it, the new rules apply to new requests, an invalid file is refused
 * naming the key and the old config keeps running, listeners added and removed; counted in
 * dfp_config_reloads_total{result}. In-process: proxy.reload swaps listeners without closing kept ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { freePort, startEchoOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runDfp(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.resume();
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => err };
}

async function waitText(get: () => string, text: string, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!get().includes(text)) {
    if (Date.now() - start > timeoutMs) throw new Error(`no "${text}" in: ${get()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

function configText(port: number, admin: number, dns: string, deny: string[], extraListener?: number): string {
  return [
    'listeners:',
    `  - address: 127.0.0.1:${port}`,
    ...(extraListener !== undefined ? [`  - address: 127.0.0.1:${extraListener}`] : []),
    `admin: { address: 127.0.0.1:${admin} }`,
    `dns: { servers: ["${dns}"], queryTimeout: 1s }`,
    'access:',
    '  allowPrivateDestinations: true',
    '  connectPorts: []',
    `  deny: [${deny.map((d) => JSON.stringify(d)).join(', ')}]`,
    '',
  ].join('\n');
}

/** Requests one after another (new connections) until stopped; every answer recorded. */
function clientLoop(port: number, url: string) {
  const statuses: number[] = [];
  const errors: string[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running && i < 5_000; i++) {
      try {
        const res = await rawRequest(port, `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
        statuses.push(res.responses[0]?.status ?? -1);
      } catch (err) {
        errors.push(String(err));
      }
    }
  })();
  return {
    statuses,
    errors,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** A CONNECT tunnel to an echo server: send a line, read it back. */
async function openTunnel(port: number, target: number) {
  const s = net.connect(port, '127.0.0.1');
  let got = '';
  s.on('data', (c: Buffer) => (got += c.toString('latin1')));
  await new Promise((r) => s.once('connect', r));
  s.write(`CONNECT 127.0.0.1:${target} HTTP/1.1\r\nHost: 127.0.0.1:${target}\r\n\r\n`);
  await waitFor(() => got.includes('\r\n\r\n'));
  onTestFinished(() => void s.destroy());
  return {
    async echo(line: string): Promise<void> {
      const before = got.length;
      s.write(line);
      await waitFor(() => got.slice(before).includes(line));
    },
  };
}

async function startEchoServer(): Promise<number> {
  const server = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

describe('reload of the running process', () => {
  it('SIGHUP under traffic: no failed request, a tunnel survives, new rules apply, an invalid file keeps the old config', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    dns.set('ok.test', { a: ['127.0.0.1'] });
    dns.set('blocked.test', { a: ['127.0.0.1'] });
    const origin = await startEchoOrigin();
    const echoPort = await startEchoServer();
    const [port, admin] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'dfp-reload-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'dfp.yaml');
    writeFileSync(file, configText(port, admin, dns.address, []));
    const run = runDfp(['--config', file]);
    await waitText(run.stderr, 'listening on');

    const tunnel = await openTunnel(port, echoPort);
    await tunnel.echo('before\n');
    expect((await rawRequest(port, `GET http://blocked.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.status).toBe(200);

    const loop = clientLoop(port, `http://ok.test:${origin.port}/`);
    await waitFor(() => loop.statuses.length >= 20, 10_000);
    // A request in the middle of its head when the reload comes: finished after it, it is answered.
    const held = net.connect(port, '127.0.0.1');
    let heldReply = '';
    held.on('data', (c: Buffer) => (heldReply += c.toString('latin1')));
    onTestFinished(() => void held.destroy());
    await new Promise((r) => held.once('connect', r));
    held.write(`GET http://ok.test:${origin.port}/held HTTP/1.1\r\nHost: x\r\n`);
    writeFileSync(file, configText(port, admin, dns.address, ['blocked.test']));
    run.child.kill('SIGHUP');
    await waitText(run.stderr, 'config reloaded (SIGHUP)');
    held.write('\r\n');
    await waitFor(() => heldReply.includes('"url":"/held"'));
    expect(heldReply).toMatch(/^HTTP\/1\.1 200 /);
    const denied = await rawRequest(port, `GET http://blocked.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(denied.responses[0]?.status).toBe(403);
    await tunnel.echo('after the reload\n');

    // An invalid file: refused with the key and the reason, the running config stays.
    writeFileSync(file, configText(port, admin, dns.address, ['bad*rule.test']));
    run.child.kill('SIGHUP');
    await waitText(run.stderr, 'refused');
    expect(run.stderr()).toMatch(/reload \(SIGHUP\) refused, the running config stays: (config: )?access\.deny\[0\]: "bad\*rule\.test"/);
    expect((await rawRequest(port, `GET http://blocked.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.status).toBe(403);
    const before = loop.statuses.length;
    await waitFor(() => loop.statuses.length >= before + 20, 10_000);
    await loop.stop();
    expect(loop.errors).toEqual([]);
    expect(new Set(loop.statuses)).toEqual(new Set([200]));
    await tunnel.echo('still there\n');

    const metrics = (await rawRequest(admin, 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n')).responses[0]!.body.toString();
    expect(metrics).toContain('dfp_config_reloads_total{result="ok"} 1');
    expect(metrics).toContain('dfp_config_reloads_total{result="error"} 1');
  });

  it('SIGHUP opens an added listener and closes a removed one; the kept one never stops', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    const origin = await startEchoOrigin();
    const [port, admin, extra] = [await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'dfp-reload-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'dfp.yaml');
    writeFileSync(file, configText(port, admin, dns.address, []));
    const run = runDfp(['--config', file]);
    await waitText(run.stderr, 'listening on');
    const get = (p: number) => rawRequest(p, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);

    writeFileSync(file, configText(port, admin, dns.address, [], extra));
    run.child.kill('SIGHUP');
    await waitText(run.stderr, 'config reloaded');
    expect((await get(extra)).responses[0]?.status).toBe(200);
    expect((await get(port)).responses[0]?.status).toBe(200);

    writeFileSync(file, configText(port, admin, dns.address, []));
    run.child.kill('SIGHUP');
    await waitFor(() => count(run.stderr(), 'config reloaded') === 2, 10_000);
    await expect(get(extra)).rejects.toThrow();
    expect((await get(port)).responses[0]?.status).toBe(200);
  });

  it('--watch: a ConfigMap-style symlink swap reloads once; touching the file with the same content does not', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    dns.set('blocked.test', { a: ['127.0.0.1'] });
    const origin = await startEchoOrigin();
    const [port, admin] = [await freePort(), await freePort()];
    // /etc/dfp/config.yaml -> ..data/config.yaml, ..data -> ..2026_12_03_1 (what kubelet writes)
    const mount = mkdtempSync(join(tmpdir(), 'dfp-configmap-'));
    onTestFinished(() => rmSync(mount, { recursive: true, force: true }));
    const version = (name: string, text: string) => {
      mkdirSync(join(mount, name));
      writeFileSync(join(mount, name, 'config.yaml'), text);
      symlinkSync(name, join(mount, '..data_tmp'));
      renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
    };
    version('..v1', configText(port, admin, dns.address, []));
    symlinkSync('..data/config.yaml', join(mount, 'config.yaml'));
    const run = runDfp(['--config', join(mount, 'config.yaml'), '--watch']);
    await waitText(run.stderr, 'listening on');
    const blocked = () => rawRequest(port, `GET http://blocked.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect((await blocked()).responses[0]?.status).toBe(200);

    version('..v2', configText(port, admin, dns.address, ['blocked.test']));
    await waitText(run.stderr, 'config reloaded (file changed)');
    expect((await blocked()).responses[0]?.status).toBe(403);
    // The same content again under a new version directory: no reload.
    version('..v3', configText(port, admin, dns.address, ['blocked.test']));
    await new Promise((r) => setTimeout(r, 3_000)); // longer than the debounce and one stat poll
    expect(count(run.stderr(), 'config reloaded')).toBe(1);
  });
});

describe('proxy.reload in process', () => {
  it('swaps the snapshot: a request after it uses the new rules, the listener socket is the same', async () => {
    const origin = await startEchoOrigin();
    const h = await startHarness();
    const before = h.proxy.addresses[0]!.port;
    const next = structuredClone(h.config);
    next.access.deny = [{ rule: '127.0.0.1', name: 'no-loopback' }];
    await h.proxy.reload(next);
    expect(h.proxy.addresses[0]!.port).toBe(before);
    const res = await rawRequest(before, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(403);
  });

  it('a lower limits.maxHeaderBytes applies to every new connection, also one that inherits a parser from a connection opened before', async () => {
    const origin = await startEchoOrigin();
    const h = await startHarness((c) => (c.limits.maxHeaderBytes = 65_536));
    const big = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(10_000)}\r\n\r\n`;
    // A keep-alive connection opened under the old limit, closed after the reload: its parser is released then.
    const before = net.connect(h.port, '127.0.0.1');
    await new Promise((r) => before.once('connect', r));
    const next = structuredClone(h.config);
    next.limits.maxHeaderBytes = 4_096;
    await h.proxy.reload(next);
    before.destroy();
    await waitFor(() => h.proxy.context.connections.size === 0);
    for (let i = 0; i < 3; i++) expect((await rawRequest(h.port, big)).responses[0]?.status).toBe(431);
  });

  it('a listener a reload closed stops counting as this proxy: its port is dialled like any other (not a 508 loop)', async () => {
    const h = await startHarness();
    const extra = await freePort();
    const withExtra = structuredClone(h.config);
    withExtra.listeners.push({ address: { host: '127.0.0.1', port: extra }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 });
    await h.proxy.reload(withExtra);
    const through = (): Promise<number | undefined> => rawRequest(h.port, `GET http://127.0.0.1:${extra}/ HTTP/1.1\r\nHost: x\r\n\r\n`).then((r) => r.responses[0]?.status);
    expect(await through()).toBe(508); // the extra listener is this proxy
    await h.proxy.reload(structuredClone(h.config));
    expect(await through()).toBe(502); // closed: nothing listens there now (connection refused)
  });

  it('a config whose file cannot be read is refused and changes nothing', async () => {
    const h = await startHarness();
    const next = structuredClone(h.config);
    next.auth.basic = { realm: 'dfp', users: [], passwordFile: '/nonexistent/htpasswd' };
    await expect(h.proxy.reload(next)).rejects.toThrow(/nonexistent/);
    expect(h.proxy.context.snapshot.config.auth.basic).toBeNull();
  });
});

describe('a reload the running process cannot complete', () => {
  it('a new access-log path that cannot be opened (a directory) is refused; the process keeps serving', async () => {
    const origin = await startEchoOrigin();
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    const [port, admin] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'dfp-badlog-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'adir'));
    const file = join(dir, 'dfp.yaml');
    writeFileSync(file, configText(port, admin, dns.address, []));
    const run = runDfp(['--config', file]);
    await waitText(run.stderr, 'listening on');
    writeFileSync(file, configText(port, admin, dns.address, []) + `log: { accessFile: ${join(dir, 'adir')} }\n`);
    run.child.kill('SIGHUP');
    await waitText(run.stderr, 'refused');
    expect(run.stderr()).toMatch(/EISDIR/);
    // Alive, on the old config; a later, valid reload still runs.
    expect((await rawRequest(port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.status).toBe(200);
    writeFileSync(file, configText(port, admin, dns.address, ['blocked.test']));
    run.child.kill('SIGHUP');
    await waitText(run.stderr, 'config reloaded (SIGHUP)');
    expect(run.child.exitCode).toBeNull();
  });
});

describe('the access-log file in the running process', () => {
  it('logrotate: rename + SIGUSR1 moves the next lines to a new file; SIGTERM writes out the last ones; no line lost', async () => {
    const origin = await startEchoOrigin();
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    const [port, admin] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'dfp-logrotate-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'dfp.yaml');
    writeFileSync(file, configText(port, admin, dns.address, []) + `log: { accessFile: ${join(dir, 'access.log')} }\n`);
    const run = runDfp(['--config', file]);
    await waitText(run.stderr, 'listening on');
    const send = async (n: number, tag: string) => {
      for (let i = 0; i < n; i++) {
        const res = await rawRequest(port, `GET http://127.0.0.1:${origin.port}/${tag}/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect(res.responses[0]?.status).toBe(200);
      }
    };
    await send(30, 'before');
    renameSync(join(dir, 'access.log'), join(dir, 'access.log.1'));
    run.child.kill('SIGUSR1');
    await waitFor(() => existsSync(join(dir, 'access.log')), 5_000);
    await send(30, 'after');
    run.child.kill('SIGTERM');
    await new Promise((r) => run.child.once('exit', r));
    const statuses = (name: string) => readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { status: number }).status);
    const lineCount = (name: string) => readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean).length;
    // Every request logged exactly once, each a whole JSON line, and split at the reopen: the 30 requests
    // before it (answered and logged before SIGUSR1 was sent) in the renamed file, the 30 after in the new one.
    expect(statuses('access.log.1').every((s) => s === 200)).toBe(true);
    expect([lineCount('access.log.1'), lineCount('access.log')]).toEqual([30, 30]);
  });
});

describe('reload with --workers', () => {
  it('SIGHUP to the primary: it checks the file, then every worker reloads', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    dns.set('blocked.test', { a: ['127.0.0.1'] });
    const origin = await startEchoOrigin();
    const [port, admin] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'dfp-reload-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'dfp.yaml');
    writeFileSync(file, configText(port, admin, dns.address, []) + 'workers: 2\n');
    const run = runDfp(['--config', file]);
    await waitText(run.stderr, 'with 2 workers');
    writeFileSync(file, configText(port, admin, dns.address, ['blocked.test']) + 'workers: 2\n');
    run.child.kill('SIGHUP');
    await waitText(run.stderr, 'config reloaded in 2 workers');
    const metrics = async () => (await rawRequest(admin, 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n')).responses[0]!.body.toString();
    // The sum over the workers: one ok reload each.
    const start = Date.now();
    while (!(await metrics()).includes('dfp_config_reloads_total{result="ok"} 2')) {
      if (Date.now() - start > 10_000) throw new Error(await metrics());
      await new Promise((r) => setTimeout(r, 100));
    }
    // New connections land on either worker: each refuses now.
    for (let i = 0; i < 6; i++) {
      expect((await rawRequest(port, `GET http://blocked.test:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`)).responses[0]?.status).toBe(403);
    }
  });
});

describe('reload re-reads the files the config names', () => {
  it('an HTTPS listener presents the new certificate to new connections; the listener socket stays', async () => {
    const { makeCertificates } = await import('../../src/cli/cert.js');
    const tls = await import('node:tls');
    const first = makeCertificates(['localhost']);
    const second = makeCertificates(['localhost']);
    const dir = mkdtempSync(join(tmpdir(), 'dfp-certs-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'cert.pem'), first.serverCert);
    writeFileSync(join(dir, 'key.pem'), first.serverKey);
    const h = await startHarness((c) => {
      c.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }, proxyProtocol: false, upstreamPort: 443 }];
    });
    const handshake = (ca: string) =>
      new Promise<boolean>((resolve) => {
        const s = tls.connect({ port: h.port, host: '127.0.0.1', servername: 'localhost', ca }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
    expect(await handshake(first.caCert)).toBe(true);
    writeFileSync(join(dir, 'cert.pem'), second.serverCert);
    writeFileSync(join(dir, 'key.pem'), second.serverKey);
    await h.proxy.reload(structuredClone(h.config));
    expect(h.proxy.addresses[0]!.port).toBe(h.port);
    expect(await handshake(second.caCert)).toBe(true);
    expect(await handshake(first.caCert)).toBe(false);
  });
});
