/**
 * Budgets of the property tests: runs sized to finish well inside their jest timeout on a busy
 * 2-core machine, and a deliberate soak through the environment: `PROPERTY_RUNS=1000 npx jest …`
 * (the timeout grows with the runs). `PROPERTY_SEED` replays the seed a failure printed.
 */
import type fc from 'fast-check';

function positiveInteger(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || (name === 'PROPERTY_RUNS' && value < 1))
    throw new Error(`${name} must be ${name === 'PROPERTY_RUNS' ? 'a positive' : 'an'} integer, not "${raw}"`);
  return value;
}

export interface PropertyBudget {
  /** For `fc.assert`. */
  readonly parameters: Pick<fc.Parameters<unknown>, 'numRuns' | 'seed'>;
  /** For jest's `it(name, fn, timeout)`. */
  readonly timeoutMs: number;
}

/** `defaultRuns` and the jest timeout they need; both scale with PROPERTY_RUNS. */
export function propertyBudget(defaultRuns: number, timeoutMsAtDefault: number): PropertyBudget {
  const numRuns = positiveInteger('PROPERTY_RUNS') ?? defaultRuns;
  const seed = positiveInteger('PROPERTY_SEED');
  return {
    parameters: { numRuns, ...(seed !== undefined && { seed }) },
    timeoutMs: Math.max(timeoutMsAtDefault, Math.ceil((timeoutMsAtDefault * numRuns) / defaultRuns)),
  };
}
