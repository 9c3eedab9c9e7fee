/**
 * The destination guard end to end, with the default policy (private
 * destinations not allowed): every spelling of a loopback, private or
 * metadata address in an absolute-form target or a CONNECT target is refused
 * before anything is dialled — 400 when host normalisation refuses the
 * spelling, 403 destination_ip_prohibited when it is read as an address the
 * policy denies — and the access log's `address` (what was dialled) is null.
 *
 * Every case here is one the guard refuses: no test dials anything but the
 * proxy on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import type { ParsedMessage } from '../../src/http/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { connectRaw } from '../helpers/raw-client.js';
import { header, waitFor } from '../helpers/wait.js';

/** The harness allows private destinations for its loopback origins; these tests run the default policy. */
const defaultPolicy = (c: Harness['config']) => {
  c.access.allowPrivateDestinations = false;
};

async function sendUntilClosed(h: Harness, request: string) {
  const client = await connectRaw(h.port);
  client.send(request);
  return client.closed();
}

async function onlyLogRecord(h: Harness) {
  await waitFor(() => h.log.records.length > 0);
  expect(h.log.records.length).toBe(1);
  return h.log.records[0]!;
}

function expectReply(msg: ParsedMessage | undefined, status: number, proxyStatus: string): void {
  expect(msg?.status).toBe(status);
  expect(header(msg, 'proxy-status')).toMatch(new RegExp(`^dfp; error=${proxyStatus}(;|$)`));
}

/** [spelling as it appears in the authority, the details the 403 names]. */
const DENIED: Array<[string, string]> = [
  ['127.0.0.1.', '127.0.0.1 is loopback'],
  ['[::1]', '::1 is loopback'],
  ['[::ffff:127.0.0.1]', '::ffff:127.0.0.1 is loopback'],
  ['[::ffff:7f00:1]', '::ffff:127.0.0.1 is loopback'],
  ['[64:ff9b::a00:1]', '64:ff9b::a00:1 is private'],
  ['[64:ff9b::7f00:1]', '64:ff9b::7f00:1 is loopback'],
  ['[2002:7f00:1::]', '2002:7f00:1:: is loopback'],
  ['[2002:a9fe:a9fe::]', '2002:a9fe:a9fe:: is metadata'],
  ['169.254.169.254.', '169.254.169.254 is metadata'],
  ['0.0.0.0', '0.0.0.0 is unspecified'],
  ['[::]', ':: is unspecified'],
];

const AMBIGUOUS: string[] = ['2130706433', '0177.0.0.1', '0x7f.0.0.1', '0x7f000001', '127.1', '10.1', '0xa9fea9fe', '192.168.257'];
const REFUSED: string[] = [...AMBIGUOUS, '[fe80::1%25eth0]'];

