import { describe, expect, it, onTestFinished } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  createAccessLog,
  FileAccessLog,
  formatAccessRecord,
  formatPrettyRecord,
  prettyBytes,
  prettyMs,
  StreamAccessLog,
  type AccessRecord,
} from '../../../src/observability/access-log.js';
import { NODE_FILE_OPS, type AccessLogFileOps } from '../../../src/observability/access-log-file.js';

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

const T0 = Date.UTC(2026, 11, 3, 16, 40, 0, 123);

describe('pretty access log line', () => {
  it('writes every field, in order, on one line', () => {
    const r: AccessRecord = {
      ...RECORD,
      user: 'alice',
      mode: 'connect',
      method: 'CONNECT',
      port: 443,
      bytesIn: 1234,
      bytesOut: 34_000,
      durationMs: 12.34,
      dnsMs: 0.413,
      connectMs: 1.2,
      error: 'DESTINATION_DENIED',
      rule: 'deny rule 2: *.example.net',
      wouldDeny: 'allow list',
    };
    expect(formatPrettyRecord(r, T0)).toBe(
      '2026-12-03T16:40:00.123Z 127.0.0.1 alice connect CONNECT example.com:443 -> 93.184.216.34 200 in=1.2kB out=34kB 12.3ms' +
        ' dns=0.41ms connect=1.20ms error=DESTINATION_DENIED rule="deny rule 2: *.example.net" would_deny="allow list"\n',
    );
  });

  it('writes a null user or address as -, and leaves out zero dns/connect times and unset error, rule, would_deny', () => {
    const r: AccessRecord = { ...RECORD, address: null, dnsMs: 0, connectMs: 0 };
    expect(formatPrettyRecord(r, T0)).toBe('2026-12-03T16:40:00.123Z 127.0.0.1 - forward GET example.com:80 -> - 200 in=0B out=1.2kB 1.23ms\n');
  });

  it('writes a connection refused before its head (no method, host or port) with dashes', () => {
    const r: AccessRecord = { ...RECORD, method: '', host: '', port: 0, address: null, status: 503, bytesOut: 120, durationMs: 0, connectMs: 0, error: 'CONNECTION_LIMIT' };
    expect(formatPrettyRecord(r, T0)).toBe('2026-12-03T16:40:00.123Z 127.0.0.1 - forward - - -> - 503 in=0B out=120B 0.00ms error=CONNECTION_LIMIT\n');
  });

  it('brackets an IPv6 destination before its port', () => {
    const line = formatPrettyRecord({ ...RECORD, client: '::1', host: '2001:db8::1', port: 443, address: '2001:db8::1' }, T0);
    expect(line).toContain(' ::1 - forward GET [2001:db8::1]:443 -> 2001:db8::1 200 ');
  });

  it('quotes a field that is empty, a lone dash, or has a space, and escapes quotes and backslashes', () => {
    const line = formatPrettyRecord({ ...RECORD, user: 'bob smith', method: '-', client: '', host: 'a"b\\c', rule: 'say "hi" \\o/' }, T0);
    expect(line).toContain(' "" "bob smith" forward "-" "a\\"b\\\\c":80 -> ');
    expect(line).toContain(' rule="say \\"hi\\" \\\\o/"\n');
  });

  it('escapes control characters, C1 controls, line separators and bidi controls, so a field never breaks or recolours the line', () => {
    const nasty = 'x\ny\r\tz\u0000\u001b[31m\u007f\u009b\u2028\u2029\u202e\u2066\ufeff';
    const escaped = '"x\\x0ay\\x0d\\x09z\\x00\\x1b[31m\\x7f\\x9b\\u2028\\u2029\\u202e\\u2066\\ufeff"';
    const line = formatPrettyRecord({ ...RECORD, user: nasty, method: nasty, host: nasty, address: nasty, error: nasty, rule: nasty, wouldDeny: nasty }, T0);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    for (let i = 0; i < line.length - 1; i++) {
      const c = line.charCodeAt(i);
      expect(c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c < 0xa0) && c !== 0x2028 && c !== 0x2029 && c !== 0x202e, `char ${i}`).toBe(true);
    }
    expect(line).toContain(` ${escaped} forward ${escaped} ${escaped}:80 -> ${escaped} 200 `);
    expect(line).toContain(` error=${escaped} rule=${escaped} would_deny=${escaped}\n`);
  });

  it('keeps printable text outside ASCII as it is', () => {
    const line = formatPrettyRecord({ ...RECORD, user: 'jürgen', host: '例え.テスト' }, T0);
    expect(line).toContain(' jürgen forward GET 例え.テスト:80 -> ');
  });

  it('writes sizes in decimal units with about two significant digits', () => {
    const cases: [number, string][] = [
      [0, '0B'], [999, '999B'], [1000, '1.0kB'], [1234, '1.2kB'], [9_949, '9.9kB'], [9_950, '10kB'], [34_000, '34kB'],
      [999_499, '999kB'], [999_500, '1.0MB'], [5_000_000, '5.0MB'], [2 ** 32 + 5, '4.3GB'], [123_456_789_012, '123GB'], [1e15, '1.0PB'], [5e18, '5000PB'],
    ];
    for (const [n, text] of cases) expect(prettyBytes(n), String(n)).toBe(text);
  });

  it('writes durations in ms with about three significant digits, seconds past one', () => {
    const cases: [number, string][] = [
      [0, '0.00ms'], [0.004, '0.00ms'], [0.413, '0.41ms'], [9.99, '9.99ms'], [9.996, '10.0ms'], [12.34, '12.3ms'],
      [999.9, '999.9ms'], [999.96, '1.00s'], [1234.5, '1.23s'], [3_600_000, '3600.00s'],
    ];
    for (const [ms, text] of cases) expect(prettyMs(ms), String(ms)).toBe(text);
  });

  it('is what a stream sink writes with format pretty', () => {
    const { chunks, out } = collector();
    const log = new StreamAccessLog(out, { format: 'pretty' });
    log.write(RECORD);
    log.write({ ...RECORD, host: 'two.example' });
    log.flush();
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.length).toBe(3);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 - forward GET example\.com:80 -> /);
    expect(lines[1]).toContain(' two.example:80 ');
  });
});

