// The per-evaluation budget of a CEL expression. Event data decides how long a comprehension
// runs (`items.all(a, items.exists(b, ...))` over an event's list is quadratic in its length), so
// every evaluation gets a bounded number of steps and a wall-clock backstop; past either, the
// evaluation stops with `budget_exceeded` and the event is dead-lettered instead of blocking the
// process's event loop (and, once its lease moves, the next owner's).
//
import { ExpressionError } from './errors';

// One meter per process is enough: evaluation is synchronous and never nested, so the meter is
// reset at the start of each evaluation and read at its end, with no allocation per event.

/** What one evaluation of one expression may spend. */
export const EVALUATION_BUDGET = {
  /** Comprehension iterations, plus what operators and functions inside comprehensions scan
   * (1 step per 16 list elements or 256 characters), plus regex work (1 step per 256 characters
   * matched). At 0.05-0.3 µs per step (1-2 µs before the JIT has warmed up) that is 3-100 ms:
   * far above any ordinary expression (which takes microseconds), far below a stall. */
  maxSteps: 50_000,
  /** Wall-clock backstop for work the steps do not see. Checked every CLOCK_EVERY steps and
   * after long regex runs; never reached by an expression that keeps to its steps unless the
   * process is descheduled that long. */
  maxMs: 250,
} as const;

/** The error code and the text every dead letter of a budget overrun starts with. */
export const BUDGET_EXCEEDED = 'budget_exceeded';
export const BUDGET_EXCEEDED_TEXT = 'evaluation budget exceeded';

// Reading the clock costs 0.1-0.4 µs: once per this many steps keeps it to a few per cent.
const CLOCK_EVERY = 128;

class Meter {
  private steps = 0;
  private nextClock = CLOCK_EVERY;
  /** Set at the first clock check: evaluations too short to reach one never read the clock. */
  private deadline = 0;
  /** Why the budget ran out; sticky until the next start, so an error absorbed by CEL (`||`,
   * `&&`, `all`, `exists` absorb errors) still ends the evaluation as over budget. */
  exceeded: string | undefined;

  start(): void {
    this.steps = 0;
    this.nextClock = CLOCK_EVERY;
    this.deadline = 0;
    this.exceeded = undefined;
  }

  /** Spends `steps`; throws BudgetExceeded once the steps or the time are used up. */
  charge(steps: number): void {
    if (this.exceeded !== undefined) throw new BudgetExceeded(this.exceeded);
    this.steps += steps;
    if (this.steps > EVALUATION_BUDGET.maxSteps) {
      this.exceed(`more than ${EVALUATION_BUDGET.maxSteps} steps`);
    }
    if (this.steps >= this.nextClock) {
      this.nextClock = this.steps + CLOCK_EVERY;
      this.checkClock();
    }
  }

  /** After work whose cost is only known once done (a long regex match). */
  checkClock(): void {
    const now = performance.now();
    if (this.deadline === 0) this.deadline = now + EVALUATION_BUDGET.maxMs;
    else if (now > this.deadline) this.exceed(`more than ${EVALUATION_BUDGET.maxMs} ms`);
  }

  private exceed(why: string): never {
    this.exceeded = why;
    throw new BudgetExceeded(why);
  }
}

/** Thrown inside the engine; compile.ts turns it into an ExpressionError `budget_exceeded`. */
export class BudgetExceeded extends Error {
  override readonly name = 'BudgetExceeded';
  readonly code = BUDGET_EXCEEDED;
  readonly summary: string;

  constructor(why: string) {
    const summary = `${BUDGET_EXCEEDED_TEXT}: ${why}`;
    super(summary);
    this.summary = summary;
  }
}

export const meter = new Meter();

/** An evaluation stopped by the budget: never read as "the field is not there". */
export function isBudgetExceeded(err: unknown): boolean {
  return err instanceof ExpressionError && err.code === BUDGET_EXCEEDED;
}
