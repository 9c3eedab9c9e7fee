/**
 * Durations in the config file: a number with a unit, or several in a row.
 *
 *   "250ms"  "5s"  "1.5s"  "5m"  "1h"  "1m30s"  "0"
 *
 * Units: ms, s, m, h. A bare number is rejected (is 30 seconds or ms?) except 0,
 * which needs no unit. The result is whole milliseconds: fractions finer than
 * 1 ms ("0.5ms") are rejected. The upper bound is 2^31-1 ms (~24.8 days), the
 * largest delay a Node timer honours.
 */

export const MAX_DURATION_MS = 2_147_483_647;

/** Parse a duration; returns milliseconds, or throws an Error whose message is the reason. */
export function parseDuration(value: unknown): number {
  if (typeof value === 'number') {
    if (value === 0) return 0;
    throw new Error(`a duration needs a unit (ms, s, m, h), e.g. "${value}ms" or "${value}s"`);
  }
  if (typeof value !== 'string') throw new Error('must be a duration such as "5s" or "250ms"');
  const text = value.trim();
  if (text === '0') return 0;
  if (text.length === 0) throw new Error('must be a duration such as "5s" or "250ms", not empty');
  let totalMs = 0;
  let i = 0;
  while (i < text.length) {
    const numStart = i;
    let seenDot = false;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x2e && !seenDot) seenDot = true;
      else if (c < 0x30 || c > 0x39) break;
      i++;
    }
    const numText = text.slice(numStart, i);
    if (numText.length === 0 || numText === '.') throw new Error(`"${value}" is not a duration (expected e.g. "5s", "250ms", "1m30s")`);
    const unitStart = i;
    while (i < text.length) {
      const c = text.charCodeAt(i) | 0x20;
      if (c < 0x61 || c > 0x7a) break;
      i++;
    }
    const unit = text.slice(unitStart, i);
    const scale = UNIT_MS[unit];
    if (scale === undefined) {
      if (unit.length === 0) throw new Error(`"${value}": a duration needs a unit (ms, s, m, h), e.g. "${numText}s"`);
      throw new Error(`"${value}": unknown unit "${unit}" (use ms, s, m or h)`);
    }
    const ms = Number(numText) * scale;
    if (!Number.isFinite(ms)) throw new Error(`"${value}" is not a duration`);
    totalMs += ms;
    if (totalMs > MAX_DURATION_MS) throw new Error(`"${value}" is too long (the maximum is 24d, 2147483647ms)`);
  }
  const rounded = Math.round(totalMs);
  if (Math.abs(rounded - totalMs) > 1e-6) throw new Error(`"${value}" is finer than a millisecond`);
  return rounded;
}

const UNIT_MS: Record<string, number | undefined> = Object.assign(Object.create(null) as object, {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
});

/** Format milliseconds as the shortest duration text that parses back to the same value. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  if (h > 0) {
    out += `${h}h`;
    rest -= h * 3_600_000;
  }
  const m = Math.floor(rest / 60_000);
  if (m > 0) {
    out += `${m}m`;
    rest -= m * 60_000;
  }
  const s = Math.floor(rest / 1_000);
  if (s > 0) {
    out += `${s}s`;
    rest -= s * 1_000;
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
