/**
 * Proxy authentication and rate limits end to end. auth.basic: missing or wrong credentials are a 407
 * with `Proxy-Authenticate` (CONNECT too), right ones pass, Proxy-Authorization never reaches the origin,
 * the user is logged; htpasswd files made by the real `htpasswd` (bcrypt, {SHA}) work with curl, the
 * formats dfp refuses stop the start with the line named. rateLimit.perClient: a burst, then 429 with
 * Retry-After, keyed by the user (else the client address), for requests and for new tunnels.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { defaultConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';
import { startProxy } from '../../src/proxy/server.js';
import { curl, hasCurl } from '../helpers/curl.js';
import { startMeteredHarness } from '../helpers/metered.js';
import { startEchoOrigin } from '../helpers/origin.js';
import { rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

if (spawnSync('htpasswd', ['-nbB', 'x', 'y']).status !== 0) {
  throw new Error('the htpasswd binary is not installed (apt-get install apache2-utils; .ci/run installs it)');
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function start(tweak: (c: Config) => void) {
  return startMeteredHarness(tweak);
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dfp-auth-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function connectHead(port: number, authority: string, extra = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${extra}\r\n`));
    let got = '';
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end >= 0) {
        s.destroy();
        resolve(got.slice(0, end));
      }
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed before a head: ${JSON.stringify(got)}`)));
  });
}

describe('auth.basic', () => {
  it('no credentials, wrong ones, malformed ones: 407 with Proxy-Authenticate; right ones: 200, the user logged, the header not forwarded', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.auth.basic = { realm: 'egress', users: [{ username: 'alice', password: 's3cret' }], passwordFile: null }));
    const url = `http://127.0.0.1:${origin.port}/x`;
    for (const [credentials, detail] of [
      [null, 'no credentials (auth.basic)'],
      [basic('alice', 'wrong'), 'wrong credentials (auth.basic)'],
      [basic('mallory', 's3cret'), 'wrong credentials (auth.basic)'],
      ['Basic !!!', 'malformed credentials (auth.basic)'],
      ['Bearer abc', 'malformed credentials (auth.basic)'],
    ] as const) {
      const res = await rawRequest(p.port, `GET ${url} HTTP/1.1\r\nHost: x\r\n${credentials === null ? '' : `Proxy-Authorization: ${credentials}\r\n`}\r\n`);
      expect(res.responses[0]?.status).toBe(407);
      expect(header(res.responses[0], 'proxy-authenticate')).toBe('Basic realm="egress"');
      expect(header(res.responses[0], 'proxy-status')).toBe(`dfp; error=http_request_denied; details="${detail}"`);
    }
    expect(origin.seen).toHaveLength(0);
    const ok = await rawRequest(p.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${basic('alice', 's3cret')}\r\n\r\n`);
    expect(ok.responses[0]?.status).toBe(200);
    expect(origin.seen[0]!.headers['proxy-authorization']).toBeUndefined();
    await waitFor(() => p.log.records.length === 6);
    expect(p.log.records[5]).toMatchObject({ user: 'alice', status: 200 });
    expect(p.log.records[0]).toMatchObject({ user: null, status: 407, error: 'AUTH_REQUIRED', rule: 'auth.basic' });
    expect(p.value('dfp_denied_total{reason="proxy_auth"}')).toBe(5);
    // The password appears in no log record.
    expect(JSON.stringify(p.log.records)).not.toContain('s3cret');
  });

  it('two Proxy-Authorization fields are malformed, even when one is right', async () => {
    const p = await start((c) => (c.auth.basic = { realm: 'dfp', users: [{ username: 'alice', password: 'pw' }], passwordFile: null }));
    const res = await rawRequest(p.port, `GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${basic('alice', 'pw')}\r\nProxy-Authorization: ${basic('bob', 'x')}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(407);
  });

  it('CONNECT without credentials is a 407; with them the tunnel opens', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.auth.basic = { realm: 'dfp', users: [{ username: 'alice', password: 'pw' }], passwordFile: null }));
    const denied = await connectHead(p.port, `127.0.0.1:${origin.port}`);
    expect(denied).toMatch(/^HTTP\/1\.1 407 /);
    expect(denied).toContain('\r\nProxy-Authenticate: Basic realm="dfp"');
    const ok = await connectHead(p.port, `127.0.0.1:${origin.port}`, `Proxy-Authorization: ${basic('alice', 'pw')}\r\n`);
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('gateway mode asks for credentials as well (a client that reaches the proxy by Host)', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.auth.basic = { realm: 'dfp', users: [{ username: 'alice', password: 'pw' }], passwordFile: null }));
    const res = await rawRequest(p.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`);
    expect(res.responses[0]?.status).toBe(407);
  });

  describe.skipIf(!hasCurl)('htpasswd files made by htpasswd, with curl', () => {
    for (const [format, flag] of [
      ['bcrypt (-B)', '-B'],
      ['{SHA} (-s)', '-s'],
    ] as const) {
      it(`${format}: curl -U with the right password gets 200, a wrong one 407`, async () => {
        const origin = await startEchoOrigin();
        const dir = tempDir();
        const file = join(dir, 'users.htpasswd');
        execFileSync('htpasswd', ['-c', '-b', flag, ...(flag === '-B' ? ['-C', '5'] : []), file, 'bob', 'hunter2']);
        const p = await start((c) => (c.auth.basic = { realm: 'dfp', users: [], passwordFile: file }));
        const url = `http://127.0.0.1:${origin.port}/`;
        const right = await curl(['-x', `http://127.0.0.1:${p.port}`, '-U', 'bob:hunter2', url]);
        expect(right.status).toBe(200);
        const wrong = await curl(['-x', `http://127.0.0.1:${p.port}`, '-U', 'bob:hunter3', url]);
        expect(wrong.status).toBe(407);
        const none = await curl(['-x', `http://127.0.0.1:${p.port}`, url]);
        expect(none.status).toBe(407);
        // The second request with the right password is answered from the cache (same verdict).
        expect((await curl(['-x', `http://127.0.0.1:${p.port}`, '-U', 'bob:hunter2', url])).status).toBe(200);
        await waitFor(() => p.log.records.length === 4);
        expect(p.log.records.map((r) => [r.user, r.status])).toEqual([
          ['bob', 200],
          [null, 407],
          [null, 407],
          ['bob', 200],
        ]);
      });
    }
  });

  it('new credentials cost a bcrypt each: one client gets a burst of verifications, then 429; cached credentials are never throttled', async () => {
    const origin = await startEchoOrigin();
    const dir = tempDir();
    const file = join(dir, 'users.htpasswd');
    execFileSync('htpasswd', ['-c', '-b', '-B', '-C', '5', file, 'bob', 'hunter2']);
    const p = await start((c) => (c.auth.basic = { realm: 'dfp', users: [], passwordFile: file }));
    const url = `http://127.0.0.1:${origin.port}/`;
    const ask = async (pw: string) => (await rawRequest(p.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${basic('bob', pw)}\r\n\r\n`)).responses[0]!;
    expect((await ask('hunter2')).status).toBe(200); // verified once, cached from now on
    // 15 guesses at once: the burst (10, one spent above) is verified, the rest refused before any bcrypt.
    const guesses = await Promise.all(Array.from({ length: 15 }, (_, i) => ask(`guess-${i}`)));
    const statuses = guesses.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    expect(statuses.every((s) => s === 407 || s === 429)).toBe(true);
    expect(header(guesses.find((r) => r.status === 429), 'retry-after')).toMatch(/^\d+$/);
    expect((await ask('hunter2')).status).toBe(200);
  });

  for (const [format, flag, message] of [
    ['apr1 (-m, htpasswd\'s default)', '-m', 'apr1 (MD5) hashes are not supported'],
    ['crypt (-d)', '-d', 'not supported'],
    ['plain text (-p)', '-p', 'not supported'],
  ] as const) {
    it(`an htpasswd file in ${format} stops the start, naming the file and the line`, async () => {
      const dir = tempDir();
      const file = join(dir, 'users.htpasswd');
      execFileSync('htpasswd', ['-c', '-b', flag, file, 'carol', 'pw']);
      const config = defaultConfig();
      config.listeners = [{ address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 }];
      config.admin = null;
      config.auth.basic = { realm: 'dfp', users: [], passwordFile: file };
      const started = startProxy(config, {});
      await expect(started).rejects.toThrow(message);
      await expect(started).rejects.toThrow(`${file} line 1 (carol)`);
    });
  }
});

describe('rateLimit.perClient', () => {
  it('a burst passes, then 429 with Retry-After; counted in dfp_rate_limited_total and logged', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.rateLimit.perClient = { requestsPerSecond: 0.2, burst: 3 }));
    const url = `http://127.0.0.1:${origin.port}/`;
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await rawRequest(p.port, `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
      statuses.push(last.responses[0]!.status!);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    // 0.2 tokens a second: the next one is at most 5 s away.
    const retryAfter = Number(header(last!.responses[0], 'retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(5);
    expect(header(last!.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_request_denied; details="retry in \d s \(rateLimit\.perClient\)"$/);
    expect(p.value('dfp_rate_limited_total')).toBe(1);
    await waitFor(() => p.log.records.length === 4);
    expect(p.log.records[3]).toMatchObject({ status: 429, error: 'RATE_LIMITED', rule: 'rateLimit.perClient' });
  });

  it('new tunnels take tokens too', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => (c.rateLimit.perClient = { requestsPerSecond: 0.1, burst: 1 }));
    expect(await connectHead(p.port, `127.0.0.1:${origin.port}`)).toMatch(/^HTTP\/1\.1 200 /);
    const limited = await connectHead(p.port, `127.0.0.1:${origin.port}`);
    expect(limited).toMatch(/^HTTP\/1\.1 429 /);
    expect(limited).toMatch(/\r\nRetry-After: \d+/);
  });

  it('the key is the user when there is one: two users from one address have a bucket each', async () => {
    const origin = await startEchoOrigin();
    const p = await start((c) => {
      c.auth.basic = { realm: 'dfp', users: [{ username: 'alice', password: 'a' }, { username: 'bob', password: 'b' }], passwordFile: null };
      c.rateLimit.perClient = { requestsPerSecond: 0.1, burst: 1 };
    });
    const get = async (user: string, pw: string) =>
      (await rawRequest(p.port, `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${basic(user, pw)}\r\n\r\n`)).responses[0]!.status;
    expect(await get('alice', 'a')).toBe(200);
    expect(await get('alice', 'a')).toBe(429);
    expect(await get('bob', 'b')).toBe(200);
  });
});
