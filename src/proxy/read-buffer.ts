/**
 * Upstream sockets read into one shared buffer (net.connect `onread`) instead
 * of a fresh Buffer per read, in 256 KiB steps instead of 64 KiB. libuv asks
 * for a buffer and delivers the read one socket at a time, so one buffer
 * serves every socket, as long as nothing still refers to it when the next
 * read comes: whoever writes bytes from it calls `releaseReadBuffer`, and if
 * the write did not complete synchronously (the writer still holds bytes),
 * the shared buffer is handed over to that write and a new one takes its place.
 *
 * libuv also asks for a buffer before a read that turns out to be EOF or an
 * error, and then no callback runs; that is why the buffer is not "taken" and
 * "given back" but stays shared until a pending write claims it.
 *
 * Readers must not keep references into it past the callback: the HTTP scanner
 * copies a partial head, and heads are written through HeadBuilder (a copy).
 */
const READ_BUFFER_BYTES = 256 * 1024;
let shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);

export function takeReadBuffer(): Buffer {
  return shared;
}

/**
 * After writing bytes read into `buf`: `writerPending` is true when the writer
 * still holds unwritten data (its writableLength is not 0), which may point into `buf`.
 */
export function releaseReadBuffer(buf: Buffer, writerPending: boolean): void {
  if (writerPending && buf === shared) shared = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
}
