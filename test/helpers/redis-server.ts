/**
 * A real redis-server (the Debian package's /usr/bin/redis-server) on 127.0.0.1 and a free port, with no
 * persistence (`--save '' --appendonly no`), for tests of the shared rate-limit store. It can be
 * stopped and started again on the same port (a Redis outage and its end), and is stopped after the
 * test. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { onTestFinished } from 'vitest';
import { freePort } from './origin.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const START_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 5_000;

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly isRunning: boolean;
  /** Stop the server (SIGTERM, or SIGKILL for a crash) and wait until it has exited. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Start it again on the same port (empty: nothing was saved). */
  start(): Promise<void>;
  /** Freeze the process (SIGSTOP): connections stay open and nothing answers, like a stalled server. */
  pause(): void;
  /** Let a paused server run again (SIGCONT). */
  resume(): void;
}

export function hasRedisServer(): boolean {
  return existsSync(REDIS_SERVER);
}

/** Start redis-server on a free 127.0.0.1 port; stopped when the test finishes. */
export async function startRedisServer(): Promise<RedisServer> {
  if (!hasRedisServer()) throw new Error(`${REDIS_SERVER} is not installed (apt-get install redis-server)`);
  // freePort() can race with another process taking the port; try a few.
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const child = await spawnRedis(port);
      const server = new RunningRedis(port, child);
      onTestFinished(() => server.stop('SIGKILL'));
      return server;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

class RunningRedis implements RedisServer {
  readonly host = '127.0.0.1' as const;
  readonly url: string;
  private child: ChildProcess | null;

  constructor(
    readonly port: number,
    child: ChildProcess,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.child = child;
  }

  get isRunning(): boolean {
    return this.child !== null;
  }

  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    child.kill('SIGCONT'); // a paused server handles SIGTERM only once it runs again
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async start(): Promise<void> {
    if (this.child !== null) throw new Error('redis-server is already running');
    this.child = await spawnRedis(this.port);
  }
}

/** Spawn redis-server on `port`; resolve once it accepts connections, reject if it exits or takes too long. */
function spawnRedis(port: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice'];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise<ChildProcess>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port}: ${why}\n${output}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        child.stdout!.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null) => fail(`exited with ${code}`);
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', onExit);
    child.once('error', (err) => fail(err.message));
  });
}
