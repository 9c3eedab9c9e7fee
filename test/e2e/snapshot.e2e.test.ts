/**
 * The runtime snapshot (src/proxy/snapshot.ts): the config and what is derived from it are swapped whole by
 * replacing one reference; requests that start afterwards use the new one, an exchange in flight finishes on
 * the one it started with, and memoised decisions do not outlive their snapshot.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '../../src/proxy/snapshot.js';
import { startHarness } from '../helpers/harness.js';
import { startHeadOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';

describe('one runtime snapshot, swapped whole', () => {
  it('a decision memoised under one snapshot is not reused under the next (private destinations closed)', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const req = `GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`;
    expect((await rawRequest(h.port, req)).responses[0]?.status).toBe(200);
    const closed = structuredClone(h.config);
    closed.access.allowPrivateDestinations = false;
    h.proxy.context.snapshot = buildSnapshot(closed, 'dfp');
    const res = await rawRequest(h.port, req);
    expect(res.responses[0]?.status).toBe(403);
    expect(h.log.records[1]).toMatchObject({ error: 'DESTINATION_DENIED', rule: 'default: private destinations' });
  });

  it('an exchange in flight finishes on its snapshot; the next request on the same connection uses the new one', async () => {
    const h = await startHarness();
    let answer: (() => void) | null = null;
    const origin = await startHeadOrigin((_head, socket) => {
      answer = () => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/slow HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => answer !== null);
    // Routes now admit only *.allowed.test: the request already sent is not re-decided.
    const routed = structuredClone(h.config);
    routed.routes = [{ match: { hosts: ['*.allowed.test'], pathPrefix: '/', headers: {} }, backend: { type: 'DynamicForwardProxy', hostRewriteHeader: null, tls: null } }];
    h.proxy.context.snapshot = buildSnapshot(routed, 'dfp');
    answer!();
    expect((await client.responses(1)).responses[0]?.status).toBe(200);
    client.send(`GET http://127.0.0.1:${origin.port}/next HTTP/1.1\r\nHost: x\r\n\r\n`);
    const both = await client.responses(2);
    expect(both.responses[1]?.status).toBe(403);
    expect(h.log.records[1]).toMatchObject({ error: 'REQUEST_DENIED', rule: 'routes' });
  });
});
