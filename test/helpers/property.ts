/**
 * Properties bounded by run count and by time, that still test a floor of
 * cases. fast-check's time limit ends a property early and passes it: on a
 * loaded machine it can pass having run a handful of cases. `checkProperty`
 * runs up to `numRuns` cases within `timeMs`, fails as fc.assert would on a
 * counterexample, and fails when fewer than `floor` cases ran.
 *
 * Floors are set well under what a loaded 2-core machine runs in the time
 * (two copies of the file at once): the run count, not the clock, is what
 * the test asserts. DFP_PROPERTY_RUNS=1 prints the runs of each property.
 */
import fc from 'fast-check';
import { expect } from 'vitest';

export interface RunBudget {
  /** Cases to run when there is time. */
  numRuns: number;
  /** Stop starting new cases after this long. */
  timeMs: number;
  /** Cases that must have run, time limit or not. */
  floor: number;
}

export function checkProperty<Ts>(property: fc.IProperty<Ts>, budget: RunBudget): void {
  const started = performance.now();
  judge(fc.check(property, { numRuns: budget.numRuns, plugins: [fc.interruptAfterTimeLimit(budget.timeMs)] }), budget, started);
}

/** checkProperty for async properties (real sockets): the same budget, awaited. */
export async function checkAsyncProperty<Ts>(property: fc.IAsyncProperty<Ts>, budget: RunBudget): Promise<void> {
  const started = performance.now();
  judge(await fc.check(property, { numRuns: budget.numRuns, plugins: [fc.interruptAfterTimeLimit(budget.timeMs)] }), budget, started);
}

/** Fails as fc.assert would on a counterexample, and when fewer than the floor of cases ran. */
function judge(details: fc.RunDetails<unknown>, budget: RunBudget, started: number): void {
  const name = expect.getState().currentTestName ?? 'property';
  report(name, details, budget, performance.now() - started);
  if (details.failed) throw new Error(fc.defaultReportMessage(details), { cause: details.errorInstance });
  expect(
    details.numRuns,
    `${name}: ${details.numRuns} of ${budget.numRuns} cases ran in ${budget.timeMs} ms (seed ${details.seed}); the floor is ${budget.floor}`,
  ).toBeGreaterThanOrEqual(budget.floor);
}

function report(name: string, details: fc.RunDetails<unknown>, budget: RunBudget, elapsedMs: number): void {
  if (process.env.DFP_PROPERTY_RUNS === undefined) return;
  const line = `property runs: ${name}: ${details.numRuns}/${budget.numRuns} floor ${budget.floor}${details.interrupted ? ' (time limit)' : ''} ${Math.round(elapsedMs)} ms\n`;
  process.stderr.write(line);
}
