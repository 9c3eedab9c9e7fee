/**
 * A raw-socket client: sends exact bytes and reads until the responses it
 * expects are complete (framing decided by dfp's scanner on the test side), or
 * until the proxy closes. One `data` event is never taken as one response.
 */
import net from 'node:net';
import { onTestFinished } from 'vitest';
import { parseStream, type ParsedMessage } from '../../src/http/index.js';

export interface RawExchange {
  /** Responses fully received. */
  responses: ParsedMessage[];
  /** Every byte received. */
  raw: Buffer;
  /** The proxy closed the connection. */
  closed: boolean;
}

export interface RawClient {
  socket: net.Socket;
  send(data: string | Buffer): void;
  /** Wait until `count` complete responses arrived (or close / timeout). */
  responses(count: number, options?: { timeoutMs?: number; requestMethods?: number[] }): Promise<RawExchange>;
  /** Wait until the proxy closes the connection. */
  closed(timeoutMs?: number): Promise<RawExchange>;
  received(): Buffer;
  close(): void;
}

export async function connectRaw(port: number, host = '127.0.0.1'): Promise<RawClient> {
  const socket = net.connect({ port, host, allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  let isClosed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    wake();
  });
  socket.on('end', () => {
    isClosed = true;
    wake();
  });
  socket.on('close', () => {
    isClosed = true;
    wake();
  });
  onTestFinished(() => {
    socket.destroy();
  });
  const snapshot = (methods?: number[]): RawExchange => {
    const raw = Buffer.concat(chunks);
    const parsed = parseStream('response', [raw], { eof: isClosed, requestMethods: methods });
    return { responses: parsed.messages.filter((m) => m.complete), raw, closed: isClosed };
  };
  const waitFor = (done: (x: RawExchange) => boolean, timeoutMs: number, methods?: number[]) =>
    new Promise<RawExchange>((resolve, reject) => {
      const check = () => {
        const x = snapshot(methods);
        if (done(x)) {
          cleanup();
          resolve(x);
        } else if (isClosed) {
          cleanup();
          resolve(x);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out; received: ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 500))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    socket,
    send: (data) => {
      socket.write(data);
    },
    responses: (count, options = {}) => waitFor((x) => x.responses.length >= count, options.timeoutMs ?? 5_000, options.requestMethods),
    closed: (timeoutMs = 5_000) => waitFor(() => false, timeoutMs),
    received: () => Buffer.concat(chunks),
    close: () => socket.destroy(),
  };
}

/**
 * A 'data' listener for a response read by hand: buffers up to the end of the first head
 * (CRLF CRLF), gives the head to `onHead`, then passes every byte after it to `onBody`.
 */
export function afterHead(onBody: (chunk: Buffer) => void, onHead: (head: Buffer) => void = () => {}): (chunk: Buffer) => void {
  let head: Buffer | null = Buffer.alloc(0);
  return (chunk) => {
    if (head !== null) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      onHead(head.subarray(0, end + 4));
      chunk = head.subarray(end + 4);
      head = null;
      if (chunk.length === 0) return;
    }
    onBody(chunk);
  };
}

/** One connection, one request, wait for `count` responses or close. */
export async function rawRequest(port: number, data: string | Buffer, count = 1): Promise<RawExchange> {
  const client = await connectRaw(port);
  client.send(data);
  const result = await client.responses(count);
  client.close();
  return result;
}