describe('stream sink: close and the memory cap', () => {
  it('close() resolves once the stream has taken the pending lines', async () => {
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        setTimeout(() => {
          chunks.push(chunk.toString());
          done();
        }, 5);
      },
    });
    const log = new StreamAccessLog(out);
    for (let i = 0; i < 10; i++) log.write({ ...RECORD, bytesOut: i });
    await log.close();
    expect(chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).bytes_out)).toEqual([...Array(10).keys()]);
    log.reopen(); // a no-op for a stream
  });

  it('drops (and counts) whole batches while the stream already holds more than the cap', () => {
    const out = new Writable({ write() {} }); // never completes: everything after the first chunk stays buffered
    const line = formatAccessRecord(RECORD, Date.now()).length;
    const log = new StreamAccessLog(out, { maxPendingChars: line * 10 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 4; i++) log.write(RECORD);
      log.flush();
    }
    // Rounds 1 and 2 fit (8 lines buffered); from round 3 on, 8 + 4 > 10: dropped.
    expect(out.writableLength).toBe(line * 8);
    expect(log.dropped).toBe(12);
  });
});

// ---- the file sink ---------------------------------------------------------------------------------

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dfp-access-log-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Complete JSON lines of a file: every line must parse; returns their `bytes_out` ids. */
function idsIn(file: string): number[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text === '') return [];
  expect(text.endsWith('\n'), `${file} ends with a newline`).toBe(true);
  return text.slice(0, -1).split('\n').map((l) => JSON.parse(l).bytes_out as number);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Real file operations, with the writes in flight counted. */
function countingOps(): AccessLogFileOps & { inFlight: number; writes: number } {
  const ops = {
    inFlight: 0,
    writes: 0,
    openSync: NODE_FILE_OPS.openSync,
    close: NODE_FILE_OPS.close,
    async write(fd: number, data: Buffer, offset: number, length: number): Promise<number> {
      ops.inFlight++;
      ops.writes++;
      try {
        return await NODE_FILE_OPS.write(fd, data, offset, length);
      } finally {
        ops.inFlight--;
      }
    },
  };
  return ops;
}

/**
 * Fake descriptors whose writes wait until released: a stalled disk, deterministic. `files` holds what each
 * descriptor received; `maxChunk` makes short writes.
 */
