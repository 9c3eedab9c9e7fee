/**
 * The access log in a file (`log.accessFile`), reopened on SIGUSR1 for
 * logrotate (`create` + `postrotate kill -USR1`). `createAccessLog` in
 * access-log.ts makes it when `log.accessFile` is set.
 *
 * Why fs.write on a file descriptor and not an fs.WriteStream: a reopen must
 * cut the log at a line boundary with a known side for every line. Here the
 * sink owns one ordered queue of batches and one writer loop, so that is a
 * property of the queue, not of a stream's internal buffering:
 *   - write() appends a whole line to `pending`; flush() (50 ms timer or
 *     64 KiB) moves `pending` to the queue as one batch.
 *   - reopen() flushes `pending`, opens the path at once (openSync: one
 *     open() per rotation, so the lines after this call are bound to the file
 *     that exists now, even if the path is rotated again a moment later) and
 *     queues a switch to the new descriptor behind the batches already queued.
 *   - the loop writes batches in order, one write in flight at a time, each to
 *     its end (a short write is continued on the same descriptor), and only
 *     when it reaches a switch closes the old descriptor. A write in flight
 *     during reopen() therefore finishes in the old (renamed) file; nothing is
 *     written twice or split across the two files.
 * The file is opened with flags 'a' (O_APPEND) and mode 0o640 (less the
 * umask; an existing file keeps its mode). Every write is whole lines, so
 * several processes appending to one file (workers) do not mix lines.
 *
 * Memory is bounded: the text held (pending + queued + in flight) is capped at
 * maxPendingChars (8 Mi UTF-16 units: 8 MiB for ASCII lines). A line that
 * would pass the cap — the disk stalls — is dropped and counted in `dropped`.
 * A batch whose write fails (ENOSPC, EIO) is dropped and counted too, and the
 * error reported once on stderr until a write succeeds again. If the reopen's
 * open() fails, the log goes on in the old file (nothing is lost) and the
 * error is reported.
 */
import fs from 'node:fs';
import type { AccessLogSink, AccessRecord } from '../proxy/access-record.js';
import {
  countLines,
  FLUSH_BYTES,
  FLUSH_DELAY_MS,
  formatterFor,
  MAX_PENDING_CHARS,
  type AccessLogFormat,
  type RecordFormatter,
} from './access-log-format.js';

/** The file operations the sink uses; tests inject slow or failing ones. */
export interface AccessLogFileOps {
  /** Open for appending, creating with mode 0o640; throws like fs.openSync. */
  openSync(path: string): number;
  /** Write `length` bytes of `data` from `offset`; resolves with the bytes written. */
  write(fd: number, data: Buffer, offset: number, length: number): Promise<number>;
  close(fd: number): Promise<void>;
}

export const NODE_FILE_OPS: AccessLogFileOps = {
  openSync: (path) => fs.openSync(path, 'a', 0o640),
  write: (fd, data, offset, length) =>
    new Promise((resolve, reject) => {
      fs.write(fd, data, offset, length, null, (err, written) => (err ? reject(err) : resolve(written)));
    }),
  close: (fd) =>
    new Promise((resolve) => {
      fs.close(fd, () => resolve()); // a close error leaves nothing to do
    }),
};

export interface FileAccessLogOptions {
  format?: AccessLogFormat;
  /** Cap on the text held while the disk does not keep up (UTF-16 units); default 8 Mi. */
  maxPendingChars?: number;
  /** Where write and open failures go (default: one line on stderr per new error code). */
  onError?: (err: Error) => void;
  ops?: AccessLogFileOps;
}

/** A queued switch to the descriptor opened by reopen(). */
interface Reopen {
  readonly fd: number;
}

type Queued = string | Reopen;

/** Queued batches are joined into writes of up to this much (after a stall), not one write per 64 KiB batch. */
const MAX_WRITE_CHARS = 1024 * 1024;

