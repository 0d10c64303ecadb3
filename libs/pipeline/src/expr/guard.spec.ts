import { EVALUATION_BUDGET } from './budget';
import { type CompiledExpression, compileExpression } from './compile';
import { ExpressionError } from './errors';
import { MAX_COMPREHENSION_NESTING } from './guard';

function compile(source: string): CompiledExpression {
  const result = compileExpression(source);
  if (!result.ok) throw new Error(`unexpected compile error: ${result.error.message}`);
  return result.expression;
}

function compileError(source: string): ExpressionError {
  const result = compileExpression(source);
  if (result.ok) throw new Error(`expected a compile error for ${source}`);
  return result.error;
}

function evalError(expr: CompiledExpression, input: Record<string, unknown>): ExpressionError {
  try {
    expr.evaluate(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

/** Milliseconds `fn` took. */
function timed(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const literal = (n: number) => `[${range(n).join(',')}]`;

describe('matches() runs on RE2', () => {
  it('takes linear time on the pattern that backtracks catastrophically in a JS RegExp', () => {
    const filter = compile("!s.matches('^(a+)+$')");
    let result = false;
    // A backtracking engine needs about 2^40 steps here.
    const ms = timed(() => (result = filter.test({ s: `${'a'.repeat(40)}b` })));
    expect(result).toBe(true);
    expect(ms).toBeLessThan(200);
    expect(filter.test({ s: 'aaaa' })).toBe(false);
  });

  it('has RE2 semantics: a match anywhere, (?i), \\d, Unicode classes', () => {
    const expr = compile(
      "s.matches('b+') && s.matches('(?i)^AB') && s.matches('\\\\d') && s.matches('\\\\pL')",
    );
    expect(expr.test({ s: 'abb1' })).toBe(true);
    expect(expr.test({ s: 'ac1' })).toBe(false);
  });

  it('refuses a literal pattern RE2 cannot run at creation, with its position', () => {
    for (const pattern of ['(?=x)', '(a)\\\\1', '(a']) {
      const error = compileError(`s.matches('${pattern}')`);
      expect(error.code).toBe('invalid_regular_expression');
      expect(error.summary).toContain('invalid RE2 regular expression');
      expect(error.position?.column).toBe(11);
    }
  });

  it('refuses a pattern from the event at evaluation', () => {
    const expr = compile('s.matches(p)');
    expect(expr.test({ s: 'abc', p: 'b' })).toBe(true);
    expect(evalError(expr, { s: 'abc', p: '(?<=a)b' }).code).toBe('invalid_regular_expression');
    // Not a string: the engine's own overload error, as before.
    expect(evalError(expr, { s: 5, p: 'b' }).code).toBe('no_matching_overload');
  });
});

describe('compile-time cost bound', () => {
  it(`allows ${MAX_COMPREHENSION_NESTING} nested comprehensions and refuses one more`, () => {
    const nested = (depth: number) => {
      let body = 'true';
      for (let i = depth; i > 0; i--) body = `l${i}.all(x${i}, ${body})`;
      return body;
    };
    expect(compile(nested(MAX_COMPREHENSION_NESTING)).evaluate({ l1: [], l2: [], l3: [] })).toBe(
      true,
    );
    const error = compileError(nested(MAX_COMPREHENSION_NESTING + 1));
    expect(error.code).toBe('too_costly');
    expect(error.message).toContain(`nest ${MAX_COMPREHENSION_NESTING + 1} deep`);
    expect(error.position?.column).toBeGreaterThan(1);
  });

  it('counts chained comprehensions (filter then map) as one level, not two', () => {
    const chained = 'items.filter(a, a > 1).map(b, b * 2).filter(c, c > 4).exists(d, d == 6)';
    expect(compile(chained).evaluate({ items: [1, 2, 3] })).toBe(true);
  });

  it('refuses literal lists whose nested comprehensions exceed the budget on every event', () => {
    const error = compileError(
      `${literal(100)}.all(a, ${literal(100)}.all(b, ${literal(100)}.all(c, a + b + c >= 0)))`,
    );
    expect(error.code).toBe('too_costly');
    expect(error.message).toContain(
      `more than the evaluation budget of ${EVALUATION_BUDGET.maxSteps}`,
    );
    // Smaller literals are fine.
    expect(compile(`${literal(10)}.all(a, ${literal(10)}.all(b, a + b >= 0))`).evaluate({})).toBe(
      true,
    );
  });
});

describe('per-evaluation budget', () => {
  const quadratic = compile('items.all(a, items.exists(b, b == a))');

  it('stops nested comprehensions over an event list with "evaluation budget exceeded"', () => {
    let error: ExpressionError | undefined;
    const ms = timed(() => (error = evalError(quadratic, { items: range(3_000) })));
    expect(error?.code).toBe('budget_exceeded');
    expect(error?.message).toMatch(/^evaluation budget exceeded: more than /);
    expect(ms).toBeLessThan(EVALUATION_BUDGET.maxMs * 3);
  });

  it('lets the same expression through on a small list, also right after an overrun', () => {
    evalError(quadratic, { items: range(3_000) });
    expect(quadratic.evaluate({ items: range(100) })).toBe(true);
  });

  it('counts steps: one per iteration', () => {
    const loop = compile('items.all(a, true)');
    expect(loop.evaluate({ items: range(EVALUATION_BUDGET.maxSteps - 10) })).toBe(true);
    const error = evalError(loop, { items: range(EVALUATION_BUDGET.maxSteps + 10) });
    expect(error.message).toBe(
      `evaluation budget exceeded: more than ${EVALUATION_BUDGET.maxSteps} steps`,
    );
  });

  it('still fails when CEL would absorb the error (|| true, && false, exists)', () => {
    const items = range(3_000);
    for (const source of [
      'items.all(a, items.all(b, true)) || true',
      'false && items.all(a, items.all(b, true)) || items.all(a, items.all(b, true)) && false',
      'items.exists(a, items.all(b, b >= 0) && false)',
    ]) {
      expect(evalError(compile(source), { items }).code).toBe('budget_exceeded');
    }
  });

  it('charges what operators scan inside a comprehension (`x in list` is quadratic)', () => {
    // 3,000 iterations, each scanning 3,000 elements (187 steps): far more than the budget.
    const error = evalError(compile('items.all(a, a in items)'), { items: range(3_000) });
    expect(error.code).toBe('budget_exceeded');
    expect(compile('items.all(a, a in items)').evaluate({ items: range(300) })).toBe(true);
  });

  it('charges regex work by input length inside a loop', () => {
    const long = 'x'.repeat(1 << 20);
    const expr = compile("items.all(a, !s.matches('y'))");
    expect(evalError(expr, { s: long, items: range(200) }).code).toBe('budget_exceeded');
    expect(expr.evaluate({ s: 'x', items: range(200) })).toBe(true);
  });

  it('does not touch field paths and plain expressions', () => {
    expect(compile('user.id').evaluate({ user: { id: 7 } })).toBe(7);
    expect(compile("a + ':' + b").evaluate({ a: 'x'.repeat(100_000), b: 'y' })).toHaveLength(
      100_002,
    );
  });
});
