/**
 * Hostile first bytes at the SNI passthrough listener and into a checked CONNECT tunnel
 * (access.connectSni: require): random bytes and mutated ClientHellos, in random pieces, never crash the
 * proxy, never hang (every connection closes once the client has sent its FIN, or after headerTimeout),
 * never leak a connection, and the proxy keeps serving.
 */
import fc from 'fast-check';
import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { checkAsyncProperty } from '../helpers/property.js';
import { startRawOrigin } from '../helpers/origin.js';
import { waitFor } from '../helpers/wait.js';

/** A real ClientHello from Node, captured by a server that reads the first record and hangs up. */
async function captureClientHello(): Promise<Buffer> {
  let resolveHello: (b: Buffer) => void = () => {};
  const hello = new Promise<Buffer>((r) => (resolveHello = r));
  const server = net.createServer((s) => s.once('data', (c: Buffer) => { resolveHello(c); s.destroy(); }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, servername: 'hostile.test' });
  client.on('error', () => {});
  const bytes = await hello;
  client.destroy();
  server.close();
  return bytes;
}

/** Connect, send the pieces, FIN, and wait (bounded) for the proxy to close. */
function sendAndClose(port: number, pieces: Buffer[], prefix?: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume(); // read (and drop) what comes back, e.g. the CONNECT's 200, so the close is seen
    s.on('close', () => resolve());
    s.on('connect', () => {
      if (prefix !== undefined) s.write(prefix);
      for (const p of pieces) s.write(p);
      s.end();
    });
    setTimeout(() => s.destroy(), 3_000).unref();
  });
}

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort((a, b) => a - b);
  return [0, ...at].map((a, k, all) => bytes.subarray(a, all[k + 1] ?? bytes.length)).filter((p) => p.length > 0);
}

describe('hostile first bytes', () => {
  it('at the SNI listener and in a checked CONNECT: no crash, no hang, no leaked connection, still serving', async () => {
    const hello = await captureClientHello();
    // Reads and drops; closes its side when the client does (a tunnel that passed ends with the client's FIN).
    const origin = await startRawOrigin((s) => {
      s.on('data', () => {});
      s.on('end', () => s.end());
    });
    const h = await startHarness((c) => {
      c.listeners = [
        { address: { host: '127.0.0.1', port: 0 }, mode: 'http', tls: null, proxyProtocol: false, upstreamPort: 443 },
        { address: { host: '127.0.0.1', port: 0 }, mode: 'sni', tls: null, proxyProtocol: false, upstreamPort: origin.port },
      ];
      c.access.connectSni = 'require';
      c.limits.headerTimeoutMs = 300;
    });
    h.dns.set('hostile.test', { a: ['127.0.0.1'] });
    const httpPort = h.proxy.addresses[0]!.port;
    const sniPort = h.proxy.addresses[1]!.port;
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)),
      fc.tuple(fc.nat(hello.length - 1), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')).map(([at, byte, op]) => {
        if (op === 'flip') return Buffer.from(hello.map((b, i) => (i === at ? b ^ (byte || 1) : b)));
        if (op === 'insert') return Buffer.concat([hello.subarray(0, at), Buffer.from([byte]), hello.subarray(at)]);
        return Buffer.concat([hello.subarray(0, at), hello.subarray(at + 1)]);
      }),
    );
    await checkAsyncProperty(
      fc.asyncProperty(bytesArb, fc.array(fc.nat(), { maxLength: 5 }), fc.boolean(), async (bytes, cuts, viaConnect) => {
        const pieces = splitAt(bytes, cuts);
        if (viaConnect) await sendAndClose(httpPort, pieces, `CONNECT hostile.test:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
        else await sendAndClose(sniPort, pieces);
      }),
      { numRuns: 300, timeMs: 15_000, floor: 100 },
    );
    await waitFor(() => h.proxy.context.connections.size === 0, 5_000).catch(() => {
      throw new Error(`connections left: ${h.proxy.context.connections.size}: ${[...h.proxy.context.connections].map((c) => JSON.stringify({ state: (c as unknown as { state: number }).state })).join(' ')}`);
    });
    // Still serving: a CONNECT carrying a good ClientHello for its own host reaches the origin.
    let reached = false;
    const seen = await startRawOrigin((s) => s.once('data', () => { reached = true; s.destroy(); }));
    const good = net.connect(httpPort, '127.0.0.1');
    good.on('error', () => {});
    good.on('connect', () => good.write(`CONNECT hostile.test:${seen.port} HTTP/1.1\r\nHost: x\r\n\r\n`));
    good.once('data', () => good.write(hello));
    await waitFor(() => reached);
    good.destroy();
    await waitFor(() => h.proxy.context.connections.size === 0, 5_000);
  }, 40_000);
});
