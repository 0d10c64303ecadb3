// The CEL engine (@marcbachmann/cel-js, chosen by bench/cel-engines.mjs) configured for JSON
// events. Environments are built once per process: building one is the expensive part.
import { Environment } from '@marcbachmann/cel-js';

/** `event`: the event's fields are the variables. `join`: only `left` and `right` exist. */
export type ExpressionScope = 'event' | 'join';

export const JOIN_VARIABLES = ['left', 'right'] as const;

// Structural caps keep a hostile or runaway definition from costing much at compile time, and
// literal lists and maps small (each evaluation builds them anew; `x in [...]` scans them).
// The cost per event is bounded by guard.ts and budget.ts.
const LIMITS = { maxAstNodes: 5_000, maxDepth: 64, maxListElements: 1_000, maxMapEntries: 1_000 };

// JSON has a single number type, so every event number reaches CEL as a double, integers
// included. Standard CEL has no double/int arithmetic, which would make `amount * 100` or
// `count + 1` fail on every event; these overloads accept the mix and yield a double.
// Comparisons across int and double are standard CEL except `==`/`!=` between literals.
function registerNumericMixing(env: Environment): Environment {
  for (const op of ['+', '-', '*', '/', '%'] as const) {
    const apply = ARITHMETIC[op];
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => apply(a, Number(b)));
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => apply(Number(a), b));
  }
  env.registerOperator('double % double', (a: number, b: number) => a % b);
  // Registers the reverse and the `!=` forms as well.
  env.registerOperator('int == double', (a: bigint, b: number) => Number(a) === b);
  return env;
}

const ARITHMETIC = {
  '+': (a: number, b: number) => a + b,
  '-': (a: number, b: number) => a - b,
  '*': (a: number, b: number) => a * b,
  '/': (a: number, b: number) => a / b,
  '%': (a: number, b: number) => a % b,
} as const;

let eventEnv: Environment | undefined;
let joinEnv: Environment | undefined;

export function environmentFor(scope: ExpressionScope): Environment {
  if (scope === 'event') {
    eventEnv ??= registerNumericMixing(
      new Environment({ unlistedVariablesAreDyn: true, limits: LIMITS }),
    );
    return eventEnv;
  }
  if (!joinEnv) {
    // Declared variables only, so `amount` instead of `left.amount` fails at compile time.
    joinEnv = new Environment({ unlistedVariablesAreDyn: false, limits: LIMITS });
    for (const name of JOIN_VARIABLES) joinEnv.registerVariable(name, 'map');
    registerNumericMixing(joinEnv);
  }
  return joinEnv;
}
