/**
 * Keep-alive pool of idle upstream connections, keyed by (address, port, TLS
 * identity). LIFO per key, so the warmest connection is reused first. The pool
 * attaches no listeners (that would cost two on/off pairs per request): a
 * pooled connection watches its own socket and calls `evict` when bytes or a
 * close arrive while it is idle.
 */
import type { Conn } from '../io/conn.js';

export interface Poolable {
  socket: Conn;
  /** Pool key, set when the connection is made. */
  key: string;
  /** Called when the pool drops the connection (idle timeout, peer closed, over capacity). */
  destroy(): void;
}

interface PoolEntry<T extends Poolable> {
  conn: T;
  idleSince: number;
}

export class UpstreamPool<T extends Poolable> {
  private readonly idle = new Map<string, PoolEntry<T>[]>();
  private readonly maxIdlePerHost: number;
  private readonly idleTimeoutMs: number;
  private readonly sweeper: NodeJS.Timeout;
  private idleCount = 0;
  /** Coarse clock for idle stamps, advanced by the sweeper. */
  private now = Date.now();

  constructor(maxIdlePerHost: number, idleTimeoutMs: number) {
    this.maxIdlePerHost = maxIdlePerHost;
    this.idleTimeoutMs = idleTimeoutMs;
    this.sweeper = setInterval(sweepPool, Math.max(250, Math.min(idleTimeoutMs / 4, 5_000)), this);
    this.sweeper.unref();
  }

  get size(): number {
    return this.idleCount;
  }

  /** An idle connection for the key, removed from the pool, or undefined. */
  take(key: string): T | undefined {
    const list = this.idle.get(key);
    if (list !== undefined) {
      while (list.length > 0) {
        const entry = list.pop()!;
        this.idleCount--;
        const socket = entry.conn.socket;
        if (socket.destroyed || socket.readableEnded || !socket.writable) {
          entry.conn.destroy();
          continue;
        }
        return entry.conn;
      }
    }
    return undefined;
  }

  /** Park a connection whose last exchange ended cleanly. */
  release(conn: T): void {
    const socket = conn.socket;
    if (this.maxIdlePerHost <= 0 || socket.destroyed || !socket.writable) {
      conn.destroy();
      return;
    }
    let list = this.idle.get(conn.key);
    if (list === undefined) {
      list = [];
      this.idle.set(conn.key, list);
    }
    if (list.length >= this.maxIdlePerHost) {
      const oldest = list.shift()!;
      this.idleCount--;
      oldest.conn.destroy();
    }
    list.push({ conn, idleSince: this.now });
    this.idleCount++;
  }

  /** Remove a connection that died or spoke while idle, and destroy it. */
  evict(conn: T): void {
    const list = this.idle.get(conn.key);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        if (list[i]!.conn === conn) {
          list.splice(i, 1);
          this.idleCount--;
          if (list.length === 0) this.idle.delete(conn.key);
          break;
        }
      }
    }
    conn.destroy();
  }

  /** Drop idle connections older than the idle timeout. */
  sweep(now: number): void {
    this.now = now;
    for (const [key, list] of this.idle) {
      let keep = 0;
      for (const entry of list) {
        if (now - entry.idleSince >= this.idleTimeoutMs) {
          this.idleCount--;
          entry.conn.destroy();
        } else {
          list[keep++] = entry;
        }
      }
      list.length = keep;
      if (keep === 0) this.idle.delete(key);
    }
  }

  /** Close every idle connection (shutdown). */
  close(): void {
    clearInterval(this.sweeper);
    for (const list of this.idle.values()) for (const entry of list) entry.conn.destroy();
    this.idle.clear();
    this.idleCount = 0;
  }
}

function sweepPool(pool: UpstreamPool<Poolable>): void {
  pool.sweep(Date.now());
}
