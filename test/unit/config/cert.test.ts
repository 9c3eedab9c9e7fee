import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { runCert } from '../../../src/cli/cert.js';
import { parseCommand } from '../../../src/cli/args.js';
import { ConfigError } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'dfp-cert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dfp cert', () => {
  it('writes a CA and a server certificate that verify, with DNS and IP SANs', async () => {
    const out = join(dir, 'certs');
    const summary = runCert(out, ['localhost', '127.0.0.1', '::1']);
    expect(summary).toContain('server.pem');
    const ca = new X509Certificate(readFileSync(join(out, 'ca.pem')));
    const server = new X509Certificate(readFileSync(join(out, 'server.pem')));
    expect(ca.ca).toBe(true);
    expect(server.ca).toBe(false);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkHost('example.com')).toBeUndefined();
    expect(statSync(join(out, 'server-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'ca-key.pem')).mode & 0o777).toBe(0o600);

    // A real handshake on loopback: the client trusts only the new CA.
    const server0 = tls.createServer({ key: readFileSync(join(out, 'server-key.pem')), cert: readFileSync(join(out, 'server.pem')) }, (s) => s.end('hi'));
    await new Promise<void>((r) => server0.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server0.close(() => r())));
    const port = (server0.address() as net.AddressInfo).port;
    const text = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(join(out, 'ca.pem')) }, () => {
        let got = '';
        c.on('data', (d: Buffer) => (got += d.toString()));
        c.on('end', () => resolve(got));
      });
      c.on('error', reject);
    });
    expect(text).toBe('hi');
  });

  it('parseCommand reads cert flags and validates --host', () => {
    let err: unknown;
    try {
      parseCommand(['cert', '--out', dir, '--host', 'bad host!']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('--host');
  });
});
