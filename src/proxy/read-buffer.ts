/**
 * Upstream sockets read into a shared buffer (net.connect `onread`) instead
 * of a fresh Buffer per read, in 256 KiB steps instead of 64 KiB. A buffer
 * goes back to `spare` only when everything written from it completed
 * synchronously (the writer's writableLength is 0 afterwards); otherwise a
 * pending write keeps it and the next read gets a new one. libuv asks for a
 * buffer and delivers its read one socket at a time, so one spare is enough.
 *
 * Whoever reads from such a buffer must not keep references to it past the
 * callback: the HTTP scanner copies a partial head, and heads are written
 * through HeadBuilder (a copy).
 */
const READ_BUFFER_BYTES = 256 * 1024;
let spare: Buffer | null = null;

export function takeReadBuffer(): Buffer {
  const b = spare ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  spare = null;
  return b;
}

/** The buffer is free again: no write still refers to it. */
export function recycleReadBuffer(buf: Buffer): void {
  spare = buf;
}
