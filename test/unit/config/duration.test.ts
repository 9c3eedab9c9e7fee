import { describe, expect, it } from 'vitest';
import { formatDuration, MAX_DURATION_MS, parseDuration } from '../../../src/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['0.25s', 250],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h1m1s1ms', 3_661_001],
    ['0', 0],
    ['0s', 0],
    [' 5s ', 5_000],
    [0, 0],
    ['2147483647ms', MAX_DURATION_MS],
  ] as const)('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    [5, 'a duration needs a unit (ms, s, m, h), e.g. "5ms" or "5s"'],
    ['5', 'a duration needs a unit'],
    ['', 'not empty'],
    ['s', 'is not a duration'],
    ['-5s', 'is not a duration'],
    ['5 s', 'a duration needs a unit'],
    ['5sec', 'unknown unit "sec"'],
    ['5S', 'unknown unit "S"'],
    ['5d', 'unknown unit "d"'],
    ['1e3s', 'unknown unit "e"'],
    ['1.2.3s', 'a duration needs a unit'],
    ['0.5ms', 'finer than a millisecond'],
    ['25d', 'unknown unit'],
    ['2147483648ms', 'too long'],
    ['597h', 'too long'],
    [true, 'must be a duration'],
    [null, 'must be a duration'],
    [{}, 'must be a duration'],
  ] as const)('rejects %j (%s)', (value, reason) => {
    expect(() => parseDuration(value)).toThrow(reason);
  });

  it('formatDuration round-trips through parseDuration', () => {
    for (const ms of [0, 1, 999, 1_000, 1_001, 59_999, 60_000, 90_000, 3_600_000, 3_661_001, MAX_DURATION_MS]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
    expect(formatDuration(300_000)).toBe('5m');
    expect(formatDuration(1_500)).toBe('1s500ms');
  });
});
