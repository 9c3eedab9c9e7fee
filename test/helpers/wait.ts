/** Small helpers shared by the end-to-end tests. */
import type { ParsedMessage } from '../../src/http/index.js';

/** Resolve once `cond()` holds, polling every 5 ms; reject after `timeoutMs`. */
export function waitFor(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() - start > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/** The first value of header `name` (case-insensitive) in a parsed message. */
export function header(msg: ParsedMessage | undefined, name: string): string | undefined {
  const lower = name.toLowerCase();
  return msg?.headers.find(([k]) => k.toLowerCase() === lower)?.[1];
}
