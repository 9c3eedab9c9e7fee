/**
 * The real dfp process: starts from flags, serves, drains on SIGTERM and exits 0;
 * exits 2 naming the key on bad input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startDnsServer } from '../helpers/dns-server.js';
import { freePort, startEchoOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Running {
  child: ChildProcess;
  stderr(): string;
  stdout(): string;
  exited: Promise<number | null>;
}

function runDfp(args: string[]): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => err, stdout: () => out, exited };
}

async function waitListening(run: Running, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!run.stderr().includes('listening on')) {
    if (run.child.exitCode !== null) throw new Error(`dfp exited: ${run.stderr()}`);
    if (Date.now() - start > timeoutMs) throw new Error(`dfp did not start: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dfp process', () => {
  it('serves a proxied request, logs it as JSON, and exits 0 on SIGTERM', async () => {
    const dns = await startDnsServer();
    onTestFinished(() => dns.close());
    dns.set('svc.test', { a: ['127.0.0.1'] });
    const origin = await startEchoOrigin();
    const port = await freePort();
    const admin = await freePort();
    const run = runDfp(['--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--dns-server', dns.address, '--allow-private']);
    await waitListening(run);
    const res = await rawRequest(port, `GET http://svc.test:${origin.port}/hello HTTP/1.1\r\nHost: svc.test\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    const health = await rawRequest(admin, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(health.responses[0]?.status).toBe(200);
    const metrics = await rawRequest(admin, 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(metrics.responses[0]?.body.toString()).toMatch(/dfp_requests_total\{mode="forward",code="200"\} 1/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const line = JSON.parse(run.stdout().trim().split('\n')[0]!);
    expect(line).toMatchObject({ mode: 'forward', method: 'GET', host: 'svc.test', port: origin.port, status: 200, address: '127.0.0.1' });
  });

  it('writes no access log at --log-level warn', async () => {
    const origin = await startEchoOrigin();
    const port = await freePort();
    const run = runDfp(['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--allow-private', '--log-level', 'warn']);
    await waitListening(run);
    const res = await rawRequest(port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toBe('');
  });

  it('lets an in-flight request finish when SIGTERM arrives, then exits 0', async () => {
    const origin = await startEchoOrigin((_req, res) => setTimeout(() => res.end('late'), 400));
    const port = await freePort();
    const run = runDfp(['--listen', `127.0.0.1:${port}`, '--admin', 'off', '--allow-private']);
    await waitListening(run);
    const client = await connectRaw(port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    run.child.kill('SIGTERM');
    const res = await client.responses(1);
    expect(res.responses[0]?.body.toString()).toBe('late');
    expect(await run.exited).toBe(0);
  });

  it('runs --workers 2 behind one listener, sums their metrics on the admin port, and drains both on SIGTERM', async () => {
    const origin = await startEchoOrigin();
    const port = await freePort();
    const admin = await freePort();
    const run = runDfp(['--workers', '2', '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--allow-private']);
    await waitListening(run, 30_000);
    for (let i = 0; i < 6; i++) {
      const res = await rawRequest(port, `GET http://127.0.0.1:${origin.port}/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.responses[0]?.status).toBe(200);
    }
    const metrics = await rawRequest(admin, 'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(metrics.responses[0]?.body.toString()).toMatch(/dfp_requests_total\{mode="forward",code="200"\} 6\n/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  }, 40_000);

  it('rejects an unknown flag with exit code 2 and names it', async () => {
    const run = runDfp(['--no-such-flag']);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('--no-such-flag');
  });
});
