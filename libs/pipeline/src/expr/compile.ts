// Compile once, evaluate per event. Evaluation never throws anything but ExpressionError, so a
// bad event can always be routed to the dead-letter queue instead of taking the actor down.
import type { ParseResult } from '@marcbachmann/cel-js';
import { type AstNode, type PathSegment, fieldPathOf, rootsOf } from './ast';
import { BUDGET_EXCEEDED, BUDGET_EXCEEDED_TEXT, meter } from './budget';
import { type ExpressionScope, environmentFor } from './engine';
import { ExpressionError, positionAt } from './errors';
import { guardExpression } from './guard';
import { type ExprValue, describeType, isKeyValue, keyText, toPlain } from './values';

export const MAX_EXPRESSION_LENGTH = 4_096;

const KEY_TYPES = new Set(['string', 'int', 'uint', 'double', 'bool', 'dyn']);

/** An event (event scope) or `{ left, right }` (join scope). */
export type ExprInput = Readonly<Record<string, unknown>>;

export interface CompileOptions {
  /** Default `event`. Use `join` for filter and transform of a join pipeline. */
  readonly scope?: ExpressionScope;
  /** Refuse expressions whose static type is known and wrong: `bool` for filters, `key` (string,
   * number or bool) for dedup and join keys. */
  readonly expect?: 'bool' | 'key';
}

export type EvalResult = { ok: true; value: ExprValue } | { ok: false; error: ExpressionError };

export interface CompiledExpression {
  readonly source: string;
  readonly scope: ExpressionScope;
  /** Static type from the checker: `bool`, `string`, `int`, `double`, ... or `dyn` if unknown. */
  readonly type: string;
  /** Set for plain field paths (`event_id`, `user.id`, `left.id`): read without running CEL. */
  readonly fieldPath?: readonly string[];
  /** Top-level variables read: event fields, or `left` / `right` in join scope. */
  readonly roots: ReadonlySet<string>;
  /** The value, as plain JS (see values.ts). Throws ExpressionError only. */
  evaluate(input: ExprInput): ExprValue;
  /** Same as evaluate, as a result instead of a throw. */
  tryEvaluate(input: ExprInput): EvalResult;
  /** For filters: the boolean result; anything else is an ExpressionError `not_bool`. */
  test(input: ExprInput): boolean;
  /** For dedup, join and routing keys: canonical key text (see keyText); `invalid_key` if the
   * value is null, a list, a map or not finite. */
  key(input: ExprInput): string;
}

export type CompileResult =
  { ok: true; expression: CompiledExpression } | { ok: false; error: ExpressionError };

