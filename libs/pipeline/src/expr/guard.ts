// The cost rules of an expression, applied once at compile time to the engine's checked AST:
// - comprehensions (all, exists, exists_one, map, filter) nest at most MAX_COMPREHENSION_NESTING
//   deep, and the steps an expression takes with every event list of one element (so: what its
//   literal lists alone cost) stay within the evaluation budget; anything else is refused at
//   pipeline creation rather than dead-lettering every event;
// - literal regular expressions compile with RE2, or the expression is refused;
// - hooks that make evaluation keep to the budget: every comprehension iteration charges the
//   meter, inside comprehensions so does every value that reaches an operator or function whose
//   work grows with it (`x in list`, `==`, `+`, string functions: see sizeCost), and `matches`
//   runs on RE2 instead of the engine's backtracking `new RegExp`. Outside comprehensions each
//   node runs once per evaluation, so its work is bounded by the event's size already.
// The hooks use the engine's AST as @marcbachmann/cel-js 8 builds it (macros expand into a
// `comprehension` node under `meta.alternate`; each node is evaluated through its own `evaluate`,
// children through `ev.run`); guard.spec.ts fails if a new engine version changes that.
import { EVALUATION_BUDGET, meter } from './budget';
import { compilePattern, re2Matches } from './regex';

export const MAX_COMPREHENSION_NESTING = 3;

/** The parts of an engine AST node the guard reads or hooks. */
interface EngineNode {
  readonly op: string;
  readonly args: unknown;
  readonly start: number;
  readonly meta: {
    readonly alternate?: EngineNode;
    readonly macro?: { evaluate: (ev: Evaluator, macro: unknown, ctx: unknown) => unknown };
    readonly evaluate: NodeEvaluate;
  };
  evaluate: NodeEvaluate;
}

interface Evaluator {
  run(node: EngineNode, ctx: unknown): unknown;
}

type NodeEvaluate = (ev: Evaluator, node: EngineNode, ctx: unknown) => unknown;

interface ComprehensionArgs {
  readonly iterable: EngineNode;
  readonly init: EngineNode;
  readonly step: EngineNode;
  condition?: (accu: unknown) => boolean;
}

export interface GuardProblem {
  readonly code: string;
  readonly summary: string;
  readonly offset: number;
}

function isNode(value: unknown): value is EngineNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'meta' in value;
}

/** Checks the cost rules and installs the hooks; the first problem found, or undefined. */
export function guardExpression(root: unknown): GuardProblem | undefined {
  const guard = new Guard();
  guard.visit(root, 0, 1);
  if (guard.problem) return guard.problem;
  if (guard.steps > EVALUATION_BUDGET.maxSteps) {
    return {
      code: 'too_costly',
      summary:
        `its comprehensions over literal lists take ${guard.steps} steps per event, more than ` +
        `the evaluation budget of ${EVALUATION_BUDGET.maxSteps}`,
      offset: 0,
    };
  }
  return undefined;
}

class Guard {
  problem: GuardProblem | undefined;
  /** Comprehension steps of one evaluation, counting each event list as one element. */
  steps = 0;

  /** `depth`: enclosing comprehensions; `times`: how often this node runs per evaluation. */
  visit(value: unknown, depth: number, times: number): void {
    if (this.problem) return;
    if (Array.isArray(value)) {
      for (const item of value) this.visit(item, depth, times);
      return;
    }
    if (!isNode(value)) return;
    const alternate = value.meta.alternate;
    if (alternate) return this.visit(alternate, depth, times);
    if (value.op === 'comprehension') return this.comprehension(value, depth, times);
    if (value.op === 'rcall') this.call(value);
    if (depth > 0) chargeOperands(value);
    this.visit(value.args, depth, times);
  }

