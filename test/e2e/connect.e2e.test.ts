/**
 * CONNECT tunnels: 200 only once the upstream is connected, early data kept,
 * both directions spliced, half-close passed on, errors before the 200.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { freePort, startRawOrigin } from '../helpers/origin.js';
import { afterHead, connectRaw } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

describe('CONNECT', () => {
  it('answers 200 after connecting and forwards bytes sent with the CONNECT head', async () => {
    const h = await startHarness();
    let got = '';
    const origin = await startRawOrigin((s) => {
      s.on('data', (c: Buffer) => {
        got += c.toString();
        if (got.includes('ping')) s.write('pong');
      });
    });
    const client = await connectRaw(h.port);
    client.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\nearly-ping`);
    await waitFor(() => client.received().toString().includes('pong'));
    expect(client.received().toString()).toBe('HTTP/1.1 200 Connection Established\r\n\r\npong');
    expect(got).toBe('early-ping');
  });

  it('passes a half-close on and still delivers the reply', async () => {
    const h = await startHarness();
    const origin = await startRawOrigin((s) => {
      let n = 0;
      s.on('data', (c: Buffer) => (n += c.length));
      s.on('end', () => s.end(`got ${n}`));
    });
    const client = await connectRaw(h.port);
    client.send(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    await waitFor(() => client.received().length > 0);
    client.socket.end('12345');
    const done = await client.closed();
    expect(done.raw.toString()).toBe('HTTP/1.1 200 Connection Established\r\n\r\ngot 5');
    await waitFor(() => h.log.records.length > 0);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', client: '127.0.0.1', status: 200, bytesIn: 5, bytesOut: 5 });
  });

  it('refuses a CONNECT port not in connectPorts with 403 http_request_denied (REQUEST_DENIED)', async () => {
    const h = await startHarness((c) => (c.access.connectPorts = [443]));
    const client = await connectRaw(h.port);
    client.send('CONNECT 127.0.0.1:25 HTTP/1.1\r\n\r\n');
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(403);
    expect(header(res.responses[0], 'proxy-status')).toMatch(/^dfp; error=http_request_denied(;|$)/);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', status: 403, error: 'REQUEST_DENIED' });
  });

  it('answers 502 connection_refused (CONNECTION_REFUSED) when nothing listens', async () => {
    const h = await startHarness();
    const closedPort = await freePort();
    const client = await connectRaw(h.port);
    client.send(`CONNECT 127.0.0.1:${closedPort} HTTP/1.1\r\n\r\n`);
    const res = await client.responses(1);
    expect(res.responses[0]?.status).toBe(502);
    expect(header(res.responses[0], 'proxy-status')).toBe(`dfp; error=connection_refused; details="127.0.0.1:${closedPort} ECONNREFUSED"`);
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', status: 502, error: 'CONNECTION_REFUSED' });
  });

  it('carries 24 MiB from the origin to a client that reads slowly, byte for byte', async () => {
    const h = await startHarness();
    const payload = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
    const expected = createHash('sha256').update(payload).digest('hex');
    const origin = await startRawOrigin((s) => s.end(payload));
    const client = net.connect({ port: h.port, host: '127.0.0.1' });
    client.on('error', () => {});
    client.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    const hash = createHash('sha256');
    let bodyBytes = 0;
    let reads = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stalled at ${bodyBytes} bytes`)), 30_000);
      // After the 200 head, everything is tunnel payload.
      client.on('data', afterHead((chunk) => {
        bodyBytes += chunk.length;
        hash.update(chunk);
        // Read slowly at first, so the proxy's writes to us cannot complete at once.
        if (++reads % 8 === 0 && bodyBytes < 4 * 1024 * 1024) {
          client.pause();
          setTimeout(() => client.resume(), 5);
        }
      }));
      client.on('end', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    client.destroy();
    expect(bodyBytes).toBe(payload.length);
    expect(hash.digest('hex')).toBe(expected);
  }, 40_000);
});
