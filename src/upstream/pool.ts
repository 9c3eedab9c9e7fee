/**
 * Keep-alive pool of idle upstream connections, keyed by (address, port, TLS
 * identity). Idle sockets are watched: any byte or close while idle kills
 * them. LIFO per key, so the warmest connection is reused first.
 */
import type net from 'node:net';

export interface Poolable {
  socket: net.Socket;
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
  hits = 0;
  misses = 0;

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
        socket.removeListener('data', onIdleData);
        socket.removeListener('close', onIdleClose);
        socket.removeListener('end', onIdleClose);
        this.hits++;
        return entry.conn;
      }
    }
    this.misses++;
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
      detachIdle(oldest.conn.socket);
      oldest.conn.destroy();
    }
    (socket as IdleSocket).dfpPool = this as UpstreamPool<Poolable>;
    (socket as IdleSocket).dfpConn = conn;
    socket.on('data', onIdleData);
    socket.on('close', onIdleClose);
    socket.on('end', onIdleClose);
    list.push({ conn, idleSince: Date.now() });
    this.idleCount++;
  }

  /** Remove a connection that died while idle. */
  evict(conn: T): void {
    const list = this.idle.get(conn.key);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.conn === conn) {
        list.splice(i, 1);
        this.idleCount--;
        if (list.length === 0) this.idle.delete(conn.key);
        break;
      }
    }
    detachIdle(conn.socket);
    conn.destroy();
  }

  /** Drop idle connections older than the idle timeout. */
  sweep(now: number): void {
    for (const [key, list] of this.idle) {
      let keep = 0;
      for (const entry of list) {
        if (now - entry.idleSince >= this.idleTimeoutMs) {
          this.idleCount--;
          detachIdle(entry.conn.socket);
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
    for (const list of this.idle.values()) {
      for (const entry of list) {
        detachIdle(entry.conn.socket);
        entry.conn.destroy();
      }
    }
    this.idle.clear();
    this.idleCount = 0;
  }
}

interface IdleSocket extends net.Socket {
  dfpPool?: UpstreamPool<Poolable>;
  dfpConn?: Poolable;
}

function sweepPool(pool: UpstreamPool<Poolable>): void {
  pool.sweep(Date.now());
}

function detachIdle(socket: net.Socket): void {
  socket.removeListener('data', onIdleData);
  socket.removeListener('close', onIdleClose);
  socket.removeListener('end', onIdleClose);
}

/** Bytes from an idle upstream are unsolicited: the connection cannot be reused. */
function onIdleData(this: IdleSocket): void {
  this.dfpPool?.evict(this.dfpConn!);
}

function onIdleClose(this: IdleSocket): void {
  this.dfpPool?.evict(this.dfpConn!);
}
