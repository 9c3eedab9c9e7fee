/**
 * The same end-to-end suites again with every connection a plain net.Socket:
 * what dfp falls back to when the libuv-handle layer (src/io/conn.ts) is not
 * available or DFP_IO=net. Each suite below registers its tests in this file,
 * after the switch.
 */
import { expect, it } from 'vitest';
import { usingRawConns, useNetSockets } from '../../src/io/conn.js';

useNetSockets();

it('runs the suites below on net.Sockets', () => {
  expect(usingRawConns()).toBe(false);
});

await import('./tunnel.e2e.test.js');
await import('./limits.e2e.test.js');
await import('./http-messages.e2e.test.js');
await import('./pool.e2e.test.js');
await import('./churn.e2e.test.js');
await import('./connect-sni-origin.e2e.test.js');