function stalledOps(options: { maxChunk?: number; failWith?: string } = {}) {
  const files = new Map<number, string>();
  const closed: number[] = [];
  const waiting: (() => void)[] = [];
  let nextFd = 100;
  let isStalled = true;
  const ops: AccessLogFileOps = {
    openSync(file) {
      if (file.endsWith('/missing/x.log')) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      files.set(nextFd, '');
      return nextFd++;
    },
    write(fd, data, offset, length) {
      return new Promise((resolve, reject) => {
        const go = () => {
          if (options.failWith !== undefined) return reject(Object.assign(new Error(options.failWith), { code: options.failWith }));
          const n = Math.min(length, options.maxChunk ?? length);
          files.set(fd, files.get(fd)! + data.subarray(offset, offset + n).toString('utf8'));
          resolve(n);
        };
        if (isStalled) waiting.push(go);
        else go();
      });
    },
    async close(fd) {
      closed.push(fd);
    },
  };
  const release = () => {
    isStalled = false;
    for (const go of waiting.splice(0)) go();
  };
  return { ops, files, closed, waiting, release };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('file access log', () => {
  it('appends many records to the file, whole lines in order; close() flushes and closes', async () => {
    const file = path.join(tempDir(), 'access.log');
    fs.writeFileSync(file, formatAccessRecord({ ...RECORD, bytesOut: -1 }, 0));
    const log = new FileAccessLog(file);
    for (let i = 0; i < 5000; i++) log.write({ ...RECORD, bytesOut: i });
    await log.close();
    expect(idsIn(file)).toEqual([-1, ...range(0, 5000)]);
    expect(log.dropped).toBe(0);
    log.write(RECORD); // after close: dropped, counted, the file untouched
    expect(log.dropped).toBe(1);
    log.reopen();
    await log.close();
    expect(idsIn(file).length).toBe(5001);
  });

  it('creates the file readable by owner and group only (0o640 less the umask)', async () => {
    const file = path.join(tempDir(), 'new.log');
    const log = new FileAccessLog(file);
    await log.close();
    const mode = fs.statSync(file).mode & 0o777;
    expect(mode & 0o037).toBe(0);
    expect(mode & 0o600).toBe(0o600);
  });

  it('throws at start when the file cannot be opened', () => {
    expect(() => new FileAccessLog(path.join(tempDir(), 'no-such-dir', 'access.log'))).toThrow(/ENOENT/);
  });

  it('writes a line by itself within the batching delay', async () => {
    const file = path.join(tempDir(), 'access.log');
    const log = new FileAccessLog(file);
    onTestFinished(() => log.close());
    log.write(RECORD);
    expect(fs.readFileSync(file, 'utf8')).toBe('');
    await new Promise((r) => setTimeout(r, 150));
    expect(idsIn(file)).toEqual([1234]);
  });

  it('writes the pretty format when asked', async () => {
    const file = path.join(tempDir(), 'access.log');
    const log = new FileAccessLog(file, { format: 'pretty' });
    log.write({ ...RECORD, user: 'alice' });
    await log.close();
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^\S+Z 127\.0\.0\.1 alice forward GET example\.com:80 -> 93\.184\.216\.34 200 in=0B out=1\.2kB 1\.23ms connect=0\.50ms\n$/);
  });

  it('logrotate mid-burst: 10,000 records, renamed and reopened at random points; every line lands once, in order, in the file of its side', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'access.log');
    const ops = countingOps();
    const log = new FileAccessLog(file, { ops });
    const random = prng(20261203);
    const boundaries: number[] = []; // index of the first record after each reopen
    let reopensDuringWrite = 0;
    for (let i = 0; i < 10_000; i++) {
      log.write({ ...RECORD, bytesOut: i, host: 'h'.repeat(Math.floor(random() * 400)) });
      const roll = random();
      if (roll < 0.004) {
        if (random() < 0.5) log.flush(); // often with a write just handed to the disk
        // logrotate `create`: rename, make the new file, then SIGUSR1.
        fs.renameSync(file, `${file}.${boundaries.length + 1}`);
        if (random() < 0.8) fs.writeFileSync(file, '', { mode: 0o640 });
        if (ops.inFlight > 0) reopensDuringWrite++;
        log.reopen();
        boundaries.push(i + 1);
      } else if (roll < 0.02) {
        await tick(); // let writes complete now and then
      }
    }
    await log.close();
    expect(boundaries.length).toBeGreaterThan(10);
    expect(reopensDuringWrite).toBeGreaterThan(0);
    expect(log.dropped).toBe(0);
    const files = [...boundaries.map((_, k) => `${file}.${k + 1}`), file];
    const starts = [0, ...boundaries];
    const ends = [...boundaries, 10_000];
    files.forEach((f, k) => expect(idsIn(f), f).toEqual(range(starts[k]!, ends[k]!)));
    expect(fs.readdirSync(dir).length).toBe(files.length);
  });

  it('a reopen during a write: the write in flight (and every line before the reopen) finishes in the old file, then the old descriptor is closed', async () => {
    const disk = stalledOps();
    const log = new FileAccessLog('/logs/access.log', { ops: disk.ops });
    for (let i = 0; i < 3; i++) log.write({ ...RECORD, bytesOut: i });
    log.flush(); // write of 0-2 in flight
    log.write({ ...RECORD, bytesOut: 3 }); // pending, still before the reopen
    await tick();
    expect(disk.waiting.length).toBe(1);
    log.reopen();
    for (let i = 4; i < 6; i++) log.write({ ...RECORD, bytesOut: i });
    expect(disk.closed).toEqual([]);
    disk.release();
    await log.close();
    const ids = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).bytes_out);
    expect(ids(disk.files.get(100)!)).toEqual([0, 1, 2, 3]);
    expect(ids(disk.files.get(101)!)).toEqual([4, 5]);
    expect(disk.closed).toEqual([100, 101]);
  });

  it('continues a short write on the same descriptor, so no line is split across files', async () => {
    const disk = stalledOps({ maxChunk: 7 });
    disk.release();
    const log = new FileAccessLog('/logs/access.log', { ops: disk.ops });
    for (let i = 0; i < 20; i++) {
      log.write({ ...RECORD, bytesOut: i });
      if (i % 6 === 5) log.reopen();
    }
    await log.close();
    const all = [...disk.files.values()];
    expect(all.length).toBe(4);
    all.forEach((text, k) => {
      expect(text.endsWith('\n')).toBe(true);
      expect(text.slice(0, -1).split('\n').map((l) => JSON.parse(l).bytes_out)).toEqual(range(k * 6, Math.min(k * 6 + 6, 20)));
    });
  });

  it('caps memory while the disk stalls: lines past the cap are dropped and counted, the rest written in order', async () => {
    const disk = stalledOps();
    const line = formatAccessRecord(RECORD, Date.now()).length; // every record below formats to the same length
    const log = new FileAccessLog('/logs/access.log', { ops: disk.ops, maxPendingChars: line * 100 });
    for (let i = 0; i < 1000; i++) {
      log.write({ ...RECORD, bytesOut: 1000 + i });
      if (i % 30 === 29) log.flush();
    }
    expect(log.dropped).toBe(900);
    disk.release();
    await tick();
    // Room again: later lines are taken.
    for (let i = 1000; i < 1010; i++) log.write({ ...RECORD, bytesOut: 1000 + i });
    await log.close();
    const ids = disk.files.get(100)!.slice(0, -1).split('\n').map((l) => JSON.parse(l).bytes_out);
    expect(ids).toEqual([...range(1000, 1100), ...range(2000, 2010)]);
    expect(log.dropped).toBe(900);
  });

  it('a failing write drops its lines (counted) and reports the error once until a write succeeds', async () => {
    const disk = stalledOps({ failWith: 'ENOSPC' });
    disk.release();
    const errors: string[] = [];
    const log = new FileAccessLog('/logs/access.log', { ops: disk.ops, onError: (e) => errors.push(e.message) });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) log.write(RECORD);
      log.flush();
      await tick();
    }
    await log.close();
    expect(log.dropped).toBe(15);
    expect(errors).toEqual(['ENOSPC']);
  });

  it('a reopen whose open fails keeps writing to the old file and reports why', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'access.log');
    const errors: string[] = [];
    const ops = { ...NODE_FILE_OPS, openSync: (p: string) => (p === file && opened++ > 0 ? NODE_FILE_OPS.openSync(path.join(dir, 'missing', 'x.log')) : NODE_FILE_OPS.openSync(p)) };
    let opened = 0;
    const log = new FileAccessLog(file, { ops, onError: (e) => errors.push((e as NodeJS.ErrnoException).code ?? '') });
    log.write({ ...RECORD, bytesOut: 0 });
    fs.renameSync(file, `${file}.1`);
    log.reopen();
    log.write({ ...RECORD, bytesOut: 1 });
    await log.close();
    expect(errors).toEqual(['ENOENT']);
    expect(idsIn(`${file}.1`)).toEqual([0, 1]);
  });
});

describe('createAccessLog', () => {
  it('makes a file sink for log.accessFile, in the format asked', async () => {
    const file = path.join(tempDir(), 'access.log');
    const log = createAccessLog({ format: 'json', file });
    expect(log).toBeInstanceOf(FileAccessLog);
    log.write(RECORD);
    await log.close();
    expect(idsIn(file)).toEqual([1234]);
  });

  it('makes a stdout sink when there is no file: reopen does nothing, close flushes', async () => {
    const log = createAccessLog({ format: 'pretty', file: null });
    expect(log).toBeInstanceOf(StreamAccessLog);
    log.reopen();
    await log.close();
    expect(log.dropped).toBe(0);
  });
});
