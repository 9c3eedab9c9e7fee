import { describe, expect, it } from 'vitest';
import { formatAccessRecord, type AccessRecord } from '../../../src/observability/access-log.js';

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
    });
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
