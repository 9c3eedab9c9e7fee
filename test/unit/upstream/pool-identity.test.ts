/**
 * The pool's TLS identity (src/upstream/pool.ts): a connection is only taken for the identity it was made
 * for, so one opened and verified for one name never serves another at the same address and port.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { UpstreamPool, type Poolable } from '../../../src/upstream/pool.js';
import type { Conn } from '../../../src/io/conn.js';

/** A stand-in with the few socket fields the pool reads (the pool does no I/O of its own). */
function conn(tlsIdentity: string): Poolable & { destroyed: boolean } {
  const socket = { destroyed: false, readableEnded: false, writable: true } as unknown as Conn;
  const c = { socket, address: { address: '192.0.2.1' }, port: 443, tlsIdentity, destroyed: false, destroy: () => (c.destroyed = true) };
  return c;
}

describe('UpstreamPool and TLS identity', () => {
  it('takes a connection only for the identity it was made for', () => {
    const pool = new UpstreamPool<ReturnType<typeof conn>>(8, 60_000);
    onTestFinished(() => pool.close());
    const forA = conn('a.example\nsystem');
    const plain = conn('');
    pool.release(forA);
    pool.release(plain);
    expect(pool.take('192.0.2.1', 443, 'b.example\nsystem')).toBeUndefined();
    expect(pool.take('192.0.2.1', 443)).toBe(plain);
    expect(pool.take('192.0.2.1', 443)).toBeUndefined(); // the TLS one is not plain
    expect(pool.take('192.0.2.1', 443, 'a.example\nsystem')).toBe(forA);
    expect(pool.size).toBe(0);
  });

  it('skips and destroys dead connections of the identity asked for, keeping the others', () => {
    const pool = new UpstreamPool<ReturnType<typeof conn>>(8, 60_000);
    onTestFinished(() => pool.close());
    const live = conn('x');
    const other = conn('y');
    const dead = conn('x');
    pool.release(live);
    pool.release(other);
    pool.release(dead); // the newest for 'x'; it dies while idle
    Object.assign(dead.socket, { destroyed: true, writable: false });
    expect(pool.size).toBe(3);
    expect(pool.take('192.0.2.1', 443, 'x')).toBe(live);
    expect(dead.destroyed).toBe(true);
    expect(pool.take('192.0.2.1', 443, 'y')).toBe(other);
    expect(pool.size).toBe(0);
  });
});