describe('with the default policy, a private address in any spelling is refused before dialling', () => {
  it.each(DENIED)('GET http://%s/ answers 403 destination_ip_prohibited (%s), dials nothing', async (spelling, details) => {
    const h = await startHarness(defaultPolicy);
    const res = await sendUntilClosed(h, `GET http://${spelling}/ HTTP/1.1\r\nHost: ${spelling}\r\n\r\n`);
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toContain(`details="${details} (default: `);
    expect(await onlyLogRecord(h)).toMatchObject({ status: 403, error: 'DESTINATION_DENIED', address: null });
    expect(h.dns.totalQueries()).toBe(0);
  });

  it.each(DENIED)('CONNECT %s:443 answers 403 destination_ip_prohibited (%s), dials nothing', async (spelling, details) => {
    const h = await startHarness(defaultPolicy);
    const res = await sendUntilClosed(h, `CONNECT ${spelling}:443 HTTP/1.1\r\nHost: ${spelling}:443\r\n\r\n`);
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toContain(`details="${details} (default: `);
    expect(await onlyLogRecord(h)).toMatchObject({ mode: 'connect', status: 403, error: 'DESTINATION_DENIED', address: null });
    expect(h.dns.totalQueries()).toBe(0);
  });

  it.each(REFUSED)('GET http://%s/ answers 400 http_request_error (ambiguous or zoned), asks no DNS, dials nothing', async (spelling) => {
    const h = await startHarness(defaultPolicy);
    const res = await sendUntilClosed(h, `GET http://${spelling}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(await onlyLogRecord(h)).toMatchObject({ status: 400, error: 'REQUEST_MALFORMED', address: null });
    expect(h.dns.totalQueries()).toBe(0);
  });

  it.each(AMBIGUOUS)('CONNECT %s:443 answers 400 http_request_error (ambiguous or zoned), asks no DNS, dials nothing', async (spelling) => {
    const h = await startHarness(defaultPolicy);
    const res = await sendUntilClosed(h, `CONNECT ${spelling}:443 HTTP/1.1\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(await onlyLogRecord(h)).toMatchObject({ mode: 'connect', status: 400, error: 'REQUEST_MALFORMED', address: null });
    expect(h.dns.totalQueries()).toBe(0);
  });

  it.each(['[fe80::1%25eth0]', '[fe80::1%eth0]'])('CONNECT %s:443 (a zone id) is refused by the request parser as INVALID_TARGET, dials nothing', async (spelling) => {
    const h = await startHarness(defaultPolicy);
    const res = await sendUntilClosed(h, `CONNECT ${spelling}:443 HTTP/1.1\r\n\r\n`);
    expectReply(res.responses[0], 400, 'http_request_error');
    expect(header(res.responses[0], 'proxy-status')).toContain('details="INVALID_TARGET"');
    // Refused before the method is dispatched: the log line keeps the default mode, not 'connect'.
    expect(await onlyLogRecord(h)).toMatchObject({ mode: 'forward', host: '', status: 400, error: 'REQUEST_MALFORMED', address: null });
    expect(h.dns.totalQueries()).toBe(0);
  });
});

describe('a name whose DNS answer mixes several non-public addresses', () => {
  it('GET: 403 destination_ip_prohibited naming the first refused address, after asking DNS, dials nothing', async () => {
    const h = await startHarness(defaultPolicy);
    h.dns.set('mixed.test', { a: ['127.0.0.1', '10.0.0.1'], aaaa: ['fd00::1', '::ffff:c0a8:101'] });
    const res = await sendUntilClosed(h, 'GET http://mixed.test/ HTTP/1.1\r\nHost: mixed.test\r\n\r\n');
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toMatch(/details="(127\.0\.0\.1 is loopback|fd00::1 is ula) \(default: private destinations\)"/);
    expect(await onlyLogRecord(h)).toMatchObject({ host: 'mixed.test', status: 403, error: 'DESTINATION_DENIED', rule: 'default: private destinations', address: null });
    expect(h.dns.queries('mixed.test')).toBeGreaterThan(0);
  });

  it('CONNECT: a metadata address among them names the denial, wherever it comes', async () => {
    const h = await startHarness(defaultPolicy);
    h.dns.set('meta-mixed.test', { a: ['10.0.0.1', '127.0.0.1', '169.254.169.254'], aaaa: ['fd00::1'] });
    const res = await sendUntilClosed(h, 'CONNECT meta-mixed.test:443 HTTP/1.1\r\nHost: meta-mixed.test:443\r\n\r\n');
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toContain('details="169.254.169.254 is metadata (default: cloud metadata)"');
    expect(await onlyLogRecord(h)).toMatchObject({ mode: 'connect', host: 'meta-mixed.test', status: 403, error: 'DESTINATION_DENIED', rule: 'default: cloud metadata', address: null });
    expect(h.dns.queries('meta-mixed.test')).toBeGreaterThan(0);
  });

  it('a trailing-dot name is the same name: asked of DNS once normalised, and denied', async () => {
    const h = await startHarness(defaultPolicy);
    h.dns.set('inside.test', { a: ['192.168.1.1', '100.64.0.1'] });
    const res = await sendUntilClosed(h, 'GET http://inside.test./ HTTP/1.1\r\nHost: inside.test.\r\n\r\n');
    expectReply(res.responses[0], 403, 'destination_ip_prohibited');
    expect(header(res.responses[0], 'proxy-status')).toContain('details="192.168.1.1 is private (default: private destinations)"');
    expect(await onlyLogRecord(h)).toMatchObject({ status: 403, error: 'DESTINATION_DENIED', address: null });
    expect(h.dns.queries('inside.test')).toBeGreaterThan(0);
  });
});
