/**
 * A checked CONNECT (access.connectSni) against a hostile origin: while dfp waits for the client's first
 * bytes, an origin that floods is not read (its bytes wait in the kernel, not in dfp's memory), and an
 * origin that resets or closes ends the tunnel at once (logged 502) instead of crashing the process
 * (net.Socket fallback: registered again in net-fallback.e2e.test.ts) or lingering until drainTimeout.
 */
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startHarness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

async function origin(onSocket: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => {
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

function connectAndWait(port: number, target: number): { socket: net.Socket; closed: Promise<void>; head: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let got = '';
  let gotHead: (h: string) => void = () => {};
  const head = new Promise<string>((r) => (gotHead = r));
  socket.on('data', (c: Buffer) => {
    got += c.toString('latin1');
    if (got.includes('\r\n\r\n')) gotHead(got);
  });
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.write(`CONNECT 127.0.0.1:${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
  onTestFinished(() => void socket.destroy());
  return { socket, closed, head };
}

describe('a checked CONNECT tunnel and a hostile origin', () => {
  it('an origin that floods while the client is silent is not read into memory', async () => {
    const TOTAL = 64 * 1024 * 1024;
    let accepted = 0; // bytes the kernel took from the origin (so dfp read them or they sit in socket buffers)
    const port = await origin((s) => {
      const chunk = Buffer.alloc(1024 * 1024, 0x61);
      const pump = (): void => {
        while (accepted < TOTAL) {
          accepted += chunk.length;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const h = await startHarness((c) => {
      c.access.connectSni = 'match';
      c.limits.headerTimeoutMs = 1_500;
    });
    const client = connectAndWait(h.port, port);
    expect(await client.head).toMatch(/^HTTP\/1\.1 200 /);
    await client.closed; // headerTimeout: silence is refused in a checked tunnel
    // Before the fix dfp read everything (all 64 MiB, and more memory each second); now only what the
    // socket buffers between the three sockets hold.
    expect(accepted).toBeLessThan(24 * 1024 * 1024);
  });

  it('an origin that resets during the check ends the tunnel at once, logged, nothing left open', async () => {
    let reset: () => void = () => {};
    const port = await origin((s) => (reset = () => s.resetAndDestroy()));
    const h = await startHarness((c) => {
      c.access.connectSni = 'match';
      c.limits.headerTimeoutMs = 60_000;
    });
    const client = connectAndWait(h.port, port);
    expect(await client.head).toMatch(/^HTTP\/1\.1 200 /);
    reset();
    await client.closed; // before the fix: nothing until headerTimeout (or, on net.Sockets, the process died)
    await waitFor(() => h.log.records.length === 1);
    expect(h.log.records[0]).toMatchObject({ mode: 'connect', status: 502, error: 'UPSTREAM_INCOMPLETE' });
    expect(h.proxy.context.connections.size).toBe(0);
  });
});
