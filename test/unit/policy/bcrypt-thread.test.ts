/**
 * bcrypt off the event loop: the verdicts are bcryptjs' own, and the loop keeps turning while a
 * comparison runs (progress counted in turns, not measured in time). A dying thread refuses, never accepts.
 */
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { compareOffThread, stopBcryptThread } from '../../../src/policy/bcrypt-thread.js';

afterAll(() => stopBcryptThread());

describe('compareOffThread', () => {
  const hash = bcrypt.hashSync('hunter2', 4);

  it('gives bcryptjs\' verdicts: right, wrong, a malformed hash (false, no throw)', async () => {
    expect(await compareOffThread('hunter2', hash)).toBe(true);
    expect(await compareOffThread('hunter3', hash)).toBe(false);
    expect(await compareOffThread('hunter2', '$2y$10$notahash')).toBe(false);
  });

  it('answers many concurrent comparisons, each its own', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => compareOffThread(i % 2 === 0 ? 'hunter2' : `x${i}`, hash)));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i % 2 === 0));
  });

  it('the event loop keeps turning during a slow comparison (cost 12: hundreds of ms of CPU in the thread)', async () => {
    const slow = bcrypt.hashSync('pw', 12);
    let turns = 0;
    let done = false;
    const spin = (): void => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    const ok = await compareOffThread('pw', slow);
    done = true;
    expect(ok).toBe(true);
    // In the main thread (bcryptjs' compare runs a cost-10+ hash in one turn here) this is a handful.
    expect(turns).toBeGreaterThan(100);
  });

  it('a thread that dies refuses what it was asked, and the next comparison starts a new one', async () => {
    const slow = bcrypt.hashSync('pw', 12);
    const asked = compareOffThread('pw', slow);
    await stopBcryptThread();
    expect(await asked).toBe(false);
    expect(await compareOffThread('hunter2', hash)).toBe(true);
  });
});