export class FileAccessLog implements AccessLogSink {
  readonly path: string;
  private fd: number;
  private pending = '';
  private readonly queue: Queued[] = [];
  /** pending + queued + in flight, in UTF-16 units. */
  private heldChars = 0;
  private timer: NodeJS.Timeout | null = null;
  private isWriting = false;
  private isClosed = false;
  private closing: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  private droppedLines = 0;
  private lastErrorCode: string | null = null;
  private readonly format: RecordFormatter;
  private readonly maxPendingChars: number;
  private readonly onError: (err: Error) => void;
  private readonly ops: AccessLogFileOps;

  /** Opens the file now: a path that cannot be opened throws here, at start. */
  constructor(path: string, options: FileAccessLogOptions = {}) {
    this.path = path;
    this.format = formatterFor(options.format ?? 'json');
    this.maxPendingChars = options.maxPendingChars ?? MAX_PENDING_CHARS;
    this.onError = options.onError ?? ((err) => process.stderr.write(`dfp: access log ${path}: ${err.message}\n`));
    this.ops = options.ops ?? NODE_FILE_OPS;
    this.fd = this.ops.openSync(path);
  }

  /** Lines dropped: over the memory cap, failed writes, or written after close(). */
  get dropped(): number {
    return this.droppedLines;
  }

  write(record: AccessRecord): void {
    if (this.isClosed) {
      this.droppedLines++;
      return;
    }
    const line = this.format(record, Date.now());
    if (this.heldChars + line.length > this.maxPendingChars) {
      this.droppedLines++;
      return;
    }
    this.pending += line;
    this.heldChars += line.length;
    if (this.pending.length > FLUSH_BYTES) this.flush();
    else if (this.timer === null) this.timer = setTimeout(flushFileLog, FLUSH_DELAY_MS, this).unref();
  }

  /** Hand the pending lines to the writer (the write itself completes later; close() waits for it). */
  flush(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending === '') return;
    this.queue.push(this.pending);
    this.pending = '';
    this.startWriter();
  }

  /**
   * SIGUSR1: lines written before this call go to the file open now (renamed by logrotate), lines after
   * it to the file at `path` now. If `path` cannot be opened, the log stays in the old file.
   */
  reopen(): void {
    if (this.isClosed) return;
    let fd: number;
    try {
      fd = this.ops.openSync(this.path);
    } catch (err) {
      this.report(err as Error);
      return;
    }
    this.flush();
    this.queue.push({ fd });
    this.startWriter();
  }

  /** Flush everything, wait for it to be written, close the file. Later writes are dropped (counted). */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.flush();
    this.isClosed = true;
    this.closing = this.whenIdle().then(() => this.ops.close(this.fd));
    return this.closing;
  }

  private whenIdle(): Promise<void> {
    if (!this.isWriting) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private startWriter(): void {
    if (this.isWriting) return;
    this.isWriting = true;
    void this.runWriter();
  }

  /** The one writer: batches and switches in queue order, one write in flight. Never rejects. */
  private async runWriter(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (typeof head !== 'string') {
        this.queue.shift();
        const old = this.fd;
        this.fd = head.fd;
        await this.ops.close(old).catch((err: Error) => this.report(err));
        continue;
      }
      let text = this.queue.shift() as string;
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        if (typeof next !== 'string' || text.length + next.length > MAX_WRITE_CHARS) break;
        text += next;
        this.queue.shift();
      }
      await this.writeText(text);
      this.heldChars -= text.length;
    }
    this.isWriting = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async writeText(text: string): Promise<void> {
    const data = Buffer.from(text, 'utf8');
    let offset = 0;
    try {
      while (offset < data.length) {
        const written = await this.ops.write(this.fd, data, offset, data.length - offset);
        if (!(written > 0)) throw new Error(`write returned ${written}`);
        offset += written;
      }
      this.lastErrorCode = null;
    } catch (err) {
      // The lines not yet written are lost; a line cut by a short write is counted as dropped.
      this.droppedLines += countLines(data.subarray(offset).toString('latin1'));
      this.report(err as Error);
    }
  }

  /** Report an error once until a write succeeds again (a full disk would otherwise say so per batch). */
  private report(err: Error): void {
    const code = (err as NodeJS.ErrnoException).code ?? err.message;
    if (code === this.lastErrorCode) return;
    this.lastErrorCode = code;
    this.onError(err);
  }
}

function flushFileLog(log: FileAccessLog): void {
  log.flush();
}
