import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RateLimiter } from '../../../src/policy/rate-limit.js';
import { checkProperty } from '../../helpers/property.js';

function limiter(rate: number, burst: number, maxKeys?: number) {
  let now = 1_000;
  const l = new RateLimiter({ ratePerSecond: rate, burst, maxKeys, now: () => now });
  return { l, advance: (ms: number) => (now += ms) };
}

describe('RateLimiter: token buckets per key', () => {
  it('grants a full burst at once, then refuses with the seconds until the next token', () => {
    const { l } = limiter(2, 5);
    for (let i = 0; i < 5; i++) expect(l.take('alice')).toBe(0);
    // 2 tokens a second: the next one is 0.5 s away; Retry-After is whole seconds, at least 1.
    expect(l.take('alice')).toBe(1);
    expect(l.take('alice')).toBe(1);
  });

  it('refills at the rate, never above the burst', () => {
    const { l, advance } = limiter(10, 3);
    for (let i = 0; i < 3; i++) l.take('k');
    expect(l.take('k')).toBeGreaterThan(0);
    advance(100); // one token
    expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBeGreaterThan(0);
    advance(60_000); // long idle: back to the burst, not 600 tokens
    for (let i = 0; i < 3; i++) expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBeGreaterThan(0);
  });

  it('keys are independent: one client cannot spend another\'s tokens', () => {
    const { l } = limiter(1, 1);
    expect(l.take('10.0.0.1')).toBe(0);
    expect(l.take('10.0.0.1')).toBe(1);
    expect(l.take('alice')).toBe(0);
  });

  it('a slow rate gives a Retry-After of many seconds', () => {
    const { l } = limiter(0.1, 1); // one per 10 s
    expect(l.take('k')).toBe(0);
    expect(l.take('k')).toBe(10);
  });

  it('a flood of keys is bounded by maxKeys (oldest buckets evicted)', () => {
    const { l } = limiter(1, 1, 1000);
    for (let i = 0; i < 50_000; i++) l.take(`client-${i}`);
    expect(l.size).toBe(1000);
  });

  it('property: over any schedule, grants never exceed burst + rate × elapsed, and a refusal is followed by a grant after Retry-After', () => {
    checkProperty(
      fc.property(
        fc.double({ min: 0.5, max: 50, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 200 }),
        (rate, burst, gaps) => {
          const { l, advance } = limiter(rate, burst, 16);
          let elapsed = 0;
          let granted = 0;
          for (const gap of gaps) {
            advance(gap);
            elapsed += gap;
            const wait = l.take('k');
            if (wait === 0) granted++;
            else {
              expect(wait).toBeGreaterThanOrEqual(1);
              expect(Number.isInteger(wait)).toBe(true);
            }
            expect(granted).toBeLessThanOrEqual(burst + (rate * elapsed) / 1000 + 1e-9);
          }
          const wait = l.take('k');
          if (wait > 0) {
            advance(wait * 1000);
            expect(l.take('k')).toBe(0);
          }
        },
      ),
      { numRuns: 2000, timeMs: 8000, floor: 400 },
    );
  });
});
