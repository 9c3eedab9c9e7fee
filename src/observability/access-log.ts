/**
 * Access log: one JSON line per request or tunnel. Lines are built by hand
 * (no JSON.stringify per request) and written in batches: at most every 50 ms
 * or 64 KiB, and on shutdown.
 */
export interface AccessRecord {
  client: string;
  user: string | null;
  mode: 'forward' | 'connect' | 'gateway' | 'sni';
  method: string;
  host: string;
  port: number;
  address: string | null;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  dnsMs: number;
  connectMs: number;
  error: string | null;
}

export interface AccessLogSink {
  write(record: AccessRecord): void;
  flush(): void;
}

/** Escape for a JSON string body; the fast path returns the input untouched. */
export function jsonEscape(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(text).slice(1, -1);
  }
  return text;
}

function quoted(text: string | null): string {
  return text === null ? 'null' : '"' + jsonEscape(text) + '"';
}

let lastStampMs = -1;
let lastStamp = '';

/** ISO time, made once per millisecond. */
function isoTime(now: number): string {
  if (now !== lastStampMs) {
    lastStampMs = now;
    lastStamp = new Date(now).toISOString();
  }
  return lastStamp;
}

/**
 * A non-negative number with three decimals, as toFixed(3) writes it for the
 * values a proxy logs (four times cheaper than toFixed on this path).
 */
export function fixed3(x: number): string {
  const m = x >= 0 && x < 1e15 ? Math.round(x * 1000) : 0;
  const whole = Math.floor(m / 1000);
  const frac = m - whole * 1000;
  return whole + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

export function formatAccessRecord(r: AccessRecord, now: number): string {
  return (
    '{"time":"' + isoTime(now) +
    '","client":' + quoted(r.client) +
    ',"user":' + quoted(r.user) +
    ',"mode":"' + r.mode +
    '","method":' + quoted(r.method) +
    ',"host":' + quoted(r.host) +
    ',"port":' + r.port +
    ',"address":' + quoted(r.address) +
    ',"status":' + r.status +
    ',"bytes_in":' + r.bytesIn +
    ',"bytes_out":' + r.bytesOut +
    ',"duration_ms":' + fixed3(r.durationMs) +
    ',"dns_ms":' + fixed3(r.dnsMs) +
    ',"connect_ms":' + fixed3(r.connectMs) +
    ',"error":' + quoted(r.error) + '}\n'
  );
}

/** Lines wait at most this long, so a busy proxy makes a few writes a second, not one per loop turn. */
const FLUSH_DELAY_MS = 50;
const BATCH_BYTES = 64 * 1024;
/** UTF-8 bytes per UTF-16 unit at most (a lone surrogate or a character of the BMP above U+07FF). */
const MAX_UTF8_PER_UNIT = 3;

/**
 * Batched writer to a stream (stdout by default, or a file stream). Each line is
 * encoded into the batch Buffer as soon as it is made: the line's string pieces die
 * young, instead of a rope of a thousand lines surviving the young-generation
 * collections of a 50 ms batch and being flattened and encoded again at the write.
 */
export class StreamAccessLog implements AccessLogSink {
  private batch: Buffer = Buffer.allocUnsafe(BATCH_BYTES);
  private used = 0;
  private scheduled = false;
  private readonly out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream = process.stdout) {
    this.out = out;
  }

  write(record: AccessRecord): void {
    const line = formatAccessRecord(record, Date.now());
    const worst = line.length * MAX_UTF8_PER_UNIT;
    if (this.used + worst > BATCH_BYTES) {
      this.flush();
      if (worst > BATCH_BYTES) {
        this.out.write(line);
        return;
      }
    }
    this.used += this.batch.write(line, this.used);
    if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(flushLog, FLUSH_DELAY_MS, this).unref();
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.used === 0) return;
    // The stream may keep the chunk until it is written: the next lines go to a new batch.
    const chunk = this.batch.subarray(0, this.used);
    this.batch = Buffer.allocUnsafe(BATCH_BYTES);
    this.used = 0;
    this.out.write(chunk);
  }
}

function flushLog(log: StreamAccessLog): void {
  log.flush();
}

/** Records kept in memory (tests). */
export class MemoryAccessLog implements AccessLogSink {
  readonly records: AccessRecord[] = [];
  write(record: AccessRecord): void {
    this.records.push({ ...record });
  }
  flush(): void {}
}
