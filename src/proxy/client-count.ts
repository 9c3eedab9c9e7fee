/** Open connections per client address (limits.maxConnectionsPerClient), kept in ctx.perClient. */
import type { ProxyContext } from './context.js';

export function clientConnections(ctx: ProxyContext, address: string): number {
  return ctx.perClient.get(address) ?? 0;
}

/** A connection from `address` was admitted. */
export function countClient(ctx: ProxyContext, address: string): void {
  ctx.perClient.set(address, (ctx.perClient.get(address) ?? 0) + 1);
}

/** An admitted connection closed (called once per admitted connection); an address leaves the map at 0. */
export function releaseClient(ctx: ProxyContext, address: string): void {
  const n = (ctx.perClient.get(address) ?? 1) - 1;
  if (n <= 0) ctx.perClient.delete(address);
  else ctx.perClient.set(address, n);
}
