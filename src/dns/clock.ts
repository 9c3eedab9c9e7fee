/**
 * A coarse monotonic clock for the cache's hot path. Reading it is a branch
 * and a load: the first read in a window samples performance.now() and arms
 * one unref'd timer that invalidates the sample RESOLUTION_MS later. Idle
 * processes wake nobody; busy ones pay one timer per window.
 */

const RESOLUTION_MS = 10;

let sampledMs = 0;
let isValid = false;

function invalidate(): void {
  isValid = false;
}

function sample(): number {
  sampledMs = performance.now();
  isValid = true;
  setTimeout(invalidate, RESOLUTION_MS).unref();
  return sampledMs;
}

/** Milliseconds on the monotonic clock, at most ~RESOLUTION_MS old. */
export function coarseNowMs(): number {
  return isValid ? sampledMs : sample();
}

/** Exact monotonic milliseconds (for writes: expiry times, timers). */
export function nowMs(): number {
  return performance.now();
}
