import { type CompiledExpression, compileExpression } from './compile';
import { ExpressionError } from './errors';

function compile(source: string, options?: Parameters<typeof compileExpression>[1]) {
  const result = compileExpression(source, options);
  if (!result.ok) throw new Error(`unexpected compile error: ${result.error.message}`);
  return result.expression;
}

function compileError(source: string, options?: Parameters<typeof compileExpression>[1]) {
  const result = compileExpression(source, options);
  if (result.ok) throw new Error(`expected a compile error for ${source}`);
  return result.error;
}

function thrown(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

function evalError(expr: CompiledExpression, input: Record<string, unknown>): ExpressionError {
  return thrown(() => expr.evaluate(input));
}

const event = {
  event_id: 'e-1',
  user_id: 'u-7',
  project: 'p-1',
  action: 'buy',
  amount: 5,
  price: 5.5,
  user: { id: 7, name: 'Ann', tags: ['a', 'b'] },
  nothing: null,
};

describe('compileExpression: the expressions from issue 3', () => {
  it('filters with int/double comparisons whatever the JSON number looks like', () => {
    const filter = compile("amount > 0 && action != 'test'", { expect: 'bool' });
    expect(filter.type).toBe('bool');
    expect(filter.test({ amount: 5, action: 'buy' })).toBe(true);
    expect(filter.test({ amount: 5.5, action: 'buy' })).toBe(true);
    expect(filter.test({ amount: 0, action: 'buy' })).toBe(false);
    expect(filter.test({ amount: -0.5, action: 'buy' })).toBe(false);
    expect(filter.test({ amount: 5, action: 'test' })).toBe(false);
  });

  it('int(amount * 100.0) works for integer and decimal JSON amounts and gives a bigint', () => {
    const cents = compile('int(amount * 100.0)');
    expect(cents.evaluate({ amount: 5 })).toBe(500n);
    expect(cents.evaluate({ amount: 5.25 })).toBe(525n);
    expect(cents.evaluate({ amount: -1.999 })).toBe(-199n);
  });

  it('concatenates strings', () => {
    expect(compile("user_id + ':' + project").evaluate(event)).toBe('u-7:p-1');
  });

  it('reads dotted paths', () => {
    expect(compile('user.id').evaluate(event)).toBe(7);
    expect(compile('user.tags').evaluate(event)).toEqual(['a', 'b']);
  });
});

describe('numbers', () => {
  it.each([
    ['amount == 5', true],
    ['amount == 5.0', true],
    ['price > 5', true],
    ['price < 6', true],
    ['1 == 1.0', true],
    ['2 > 1.5', true],
    ['amount * 100', 500],
    ['amount + 1', 6],
    ['1 + price', 6.5],
    ['price - 1', 4.5],
    ['amount / 2', 2.5],
    ['amount % 2', 1],
    ['price % 2.0', 1.5],
    ['int(price)', 5n],
    ['1 + 2', 3n],
    ['size(user.tags)', 2n],
    ['uint(3)', 3n],
    ['double(amount) / 2.0', 2.5],
    ['string(amount)', '5'],
  ])('%s -> %p', (source, expected) => {
    expect(compile(source).evaluate(event)).toEqual(expected);
  });

  it('reports integer overflow and division by zero as evaluation errors', () => {
    expect(evalError(compile('9223372036854775807 + int(amount)'), event).code).toBe(
      'numeric_overflow',
    );
    expect(evalError(compile('int(amount) / 0'), event).code).toBe('division_by_zero');
  });
});

describe('values returned', () => {
  it.each([
    ["'x'", 'x'],
    ['true', true],
    ['null', null],
    ['[1, 2]', [1n, 2n]],
    ['{"a": 1.5}', { a: 1.5 }],
    ['b"ab"', new Uint8Array([97, 98])],
    ['duration("1.5s")', 1500],
    ['[uint(1)]', [1n]],
  ])('%s -> %p', (source, expected) => {
    expect(compile(source).evaluate(event)).toEqual(expected);
  });

  it('timestamps are Dates', () => {
    const value = compile('timestamp("2024-01-02T03:04:05Z")').evaluate(event);
    expect(value).toEqual(new Date('2024-01-02T03:04:05Z'));
  });

  it('event values come back untouched', () => {
    expect(compile('user').evaluate(event)).toBe(event.user);
    expect(compile('nothing').evaluate(event)).toBeNull();
    expect(compile('user.tags.map(t, t + "!")').evaluate(event)).toEqual(['a!', 'b!']);
  });
});

describe('field path fast path', () => {
  it.each([
    ['event_id', ['event_id']],
    ['user.id', ['user', 'id']],
    [' user . name ', ['user', 'name']],
    ['left.customer_id', ['left', 'customer_id']],
  ])('%s is a field path', (source, path) => {
    expect(compile(source).fieldPath).toEqual(path);
  });

  it.each([
    'user.tags[0]',
    "user_id + ':'",
    'size(user)',
    'true',
    '1',
    'has(user.id)',
    "user.name.startsWith('A')",
  ])('%s is not a field path', (source) => {
    expect(compile(source).fieldPath).toBeUndefined();
  });

  it('does not run CEL for a field path', () => {
    const path = compile('user.id');
    // Values CEL would refuse (functions) prove the engine is not involved.
    const marker = () => 1;
    expect(path.evaluate({ user: { id: marker } })).toBe(marker);
  });

  it('matches CEL on missing fields: missing_field with the segment position', () => {
    const path = compile('user.id');
    const missingNested = evalError(path, { user: {} });
    expect(missingNested).toMatchObject({ phase: 'evaluate', code: 'missing_field' });
    expect(missingNested.position).toEqual({ offset: 5, line: 1, column: 6 });
    expect(missingNested.summary).toBe("missing field 'user.id'");
    expect(evalError(path, {}).code).toBe('missing_field');
    expect(evalError(path, { user: null }).code).toBe('missing_field');
    expect(evalError(path, { user: 'x' }).summary).toContain('string, not a map');
    expect(evalError(path, { user: [1] }).code).toBe('missing_field');
    // Inherited properties are not fields.
    expect(evalError(compile('toString'), {}).code).toBe('missing_field');
  });
});

describe('missing fields in CEL expressions', () => {
  it('are evaluation errors, never a silent true or false', () => {
    const filter = compile("amount > 0 && action != 'test'", { expect: 'bool' });
    const error = evalError(filter, { amount: 1 });
    expect(error).toMatchObject({ phase: 'evaluate', code: 'missing_field' });
    expect(error.position).toEqual({ offset: 14, line: 1, column: 15 });
    expect(() => filter.test({ amount: 1 })).toThrow(ExpressionError);
    expect(evalError(compile('user.age > 3'), event).code).toBe('missing_field');
  });

  it('short-circuits like CEL: a decided && or || does not need the other side', () => {
    const filter = compile("amount > 0 && action != 'test'", { expect: 'bool' });
    expect(filter.test({ amount: 0 })).toBe(false);
  });

  it('can be guarded with has() for nested fields', () => {
    const guarded = compile('has(user.age) ? user.age > 18 : false');
    expect(guarded.evaluate(event)).toBe(false);
    expect(guarded.evaluate({ user: { age: 20 } })).toBe(true);
  });

  it('tryEvaluate returns the error instead of throwing', () => {
    const result = compile('user.age').tryEvaluate(event);
    expect(result).toEqual({ ok: false, error: expect.any(ExpressionError) });
    expect(compile('user.id').tryEvaluate(event)).toEqual({ ok: true, value: 7 });
  });
});

describe('evaluation errors', () => {
  it('wrap every engine failure in ExpressionError with the position', () => {
    const error = evalError(compile('user_id + 1'), event);
    expect(error).toMatchObject({ phase: 'evaluate', code: 'no_such_overload' });
    expect(error.position?.offset).toBe(0);
    expect(error.message).toMatch(/^line 1, column 1: /);
    expect(evalError(compile('user.tags[5]'), event).code).toBe('index_out_of_bounds');
  });

  it('test() refuses non-bool results', () => {
    expect(thrown(() => compile('user.name').test(event))).toMatchObject({
      code: 'not_bool',
      summary: 'expected a bool, got string',
    });
  });
});

describe('key()', () => {
  it('gives canonical text for scalars', () => {
    expect(compile('event_id').key(event)).toBe('e-1');
    expect(compile('user.id').key(event)).toBe('7');
    expect(compile('int(amount)').key(event)).toBe('5');
    expect(compile('price').key(event)).toBe('5.5');
    expect(compile("user_id + ':' + project").key(event)).toBe('u-7:p-1');
    expect(compile('amount > 1').key(event)).toBe('true');
  });

  it.each([
    ['nothing', 'null'],
    ['user', 'map'],
    ['user.tags', 'list'],
  ])('refuses %s (%s)', (source, type) => {
    const error = thrown(() => compile(source).key(event));
    expect(error.code).toBe('invalid_key');
    expect(error.summary).toContain(type);
  });
});

describe('compile errors carry code, message and position', () => {
  it.each([
    ['amount >', 'unexpected_token', { offset: 8, line: 1, column: 9 }],
    ['"abc', 'unterminated_string', { offset: 0, line: 1, column: 1 }],
    ['amount > 0 &&\n  action == )', 'unexpected_token', { offset: 26, line: 2, column: 13 }],
    ["1 + 'a'", 'no_such_overload', { offset: 0, line: 1, column: 1 }],
    ['nosuchfn(amount)', 'no_matching_overload', { offset: 0, line: 1, column: 1 }],
  ])('%j', (source, code, position) => {
    const error = compileError(source);
    expect(error).toBeInstanceOf(ExpressionError);
    expect(error).toMatchObject({ phase: 'compile', code, position, expression: source });
    expect(error.message).toBe(
      `line ${position.line}, column ${position.column}: ${error.summary}`,
    );
  });

  it('refuses empty and overlong expressions', () => {
    expect(compileError('  ').code).toBe('empty');
    expect(compileError('a'.repeat(5000)).code).toBe('too_long');
  });

  it('refuses non-bool filters when the type is known', () => {
    expect(compileError("'yes'", { expect: 'bool' })).toMatchObject({
      code: 'not_bool',
      summary: 'expected a bool expression, this one gives string',
    });
    expect(compile('flag', { expect: 'bool' }).type).toBe('dyn');
  });
});

describe('join scope', () => {
  const pair = { left: { id: 1, amount: 2 }, right: { id: 1.0, name: 'Ann' } };

  it('exposes left and right', () => {
    expect(compile('left.id == right.id', { scope: 'join' }).test(pair)).toBe(true);
    expect(
      compile("right.name + '/' + string(left.amount)", { scope: 'join' }).evaluate(pair),
    ).toBe('Ann/2');
    const path = compile('right.name', { scope: 'join' });
    expect(path.fieldPath).toEqual(['right', 'name']);
    expect(path.evaluate(pair)).toBe('Ann');
  });

  it('refuses bare fields at compile time', () => {
    const error = compileError('amount > 0', { scope: 'join' });
    expect(error).toMatchObject({ code: 'unknown_variable', position: { offset: 0 } });
    expect(error.summary).toContain('amount');
  });

  it('an unmatched side passed as {} can be tested with has()', () => {
    const expr = compile("has(right.name) ? right.name : 'none'", { scope: 'join' });
    expect(expr.evaluate({ left: pair.left, right: {} })).toBe('none');
    expect(evalError(compile('right.name', { scope: 'join' }), { left: {}, right: {} }).code).toBe(
      'missing_field',
    );
  });

  it('lists the variables read', () => {
    expect([...compile('left.a + right.b', { scope: 'join' }).roots]).toEqual(['left', 'right']);
    expect([...compile('left.a', { scope: 'join' }).roots]).toEqual(['left']);
  });
});

describe('roots', () => {
  it.each([
    ["amount > 0 && action != 'test'", ['amount', 'action']],
    ['items.map(x, x + offset)', ['items', 'offset']],
    ['items.exists(x, x > 1)', ['items']],
    ['cel.bind(t, a + b, t * t)', ['a', 'b']],
    ['1 + 2', []],
  ])('%s reads %p', (source, roots) => {
    expect([...compile(source).roots].sort()).toEqual([...roots].sort());
  });
});

describe('expect: key', () => {
  it.each(['event_id', "user_id + ':' + project", 'int(amount)', 'price', 'amount > 1'])(
    'accepts %s',
    (source) => {
      expect(compileExpression(source, { expect: 'key' }).ok).toBe(true);
    },
  );

  it.each(['[event_id]', '{"a": 1}', 'null', 'b"x"'])('refuses %s', (source) => {
    expect(compileError(source, { expect: 'key' }).code).toBe('invalid_key');
  });
});
