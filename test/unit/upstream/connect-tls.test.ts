/**
 * The connect path is ready for TLS origination: a connection made `forTls` is a socket TLS can wrap, and
 * a TLS handshake over it works (a local TLS server with a certificate made by dfp's own `cert` code);
 * plain connections keep the libuv-handle path.
 */
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeCertificates } from '../../../src/cli/cert.js';
import { RawConn, usingRawConns } from '../../../src/io/conn.js';
import { connectTo } from '../../../src/upstream/connect.js';

describe('connectTo for TLS', () => {
  it('makes a net.Socket that tls.connect can wrap, and the handshake verifies the name', async () => {
    const certs = makeCertificates(['origin.test']);
    const server = tls.createServer({ cert: certs.serverCert, key: certs.serverKey }, (s) => s.end('hello over tls'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const { socket } = await connectTo([{ address: '127.0.0.1', family: 4 }], port, { timeoutMs: 2_000, forTls: true });
    expect(socket).toBeInstanceOf(net.Socket);
    const secure = tls.connect({ socket: socket as unknown as net.Socket, servername: 'origin.test', ca: certs.caCert });
    onTestFinished(() => void secure.destroy());
    const text = await new Promise<string>((resolve, reject) => {
      let got = '';
      secure.on('data', (c: Buffer) => (got += c.toString()));
      secure.on('end', () => resolve(got));
      secure.on('error', reject);
    });
    expect(secure.authorized).toBe(true);
    expect(text).toBe('hello over tls');
  });

  it.runIf(usingRawConns())('plain connections keep the libuv-handle path', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const { socket } = await connectTo([{ address: '127.0.0.1', family: 4 }], (server.address() as net.AddressInfo).port, { timeoutMs: 2_000 });
    onTestFinished(() => socket.destroy());
    expect(socket).toBeInstanceOf(RawConn);
  });
});
