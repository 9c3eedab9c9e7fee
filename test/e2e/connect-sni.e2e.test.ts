/**
 * access.connectSni: the TLS SNI inside a CONNECT tunnel must name the CONNECT host (match), and with
 * require every tunnel must start with a ClientHello that does. A fronted name (CONNECT a, SNI b) closes the
 * tunnel before a byte of it reaches the origin, logged with the rule and counted as connect_sni.
 */
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it, onTestFinished } from 'vitest';
import { makeCertificates } from '../../src/cli/cert.js';
import type { Config } from '../../src/config/types.js';
import { createMetrics } from '../../src/observability/proxy-metrics.js';
import { startHarness } from '../helpers/harness.js';
import { startRecordingOrigin } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';

const certs = makeCertificates(['a.test', 'b.test']);

async function startTlsOrigin(): Promise<{ port: number; servernames: (string | false | null)[] }> {
  const servernames: (string | false | null)[] = [];
  const server = https.createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => res.end(`tunnel ${req.url}`));
  server.on('secureConnection', (s: tls.TLSSocket) => servernames.push(s.servername));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, servernames };
}

async function startProxy(connectSni: Config['access']['connectSni'], tweak?: (c: Config) => void) {
  const metrics = createMetrics();
  const h = await startHarness((c) => {
    c.access.connectSni = connectSni;
    tweak?.(c);
  }, { metrics: metrics.hooks });
  h.dns.set('a.test', { a: ['127.0.0.1'] });
  h.dns.set('b.test', { a: ['127.0.0.1'] });
  const value = (line: string): number => {
    const found = metrics.render().split('\n').find((l) => l.startsWith(line + ' '));
    return found === undefined ? 0 : Number(found.slice(line.length + 1));
  };
  return { ...h, value };
}

/** CONNECT to `target`, wait for the 200, hand back the raw socket. */
async function connectTunnel(port: number, target: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  onTestFinished(() => void socket.destroy());
  socket.on('error', () => {});
  await new Promise<void>((r) => socket.once('connect', r));
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        if (!head.startsWith('HTTP/1.1 200')) reject(new Error(head));
        else resolve();
      }
    };
    socket.on('data', onData);
  });
  return socket;
}

/** TLS over the tunnel with this SNI, one request; resolves with the body or the error. */
function tlsRequest(socket: net.Socket, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const secure = tls.connect({ socket, servername, ca: certs.caCert });
    onTestFinished(() => void secure.destroy());
    let body = '';
    secure.on('secureConnect', () => secure.write(`GET /x HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`));
    secure.on('data', (c: Buffer) => (body += c.toString()));
    secure.on('end', () => resolve(body));
    secure.on('error', (err: Error) => resolve(`error: ${err.message}`));
    secure.on('close', () => resolve(body || 'closed'));
  });
}

describe('access.connectSni', () => {
  it('match: a ClientHello naming the CONNECT host passes', async () => {
    const origin = await startTlsOrigin();
    const h = await startProxy('match');
    const body = await tlsRequest(await connectTunnel(h.port, `a.test:${origin.port}`), 'a.test');
    expect(body).toContain('tunnel /x');
    expect(origin.servernames).toEqual(['a.test']);
  });

  it('match: a ClientHello naming another host (fronting) closes the tunnel before it reaches the origin', async () => {
    const origin = await startTlsOrigin();
    const h = await startProxy('match');
    const result = await tlsRequest(await connectTunnel(h.port, `a.test:${origin.port}`), 'b.test');
    expect(result).not.toContain('tunnel /x');
    expect(origin.servernames).toEqual([]);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', host: 'a.test', error: 'REQUEST_DENIED', rule: 'access.connectSni' });
    expect(h.value('dfp_denied_total{reason="connect_sni"}')).toBe(1);
  });

  it('match: bytes that are not TLS pass (plain HTTP through CONNECT)', async () => {
    const origin = await startRecordingOrigin();
    const h = await startProxy('match');
    const socket = await connectTunnel(h.port, `a.test:${origin.port}`);
    socket.write('GET /plain HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await waitFor(() => origin.allRequests().length === 1);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe('GET /plain HTTP/1.1\r\nHost: a.test\r\n\r\n');
  });

  it('match: a client that stays silent past headerTimeout cannot then send a ClientHello for another host', async () => {
    // Silence used to open the tunnel (for server-speaks-first protocols), after which nothing was read.
    const origin = await startTlsOrigin();
    const h = await startProxy('match', (c) => (c.limits.headerTimeoutMs = 200));
    const socket = await connectTunnel(h.port, `a.test:${origin.port}`);
    let closed = false;
    socket.on('close', () => (closed = true));
    await new Promise((r) => setTimeout(r, 400));
    // Whatever the tunnel does with a late ClientHello, it must not reach the origin.
    const result = closed ? 'closed' : await tlsRequest(socket, 'b.test');
    expect(result).not.toContain('tunnel /x');
    expect(origin.servernames).toEqual([]);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', error: 'REQUEST_DENIED', rule: 'access.connectSni' });
  });

  it('require: bytes that are not TLS are refused', async () => {
    const origin = await startRecordingOrigin();
    const h = await startProxy('require');
    const socket = await connectTunnel(h.port, `a.test:${origin.port}`);
    socket.write('GET /plain HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await new Promise<void>((r) => socket.on('close', () => r()));
    expect(origin.allRequests()).toEqual([]);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ error: 'REQUEST_DENIED', rule: 'access.connectSni' });
  });

  it('off (the default without access.allow): the SNI is not read', async () => {
    const origin = await startTlsOrigin();
    const h = await startProxy('off');
    const body = await tlsRequest(await connectTunnel(h.port, `a.test:${origin.port}`), 'b.test');
    expect(body).toContain('tunnel /x');
    expect(origin.servernames).toEqual(['b.test']);
  });
});
