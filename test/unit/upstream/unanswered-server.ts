/**
 * A loopback address:port whose connects go unanswered, for Happy Eyeballs
 * and connect-timeout tests without leaving loopback or mocking sockets.
 *
 * A worker thread listens with backlog 1 and then blocks in Atomics.wait, so
 * it never accept()s. Linux completes handshakes into the accept queue until
 * it is full, then drops further SYNs: the client's connect just hangs, as
 * with a filtered address. We fill the queue with our own connections first.
 */
import net from 'node:net';
import { Worker } from 'node:worker_threads';

export interface UnansweredServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const flag = workerData.flag;
const server = net.createServer();
server.on('error', (err) => parentPort.postMessage({ error: err.code || String(err) }));
server.listen({ host: workerData.host, port: workerData.port, backlog: 1 }, () => {
  parentPort.postMessage({ port: server.address().port });
  setImmediate(() => {
    while (Atomics.load(flag, 0) === 0) Atomics.wait(flag, 0, 0, 50);
    server.close();
  });
});
`;

/**
 * Whether a connect to host:port completes within `ms`. When the timer fires, one poll of the event
 * loop is let through before answering (setImmediate runs after it): a handshake the kernel completed
 * while this process was too busy to look is still seen, so a loaded machine does not make a queue
 * that is not full look full.
 */
function connectsWithin(host: string, port: number, ms: number, sockets: net.Socket[]): Promise<boolean> {
  const socket = net.connect({ host, port });
  sockets.push(socket);
  socket.on('error', () => {});
  return new Promise((resolve) => {
    let connected = false;
    const timer = setTimeout(() => setImmediate(() => resolve(connected)), ms);
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Listen on host:port (0 = any) without ever accepting, and fill the accept queue. */
export async function startUnansweredServer(host: string, port = 0): Promise<UnansweredServer> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { flag, host, port } });
  const message = await new Promise<{ port?: number; error?: string }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  const close = async (): Promise<void> => {
    for (const s of fillers) s.destroy();
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await worker.terminate();
  };
  if (message.port === undefined) {
    await close();
    throw Object.assign(new Error(`unanswered server: ${message.error}`), { code: message.error });
  }
  for (let k = 0; k < 16; k++) {
    if (!(await connectsWithin(host, message.port, 150, fillers))) return { host, port: message.port, close };
  }
  await close();
  throw new Error('unanswered server: the accept queue never filled');
}