  private comprehension(node: EngineNode, depth: number, times: number): void {
    const args = node.args as ComprehensionArgs;
    if (depth + 1 > MAX_COMPREHENSION_NESTING) {
      this.problem = {
        code: 'too_costly',
        summary:
          `comprehensions (all, exists, exists_one, map, filter) nest ${depth + 1} deep here; ` +
          `at most ${MAX_COMPREHENSION_NESTING} are allowed`,
        offset: node.start,
      };
      return;
    }
    this.visit(args.iterable, depth, times);
    this.visit(args.init, depth, times);
    const size = literalSize(args.iterable);
    this.steps += times * size;
    this.visit(args.step, depth + 1, times * size);

    // One step per iteration: the engine asks `condition` before each one (map and filter have
    // none: the hook then always lets the loop go on).
    const condition = args.condition;
    args.condition = condition
      ? (accu) => (meter.charge(1), condition(accu))
      : () => (meter.charge(1), true);
  }

  private call(node: EngineNode): void {
    const [name, receiver, callArgs] = node.args as [unknown, EngineNode, unknown];
    if (name !== 'matches' || !Array.isArray(callArgs) || callArgs.length !== 1) return;
    const patternNode = callArgs[0] as EngineNode;
    if (patternNode.op === 'value' && typeof patternNode.args === 'string') {
      const compiled = compilePattern(patternNode.args);
      if (!compiled.ok) {
        this.problem = {
          code: 'invalid_regular_expression',
          summary: compiled.reason,
          offset: patternNode.start,
        };
        return;
      }
    }
    const engine = node.meta.evaluate;
    node.evaluate = function matches(ev, self, ctx) {
      const text = ev.run(receiver, ctx);
      const pattern = ev.run(patternNode, ctx);
      if (typeof text === 'string' && typeof pattern === 'string') return re2Matches(text, pattern);
      // Not two strings: the engine's own error (no_such_overload, ...).
      return engine.call(this, ev, self, ctx);
    };
  }
}

// Operators and functions whose work grows with their operands' size.
const SIZED_OPERATORS = new Set(['in', '==', '!=', '+', '<', '<=', '>', '>=']);
// Functions that take constant time however large their argument.
const CONSTANT_FUNCTIONS = new Set(['size', 'has', 'matches']);

function chargeOperands(node: EngineNode): void {
  if (SIZED_OPERATORS.has(node.op) && Array.isArray(node.args)) {
    for (const operand of node.args as unknown[]) chargeSize(operand);
  } else if (node.op === 'rcall' || node.op === 'call') {
    const args = node.args as unknown[];
    if (CONSTANT_FUNCTIONS.has(args[0] as string) || node.meta.alternate) return;
    if (node.op === 'rcall') chargeSize(args[1]);
    const callArgs = args[node.op === 'rcall' ? 2 : 1];
    if (Array.isArray(callArgs)) for (const arg of callArgs) chargeSize(arg);
  }
}

/** Hooks `node` to charge the meter by the size of each value it gives. */
function chargeSize(node: unknown): void {
  if (!isNode(node) || node.op === 'value') return;
  const inner = evaluatorOf(node);
  node.evaluate = function sized(ev, self, ctx) {
    const value = inner.call(this, ev, self, ctx);
    const cost = sizeCost(value);
    if (cost > 0) meter.charge(cost);
    return value;
  };
}

/** What the engine would run for `node`: its own evaluate, mirroring ASTNode.evaluate. */
function evaluatorOf(node: EngineNode): NodeEvaluate {
  if (Object.hasOwn(node, 'evaluate')) return node.evaluate;
  const { alternate, macro } = node.meta;
  if (alternate) return (ev, _self, ctx) => alternate.evaluate(ev, alternate, ctx);
  if (macro) return (ev, _self, ctx) => macro.evaluate(ev, macro, ctx);
  return node.meta.evaluate;
}

/** Steps a value costs an operator that scans it: lists element by element, strings faster. */
function sizeCost(value: unknown): number {
  if (typeof value === 'string') return value.length >>> 8;
  if (Array.isArray(value)) return value.length >>> 4;
  if (value instanceof Map) return value.size >>> 4;
  if (value instanceof Uint8Array) return value.length >>> 8;
  return 0;
}

/** Elements of a literal list or map; 1 for anything computed (an event list, say). */
function literalSize(node: EngineNode): number {
  if ((node.op === 'list' || node.op === 'map') && Array.isArray(node.args)) {
    return node.args.length;
  }
  return 1;
}
