/**
 * The error replies of DESIGN.md's table, end to end: status, one-line body, Proxy-Status (error
 * and, where the reason is ours, details), the error code in the access log, and that nothing
 * after a rejection reaches the origin.
 */
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { ParsedMessage } from '../../src/http/index.js';
import { startHarness, type ConfigTweak, type Harness } from '../helpers/harness.js';
import { freePort, startHeadOrigin, startRecordingOrigin } from '../helpers/origin.js';
import { connectRaw, rawRequest } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

describe('error replies (DESIGN.md table)', () => {
  function expectErrorReply(msg: ParsedMessage | undefined, status: number, proxyStatus: string): void {
    expect(msg?.status).toBe(status);
    expect(header(msg, 'content-type')).toMatch(/^text\/plain/);
    expect(header(msg, 'proxy-status')).toMatch(new RegExp(`^dfp; error=${proxyStatus}(;|$)`));
    const body = msg!.body.toString('latin1');
    expect(body.length).toBeGreaterThan(0);
    expect(body.replace(/\n$/, '')).not.toMatch(/[\r\n]/);
  }

  /** The Proxy-Status `details` parameter: the parser's reason, the name or the endpoint. */
  function detailsOf(msg: ParsedMessage | undefined): string | undefined {
    return /; details="([^"]*)"/.exec(header(msg, 'proxy-status') ?? '')?.[1];
  }

  /** The access log's records, once there are `count`, as [status, error code]. */
  async function loggedErrors(h: Harness, count: number): Promise<Array<[number, string | null]>> {
    await waitFor(() => h.log.records.length >= count);
    return h.log.records.map((r) => [r.status, r.error]);
  }

  /** One GET through a fresh proxy to an origin that answers it with `answer`; resolves once the proxy closes the client connection. */
  async function getUntilClosed(answer: (s: net.Socket) => void, tweak?: ConfigTweak) {
    const h = await startHarness(tweak);
    const origin = await startHeadOrigin((_h, s) => answer(s));
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    return { h, res: await client.closed() };
  }

  it('answers a malformed request with 400, closes, and forwards neither it nor what was pipelined after it', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const t = `http://127.0.0.1:${origin.port}`;
    const client = await connectRaw(h.port);
    client.send(`GET ${t}/ok HTTP/1.1\r\nHost: x\r\n\r\nGET ${t}/bad HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\nGET ${t}/after HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expect(res.responses[0]?.status).toBe(200);
    expectErrorReply(res.responses[1], 400, 'http_request_error');
    expect(detailsOf(res.responses[1])).toBe('SPACE_BEFORE_COLON');
    expect(res.responses.length).toBe(2);
    expect(res.closed).toBe(true);
    expect(origin.allRequests().map((r) => r.toString('latin1').split(' ')[1])).toEqual(['/ok']);
    expect(await loggedErrors(h, 2)).toEqual([[200, null], [400, 'REQUEST_MALFORMED']]);
  });

  it.each([
    ['Content-Length with Transfer-Encoding', 'POST {T} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'CL_TE_CONFLICT'],
    ['two different Content-Lengths', 'POST {T} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'CL_MISMATCH'],
    ['a space before the colon', 'GET {T} HTTP/1.1\r\nHost : x\r\n\r\n', 'SPACE_BEFORE_COLON'],
    ['a bare LF', 'GET {T} HTTP/1.1\r\nHost: x\nA: b\r\n\r\n', 'BARE_LF'],
    ['obs-fold', 'GET {T} HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n', 'OBS_FOLD'],
    ['a final coding other than chunked', 'POST {T} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', 'TE_NOT_CHUNKED'],
    ['two Host fields', 'GET {T} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 'DUPLICATE_HOST'],
    ['an invalid chunk size in the body', 'POST {T} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'INVALID_CHUNK_SIZE'],
  ])('rejects a request with %s: 400 with its reason in Proxy-Status details, nothing complete reaches the origin', async (_name, template, reason) => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(template.replace('{T}', `http://127.0.0.1:${origin.port}/`));
    const res = await client.closed();
    expectErrorReply(res.responses[0], 400, 'http_request_error');
    expect(detailsOf(res.responses[0])).toBe(reason);
    expect(origin.allRequests()).toEqual([]);
    expect(await loggedErrors(h, 1)).toEqual([[400, 'REQUEST_MALFORMED']]);
  });

  it('answers 431 to a request head larger than maxHeaderBytes and forwards nothing', async () => {
    const h = await startHarness((c) => (c.limits.maxHeaderBytes = 4096));
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 431, 'http_request_error');
    expect(detailsOf(res.responses[0])).toBe('HEAD_TOO_LARGE');
    expect(origin.allRequests()).toEqual([]);
    expect(await loggedErrors(h, 1)).toEqual([[431, 'REQUEST_HEAD_TOO_LARGE']]);
  });

  it('answers 414 to a request-line longer than the scanner allows and forwards nothing', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/${'u'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 414, 'http_request_error');
    expect(detailsOf(res.responses[0])).toBe('URI_TOO_LONG');
    expect(origin.allRequests()).toEqual([]);
    expect(await loggedErrors(h, 1)).toEqual([[414, 'REQUEST_URI_TOO_LONG']]);
  });

  // notes/bugs.md Q1, decided in 782784d: RFC 9112 §3.2 applies to the proxy as a server.
  it('answers 400 to an HTTP/1.1 absolute-form request without Host, but serves HTTP/1.0 without Host', async () => {
    const h = await startHarness();
    const origin = await startRecordingOrigin();
    const client = await connectRaw(h.port);
    client.send(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\nAccept: */*\r\n\r\n`);
    const res = await client.closed();
    expectErrorReply(res.responses[0], 400, 'http_request_error');
    expect(detailsOf(res.responses[0])).toBe('missing Host header');
    expect(origin.allRequests()).toEqual([]);
    expect(await loggedErrors(h, 1)).toEqual([[400, 'REQUEST_MALFORMED']]);
    const old = await rawRequest(h.port, `GET http://127.0.0.1:${origin.port}/old HTTP/1.0\r\n\r\n`);
    expect(old.responses[0]?.status).toBe(200);
    expect(origin.allRequests()[0]!.toString('latin1')).toBe(`GET /old HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nVia: 1.0 dfp\r\n\r\n`);
  });

  it('originates TLS for an https:// absolute target: a refused port is a 502 connection_refused like any other', async () => {
    const h = await startHarness();
    const port = await freePort();
    const res = await rawRequest(h.port, `GET https://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectErrorReply(res.responses[0], 502, 'connection_refused');
    expect(await loggedErrors(h, 1)).toEqual([[502, 'CONNECTION_REFUSED']]);
  });

  it('answers 502 http_protocol_error when the origin sends garbage', async () => {
    const { h, res } = await getUntilClosed((s) => s.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(await loggedErrors(h, 1)).toEqual([[502, 'UPSTREAM_PROTOCOL_ERROR']]);
  });

  it.each([
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['a bare LF in the head', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['a head larger than maxHeaderBytes', `HTTP/1.1 200 OK\r\nX-Big: ${'h'.repeat(10_000)}\r\nContent-Length: 0\r\n\r\n`],
  ])('answers 502 http_protocol_error to a response with %s', async (_name, response) => {
    const { h, res } = await getUntilClosed((s) => s.write(response), (c) => (c.limits.maxHeaderBytes = 8192));
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(res.responses.length).toBe(1);
    expect(await loggedErrors(h, 1)).toEqual([[502, 'UPSTREAM_PROTOCOL_ERROR']]);
  });

  it('answers 502 http_protocol_error to a 101 for a request that did not ask to upgrade', async () => {
    const { h, res } = await getUntilClosed((s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nraw-bytes'));
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(await loggedErrors(h, 1)).toEqual([[502, 'UPSTREAM_PROTOCOL_ERROR']]);
    expect(res.raw.toString('latin1')).not.toContain('raw-bytes');
  });

  // Regression for notes/bugs.md #8 (fixed in 782784d). The head and the invalid chunk size arrive in one write.
  const HEAD_WITH_BAD_BODY = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Bad: 1\r\n\r\nzz\r\nboom\r\n';

  it('answers 502 http_protocol_error when a response head arrives together with an invalid body', async () => {
    const { h, res } = await getUntilClosed((s) => s.write(HEAD_WITH_BAD_BODY));
    // Nothing of the response had left the proxy yet, so the client can still be told.
    expectErrorReply(res.responses[0], 502, 'http_protocol_error');
    expect(await loggedErrors(h, 1)).toEqual([[502, 'UPSTREAM_PROTOCOL_ERROR']]);
  });

  it('keeps no trace of an abandoned response head: the next request on another connection goes out clean', async () => {
    const { h, res } = await getUntilClosed((s) => s.write(HEAD_WITH_BAD_BODY));
    const good = await startRecordingOrigin();
    expect(res.raw.toString('latin1')).not.toContain('X-Bad');
    const next = await rawRequest(h.port, `GET http://127.0.0.1:${good.port}/next HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(next.responses[0]?.status).toBe(200);
    expect(next.raw.toString('latin1')).not.toContain('X-Bad');
    expect(good.allRequests()[0]!.toString('latin1')).toBe(`GET /next HTTP/1.1\r\nHost: 127.0.0.1:${good.port}\r\nVia: 1.1 dfp\r\n\r\n`);
  });

  it('answers 502 http_response_incomplete when the origin closes before the response head', async () => {
    const { h, res } = await getUntilClosed((s) => s.end('HTTP/1.1 200 O'));
    expectErrorReply(res.responses[0], 502, 'http_response_incomplete');
    expect(await loggedErrors(h, 1)).toEqual([[502, 'UPSTREAM_INCOMPLETE']]);
  });

  it('closes the client connection (no second response) when the origin dies in the middle of a body', async () => {
    const { h, res } = await getUntilClosed((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    expect(res.responses.length).toBe(0);
    expect(res.raw.toString('latin1').endsWith('\r\n\r\npartial')).toBe(true);
    await waitFor(() => h.log.records.length > 0);
    expect(h.log.records[0]).toMatchObject({ status: 200, error: 'UPSTREAM_INCOMPLETE' });
  });

  it('answers 502 dns_error with rcode SERVFAIL when the DNS server fails', async () => {
    const h = await startHarness();
    h.dns.set('servfail.test', { rcode: 'SERVFAIL' });
    const res = await rawRequest(h.port, 'GET http://servfail.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 502, 'dns_error');
    expect(header(res.responses[0], 'proxy-status')).toBe('dfp; error=dns_error; rcode="SERVFAIL"; details="servfail.test"');
    expect(await loggedErrors(h, 1)).toEqual([[502, 'DNS_FAILURE']]);
  });

  it('answers 504 dns_timeout when the DNS server never answers', async () => {
    const h = await startHarness((c) => (c.dns.queryTimeoutMs = 300));
    h.dns.set('silent.test', { silent: true });
    const res = await rawRequest(h.port, 'GET http://silent.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 504, 'dns_timeout');
    expect(detailsOf(res.responses[0])).toBe('silent.test');
    expect(await loggedErrors(h, 1)).toEqual([[504, 'DNS_TIMEOUT']]);
  });

  it('answers 503 dns_error at once when too many lookups are pending, without a query', async () => {
    const h = await startHarness((c) => {
      c.dns.queryTimeoutMs = 10_000; // the first lookup stays pending for the whole test
      c.dns.maxPendingLookups = 1;
      c.limits.drainTimeoutMs = 200; // the closing proxy need not wait for that lookup
    });
    h.dns.set('slow1.test', { silent: true });
    h.dns.set('slow2.test', { silent: true });
    const first = await connectRaw(h.port);
    first.send('GET http://slow1.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => h.dns.queries('slow1.test') > 0);
    const res = await rawRequest(h.port, 'GET http://slow2.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    expectErrorReply(res.responses[0], 503, 'dns_error');
    expect(detailsOf(res.responses[0])).toBe('slow2.test');
    // At once: while the first lookup is still pending, and without asking DNS.
    expect(first.received().length).toBe(0);
    expect(h.dns.queries('slow2.test')).toBe(0);
    expect(await loggedErrors(h, 1)).toEqual([[503, 'DNS_OVERLOADED']]);
    first.close();
  });

  it('answers 403 destination_ip_prohibited for a private destination when private destinations are not allowed', async () => {
    const h = await startHarness((c) => (c.access.allowPrivateDestinations = false));
    const origin = await startRecordingOrigin();
    h.dns.set('inside.test', { a: ['127.0.0.1'] });
    for (const target of [`127.0.0.1:${origin.port}`, `inside.test:${origin.port}`, `[::ffff:127.0.0.1]:${origin.port}`]) {
      const res = await rawRequest(h.port, `GET http://${target}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      expectErrorReply(res.responses[0], 403, 'destination_ip_prohibited');
    }
    const tunnel = await rawRequest(h.port, `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\n`);
    expectErrorReply(tunnel.responses[0], 403, 'destination_ip_prohibited');
    expect(origin.connections.length).toBe(0);
    expect(await loggedErrors(h, 4)).toEqual(Array.from({ length: 4 }, () => [403, 'DESTINATION_DENIED']));
  });

  it('sends an error reply to HEAD without a body, and closes', async () => {
    const h = await startHarness();
    h.dns.set('nx.test', { rcode: 'NXDOMAIN' });
    const client = await connectRaw(h.port);
    client.send('HEAD http://nx.test/ HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await client.closed();
    const raw = res.raw.toString('latin1');
    expect(raw.startsWith('HTTP/1.1 502 ')).toBe(true);
    expect(raw).toMatch(/\r\nContent-Length: [1-9]\d*\r\n/i);
    expect(raw).toMatch(/\r\nProxy-Status: dfp; error=dns_error; rcode="NXDOMAIN"; details="nx.test"\r\n/i);
    expect(raw.endsWith('\r\n\r\n')).toBe(true);
    expect(await loggedErrors(h, 1)).toEqual([[502, 'DNS_NXDOMAIN']]);
  });

  it('answers 502 connection_refused when nothing listens at the destination', async () => {
    const h = await startHarness();
    const port = await freePort();
    const res = await rawRequest(h.port, `GET http://127.0.0.1:${port}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectErrorReply(res.responses[0], 502, 'connection_refused');
    expect(detailsOf(res.responses[0])).toBe(`127.0.0.1:${port} ECONNREFUSED`);
    expect(await loggedErrors(h, 1)).toEqual([[502, 'CONNECTION_REFUSED']]);
  });
});
