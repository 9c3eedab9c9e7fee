/**
 * Small helpers shared by the tests: waiting for a condition, telling whether
 * a promise settled at once, and a manual clock for code that takes its clock
 * and timers as a parameter (no test may lean on how fast a loaded machine is).
 */
import type { ParsedMessage } from '../../src/http/index.js';

/** Resolve once `cond()` holds, polling every 5 ms; reject after `timeoutMs` (a bound on a hang, not a measurement). */
export function waitFor(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const tick = () => {
      if (cond()) resolve();
      else if (performance.now() - start > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * Whether `p` settles within the current turn of the event loop: before a
 * setImmediate queued now runs, so without waiting for any timer. Holds the
 * same on a loaded machine: it is an order, not a duration.
 */
export async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise<void>((resolve) => setImmediate(resolve));
  return settled;
}

/**
 * Whether `p` settles before a timer of `ms` armed now fires. Node fires due
 * timers earliest first and runs the microtasks after each one, so a promise
 * settled by a timer armed earlier with a shorter delay (and promise steps
 * only) wins however late the loop runs: a bound that holds under load.
 */
export function settlesBefore(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}

/**
 * How much earlier than its delay, measured with performance.now() from a
 * start taken with timerStart(), a Node timer may fire: libuv counts loop time
 * in whole milliseconds of a clock that may lag by one.
 */
export const TIMER_SLACK_MS = 5;

/**
 * A start for a lower bound on when a timer fires: performance.now(), then a
 * new turn of the event loop. Node arms timers from the loop time of the turn
 * that arms them, which may be older than performance.now() in that turn, so
 * a start taken in the same turn can be later than the timer's own start (by
 * as long as the turn has run, which is long on a loaded machine). Every timer
 * armed after this resolves fires no earlier than the returned time plus its
 * delay (less TIMER_SLACK_MS). Timers the proxy arms when our bytes reach it
 * are armed in a later turn than our send: a start taken before the send will
 * do for them.
 */
export async function timerStart(): Promise<number> {
  const start = performance.now();
  await new Promise<void>((resolve) => setTimeout(resolve, 1));
  return start;
}

/**
 * A clock that moves only when told to: `now()`, `setTimeout` and
 * `clearTimeout` for code that takes them as a parameter. `advance(ms)` fires
 * every timer that falls due on the way, earliest first (ties in the order
 * they were armed), with `now()` at its due time; timers armed by a callback
 * fire in the same advance if they fall due within it. Like Node, a delay
 * below 1 ms is 1 ms.
 */
export class ManualClock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, { at: number; delayMs: number; callback: () => void }>();

  constructor(startMs = 1_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, delayMs: number): number {
    const id = this.#nextId++;
    const delay = Math.max(1, delayMs);
    this.#timers.set(id, { at: this.#now + delay, delayMs: delay, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** The delays of the timers armed and not yet fired or cleared, in the order they were armed. */
  pendingDelays(): number[] {
    return [...this.#timers.values()].map((t) => t.delayMs);
  }

  /** Move the clock `ms` forward, firing what falls due. */
  advance(ms: number): void {
    const until = this.#now + ms;
    for (;;) {
      let dueId = -1;
      let dueAt = Number.POSITIVE_INFINITY;
      for (const [id, t] of this.#timers) {
        if (t.at <= until && t.at < dueAt) {
          dueId = id;
          dueAt = t.at;
        }
      }
      if (dueId < 0) break;
      const timer = this.#timers.get(dueId)!;
      this.#timers.delete(dueId);
      this.#now = dueAt;
      timer.callback();
    }
    this.#now = until;
  }
}

/** The first value of header `name` (case-insensitive) in a parsed message. */
export function header(msg: ParsedMessage | undefined, name: string): string | undefined {
  const lower = name.toLowerCase();
  return msg?.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
}