export function compileExpression(source: string, options: CompileOptions = {}): CompileResult {
  const scope = options.scope ?? 'event';
  const fail = (code: string, summary: string, offset?: number): CompileResult => ({
    ok: false,
    error: new ExpressionError(
      'compile',
      code,
      summary,
      source,
      offset === undefined ? undefined : positionAt(source, offset),
    ),
  });
  if (source.trim() === '') return fail('empty', 'expression is empty');
  if (source.length > MAX_EXPRESSION_LENGTH) {
    return fail('too_long', `expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }

  let parsed: ParseResult;
  try {
    parsed = environmentFor(scope).parse(source);
  } catch (err) {
    return { ok: false, error: fromEngineError(err, 'compile', source) };
  }
  const checked = parsed.check();
  if (!checked.valid) {
    const error = fromEngineError(checked.error, 'compile', source);
    if (scope === 'join' && error.code === 'unknown_variable') {
      const hint = `${error.summary}: after a join, fields are read as left.<field> or right.<field>`;
      return {
        ok: false,
        error: new ExpressionError('compile', error.code, hint, source, error.position),
      };
    }
    return { ok: false, error };
  }
  const type = checked.type ?? 'dyn';
  if (options.expect === 'bool' && type !== 'bool' && type !== 'dyn') {
    return fail('not_bool', `expected a bool expression, this one gives ${type}`, 0);
  }
  if (options.expect === 'key' && !KEY_TYPES.has(type)) {
    return fail('invalid_key', `a key must be a string, number or bool, this one gives ${type}`, 0);
  }
  // After the check: the guard reads the checked AST and hooks its comprehensions and matches.
  const problem = guardExpression(parsed.ast);
  if (problem) return fail(problem.code, problem.summary, problem.offset);
  const ast = parsed.ast as unknown as AstNode;
  const expression = new Expression(source, scope, type, parsed, fieldPathOf(ast), rootsOf(ast));
  return { ok: true, expression };
}

class Expression implements CompiledExpression {
  readonly fieldPath?: readonly string[];

  constructor(
    readonly source: string,
    readonly scope: ExpressionScope,
    readonly type: string,
    private readonly run: ParseResult,
    private readonly segments: readonly PathSegment[] | undefined,
    readonly roots: ReadonlySet<string>,
  ) {
    if (segments) this.fieldPath = segments.map((s) => s.name);
  }

  evaluate(input: ExprInput): ExprValue {
    if (this.segments) return this.readPath(input, this.segments);
    meter.start();
    let value: unknown;
    try {
      value = this.run(input);
    } catch (err) {
      if (meter.exceeded !== undefined) throw this.overBudget(meter.exceeded);
      throw fromEngineError(err, 'evaluate', this.source);
    }
    // CEL's `||`, `&&`, `all` and `exists` absorb errors: an overrun may end in a value.
    if (meter.exceeded !== undefined) throw this.overBudget(meter.exceeded);
    return toPlain(value);
  }

  tryEvaluate(input: ExprInput): EvalResult {
    try {
      return { ok: true, value: this.evaluate(input) };
    } catch (err) {
      return { ok: false, error: fromEngineError(err, 'evaluate', this.source) };
    }
  }

  test(input: ExprInput): boolean {
    const value = this.evaluate(input);
    if (typeof value === 'boolean') return value;
    throw this.error('not_bool', `expected a bool, got ${describeType(value)}`);
  }

  key(input: ExprInput): string {
    const value = this.evaluate(input);
    if (isKeyValue(value)) return keyText(value);
    throw this.error(
      'invalid_key',
      `a key must be a string, number or bool, got ${describeType(value)}`,
    );
  }

  // The fast path: same results and the same `missing_field` errors as CEL gives for a field
  // path, at the cost of a few property reads.
  private readPath(input: ExprInput, segments: readonly PathSegment[]): ExprValue {
    let current: unknown = input;
    for (let i = 0; i < segments.length; i++) {
      const { name, offset } = segments[i] as PathSegment;
      if (typeof current !== 'object' || current === null || Array.isArray(current)) {
        throw this.error(
          'missing_field',
          `no field '${name}' in '${walkedTo(segments, i)}': it is a ${describeType(current)}, not a map`,
          offset,
        );
      }
      if (!Object.hasOwn(current, name)) {
        throw this.error('missing_field', `missing field '${walkedTo(segments, i + 1)}'`, offset);
      }
      current = (current as Record<string, unknown>)[name];
    }
    return current as ExprValue;
  }

  private overBudget(why: string): ExpressionError {
    return this.error(BUDGET_EXCEEDED, `${BUDGET_EXCEEDED_TEXT}: ${why}`);
  }

  private error(code: string, summary: string, offset?: number): ExpressionError {
    const position = offset === undefined ? undefined : positionAt(this.source, offset);
    return new ExpressionError('evaluate', code, summary, this.source, position);
  }
}

/** The dotted path of the first `count` segments: built for an error only, not per event. */
function walkedTo(segments: readonly PathSegment[], count: number): string {
  return segments
    .slice(0, count)
    .map((s) => s.name)
    .join('.');
}

// Engine codes for "the field is not there", whichever way CEL noticed it.
const MISSING_CODES = new Set(['unknown_variable', 'no_such_key']);

interface EngineError {
  readonly code?: unknown;
  readonly summary?: unknown;
  readonly message?: unknown;
  readonly range?: { readonly start: number };
}

function fromEngineError(
  err: unknown,
  phase: ExpressionError['phase'],
  source: string,
): ExpressionError {
  if (err instanceof ExpressionError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as EngineError;
  let code = typeof e.code === 'string' ? e.code : 'internal';
  if (phase === 'evaluate' && MISSING_CODES.has(code)) code = 'missing_field';
  const summary =
    typeof e.summary === 'string'
      ? e.summary
      : typeof e.message === 'string'
        ? e.message
        : String(err);
  const position =
    typeof e.range?.start === 'number' ? positionAt(source, e.range.start) : undefined;
  return new ExpressionError(phase, code, summary, source, position);
}
