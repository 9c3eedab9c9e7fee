/**
 * Access log sinks: one line per request or tunnel, in the format of
 * access-log-format.ts (json or pretty), written in batches: at most every
 * 50 ms or 64 KiB, and on shutdown. Here: stdout (StreamAccessLog), memory
 * (tests) and `createAccessLog`, the factory the CLI calls; the file sink,
 * reopened on SIGUSR1, is in access-log-file.ts.
 */
import type { AccessLogSink, AccessRecord } from '../proxy/access-record.js';
import { FileAccessLog } from './access-log-file.js';
import {
  countLines,
  FLUSH_BYTES,
  FLUSH_DELAY_MS,
  formatterFor,
  MAX_PENDING_CHARS,
  type AccessLogFormat,
  type RecordFormatter,
} from './access-log-format.js';

// The proxy owns the record and the sink's interface; re-exported for older imports.
export type { AccessLogSink, AccessRecord } from '../proxy/access-record.js';
export {
  fixed3,
  formatAccessRecord,
  formatPrettyRecord,
  jsonEscape,
  prettyBytes,
  prettyField,
  prettyMs,
  type AccessLogFormat,
} from './access-log-format.js';
export { FileAccessLog, type FileAccessLogOptions } from './access-log-file.js';

export interface StreamAccessLogOptions {
  format?: AccessLogFormat;
  maxPendingChars?: number;
}

/**
 * Batched writer to a stream (stdout by default). When the stream's own buffer
 * holds more than maxPendingChars (stdout piped to a reader that stalls), a
 * batch is dropped and its lines counted in `dropped`, instead of growing
 * without bound.
 */
export class StreamAccessLog implements AccessLogSink {
  private pending = '';
  private scheduled = false;
  private droppedLines = 0;
  private readonly out: NodeJS.WritableStream;
  private readonly format: RecordFormatter;
  private readonly maxPendingChars: number;

  constructor(out: NodeJS.WritableStream = process.stdout, options: StreamAccessLogOptions = {}) {
    this.out = out;
    this.format = formatterFor(options.format ?? 'json');
    this.maxPendingChars = options.maxPendingChars ?? MAX_PENDING_CHARS;
  }

  /** Lines dropped because the stream did not keep up. */
  get dropped(): number {
    return this.droppedLines;
  }

  write(record: AccessRecord): void {
    this.pending += this.format(record, Date.now());
    if (this.pending.length > FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(flushLog, FLUSH_DELAY_MS, this).unref();
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    const buffered = (this.out as { writableLength?: number }).writableLength;
    if (buffered !== undefined && buffered + text.length > this.maxPendingChars) {
      this.droppedLines += countLines(text);
      return;
    }
    this.out.write(text);
  }

  /** Nothing to reopen: stdout is not rotated. */
  reopen(): void {}

  /** Flush, and resolve once the stream has taken everything written so far (the stream stays open). */
  close(): Promise<void> {
    this.flush();
    return new Promise((resolve) => {
      this.out.write('', () => resolve());
    });
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

export type ClosableAccessLog = AccessLogSink & {
  /** SIGUSR1: reopen the file (stdout: nothing to do). */
  reopen(): void;
  /** Flush and, for a file, close it: the clean-shutdown path. */
  close(): Promise<void>;
  /** Lines dropped because the output did not keep up. */
  readonly dropped: number;
};

/** The access log the CLI runs: `log.accessFile`, else stdout, in `--log-format`. Throws if the file cannot be opened. */
export function createAccessLog(opts: { format: AccessLogFormat; file: string | null }): ClosableAccessLog {
  if (opts.file === null) return new StreamAccessLog(process.stdout, { format: opts.format });
  return new FileAccessLog(opts.file, { format: opts.format });
}
