/**
 * bcrypt comparisons off the event loop. A bcrypt at cost 10 is ~60 ms of CPU, and bcryptjs' async
 * compare still runs it in one turn of the loop here (measured: bench/policy.ts), stalling every
 * connection of the process for that long. So comparisons run in one worker thread (bcryptjs'
 * compareSync there), one after the other: a burst of new credentials waits for its verification, the
 * data path does not. One thread, not a pool: the proxy's own loop keeps the other core.
 *
 * The thread starts on the first comparison and is unref'd (it never keeps the process alive). If it
 * dies, the comparisons waiting on it are answered false (refused, never accepted by accident) and the
 * next comparison starts a new thread. Where a thread cannot be made at all, bcryptjs runs in this
 * thread as before.
 */
import bcrypt from 'bcryptjs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The thread's code (CommonJS: an eval worker); bcryptjs is loaded from the path this module resolves. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptPath);
parentPort.on('message', (m) => {
  let ok = false;
  try { ok = bcrypt.compareSync(m.password, m.hash); } catch { ok = false; }
  parentPort.postMessage({ id: m.id, ok });
});
`;

type Pending = Map<number, (ok: boolean) => void>;

let worker: Worker | null = null;
let pending: Pending = new Map();
let nextId = 1;
let unavailable = false;

function start(): Worker | null {
  if (worker !== null) return worker;
  if (unavailable) return null;
  try {
    const bcryptPath = createRequire(import.meta.url).resolve('bcryptjs');
    const w = new Worker(THREAD_SOURCE, { eval: true, workerData: { bcryptPath } });
    const mine = pending;
    w.on('message', (m: { id: number; ok: boolean }) => {
      const done = mine.get(m.id);
      mine.delete(m.id);
      done?.(m.ok === true);
      if (mine.size === 0) w.unref();
    });
    const fail = (): void => {
      if (worker === w) {
        worker = null;
        pending = new Map();
      }
      for (const done of mine.values()) done(false);
      mine.clear();
    };
    w.on('error', fail);
    w.on('exit', fail);
    w.unref();
    worker = w;
    return w;
  } catch {
    unavailable = true;
    return null;
  }
}

/** bcrypt's verdict on `password` against `hash`, computed off the event loop. Never rejects. */
export function compareOffThread(password: string, hash: string): Promise<boolean> {
  const w = start();
  if (w === null) return bcrypt.compare(password, hash).catch(() => false);
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    w.ref(); // answers are awaited: keep the thread while some are
    w.postMessage({ id, password, hash });
  });
}

/** Stop the thread (tests; a process exits without it anyway). */
export async function stopBcryptThread(): Promise<void> {
  const w = worker;
  worker = null;
  if (w !== null) await w.terminate();
}
