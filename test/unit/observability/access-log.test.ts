import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { formatAccessRecord, StreamAccessLog, type AccessRecord } from '../../../src/observability/access-log.js';

const RECORD: AccessRecord = {
  client: '127.0.0.1',
  user: null,
  mode: 'forward',
  method: 'GET',
  host: 'example.com',
  port: 80,
  address: '93.184.216.34',
  status: 200,
  bytesIn: 0,
  bytesOut: 1234,
  durationMs: 1.23456,
  dnsMs: 0,
  connectMs: 0.5,
  error: null,
  rule: null,
  wouldDeny: null,
};

describe('access log line', () => {
  it('is one JSON object per line with the DESIGN.md fields', () => {
    const line = formatAccessRecord(RECORD, Date.UTC(2026, 10, 23, 12, 0, 0, 5));
    expect(line.endsWith('}\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(JSON.parse(line)).toEqual({
      time: '2026-11-23T12:00:00.005Z',
      client: '127.0.0.1',
      user: null,
      mode: 'forward',
      method: 'GET',
      host: 'example.com',
      port: 80,
      address: '93.184.216.34',
      status: 200,
      bytes_in: 0,
      bytes_out: 1234,
      duration_ms: 1.235,
      dns_ms: 0,
      connect_ms: 0.5,
      error: null,
      rule: null,
    });
  });

  it('names the policy rule that decided a denial', () => {
    const line = formatAccessRecord({ ...RECORD, status: 403, error: 'REQUEST_DENIED', rule: 'access.connectPorts' }, 0);
    expect(JSON.parse(line)).toMatchObject({ status: 403, error: 'REQUEST_DENIED', rule: 'access.connectPorts' });
  });

  it('escapes quotes, backslashes, control and non-ASCII characters so the line stays valid JSON', () => {
    const nasty = 'a"b\\c\nd\u0001é';
    const line = formatAccessRecord({ ...RECORD, method: nasty, host: nasty, error: 'REQUEST_MALFORMED' }, 0);
    expect(line.split('\n').length).toBe(2);
    const parsed = JSON.parse(line);
    expect(parsed.method).toBe(nasty);
    expect(parsed.host).toBe(nasty);
    expect(parsed.error).toBe('REQUEST_MALFORMED');
  });
});

describe('access log number and string encoding', () => {
  it('writes durations exactly as toFixed(3) would, for the values a proxy sees', () => {
    const values = [0, 0.0004, 0.0006, 0.001, 0.5, 0.999, 0.9996, 1, 1.23456, 9.9999, 10, 99.5, 1234.5678, 65_432.1, 3_600_000.25];
    for (const v of values) {
      const line = formatAccessRecord({ ...RECORD, durationMs: v, dnsMs: v, connectMs: v }, 0);
      const text = /"duration_ms":([0-9.]+)/.exec(line)![1];
      expect(text, String(v)).toBe(v.toFixed(3));
      expect(/"dns_ms":([0-9.]+)/.exec(line)![1]).toBe(v.toFixed(3));
    }
  });

  it('writes integers of every width, up to byte counts past 4 GiB', () => {
    for (const n of [0, 7, 10, 99, 100, 65_535, 2 ** 31, 2 ** 32 + 5, 123_456_789_012]) {
      const parsed = JSON.parse(formatAccessRecord({ ...RECORD, bytesIn: n, bytesOut: n, port: n }, 0));
      expect(parsed.bytes_in).toBe(n);
      expect(parsed.bytes_out).toBe(n);
    }
  });

  it('keeps long fields with quotes, backslashes and non-ASCII characters intact', () => {
    const long = 'x'.repeat(5000) + '"\u00e9\u2603' + '\\'.repeat(300);
    const parsed = JSON.parse(formatAccessRecord({ ...RECORD, host: long, error: long }, 0));
    expect(parsed.host).toBe(long);
    expect(parsed.error).toBe(long);
  });
});

/** A stream that keeps every chunk written to it. */
function collector(): { chunks: Buffer[]; out: Writable } {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { chunks, out };
}

describe('batched access log stream', () => {
  it('writes whole lines in order, in a few batched writes', async () => {
    const { chunks, out } = collector();
    const log = new StreamAccessLog(out);
    for (let i = 0; i < 2000; i++) log.write({ ...RECORD, bytesOut: i });
    log.flush();
    log.write({ ...RECORD, bytesOut: 2000 });
    log.flush();
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.length).toBeLessThan(20);
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).bytes_out)).toEqual(Array.from({ length: 2001 }, (_, i) => i));
  });

  it('keeps text outside ASCII intact and in order, however long a line is', () => {
    const { chunks, out } = collector();
    const log = new StreamAccessLog(out);
    const hosts = ['bücher.example', '例え.テスト', 'x'.repeat(30_000), 'ü'.repeat(20_000), 'plain.example'];
    for (let round = 0; round < 4; round++) for (const host of hosts) log.write({ ...RECORD, host });
    log.flush();
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).host)).toEqual([...hosts, ...hosts, ...hosts, ...hosts]);
  });

  it('flushes by itself within the batching delay', async () => {
    const { chunks, out } = collector();
    const log = new StreamAccessLog(out);
    log.write(RECORD);
    expect(chunks.length).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(chunks.length).toBe(1);
    expect(JSON.parse(chunks[0]!.toString()).host).toBe('example.com');
  });
});
