import { TypeParseError } from './errors';
import { isNullable, parseType } from './types';

describe('parseType', () => {
  it.each([
    ['String', { kind: 'String' }],
    ['FixedString(16)', { kind: 'FixedString', length: 16 }],
    ['UInt8', { kind: 'Int', bits: 8, signed: false }],
    ['Int256', { kind: 'Int', bits: 256, signed: true }],
    ['Float32', { kind: 'Float', bits: 32 }],
    ['Decimal(18, 4)', { kind: 'Decimal', precision: 18, scale: 4 }],
    ['Decimal(10)', { kind: 'Decimal', precision: 10, scale: 0 }],
    ['Decimal64(3)', { kind: 'Decimal', precision: 18, scale: 3 }],
    ['Decimal256(10)', { kind: 'Decimal', precision: 76, scale: 10 }],
    ['Bool', { kind: 'Bool' }],
    ['UUID', { kind: 'UUID' }],
    ['Date32', { kind: 'Date32' }],
    ['DateTime', { kind: 'DateTime', timezone: undefined }],
    ["DateTime('Asia/Tokyo')", { kind: 'DateTime', timezone: 'Asia/Tokyo' }],
    ['DateTime64(3)', { kind: 'DateTime64', precision: 3, timezone: undefined }],
    ["DateTime64(6, 'UTC')", { kind: 'DateTime64', precision: 6, timezone: 'UTC' }],
    ['IPv6', { kind: 'IPv6' }],
    ['JSON', { kind: 'JSON' }],
    ['SimpleAggregateFunction(sum, UInt64)', { kind: 'Int', bits: 64, signed: false }],
    [
      'SimpleAggregateFunction(anyLast(1), Nullable(String))',
      { kind: 'Nullable', inner: { kind: 'String' } },
    ],
  ])('%s', (text, expected) => {
    expect(parseType(text)).toEqual(expected);
  });

  it('nests wrappers and containers', () => {
    expect(parseType('Map(LowCardinality(String), Array(Nullable(Int32)))')).toEqual({
      kind: 'Map',
      key: { kind: 'LowCardinality', inner: { kind: 'String' } },
      value: {
        kind: 'Array',
        element: { kind: 'Nullable', inner: { kind: 'Int', bits: 32, signed: true } },
      },
    });
  });

  it('reads enums with quotes, escapes and negative values', () => {
    const type = parseType("Enum16('x y' = -5, 'q\\'z' = 300, 'a''b' = 1)");
    expect(type).toEqual({
      kind: 'Enum',
      bits: 16,
      values: new Map([
        ['x y', -5],
        ["q'z", 300],
        ["a'b", 1],
      ]),
    });
  });

  it('reads named tuples across newlines as DESCRIBE prints them', () => {
    expect(parseType('Tuple(\n    a Int32,\n    b String)')).toEqual({
      kind: 'Tuple',
      elements: [{ kind: 'Int', bits: 32, signed: true }, { kind: 'String' }],
      names: ['a', 'b'],
    });
    expect(parseType('Tuple(UInt8, String)')).toMatchObject({ names: undefined });
  });

  it.each([
    'Nope',
    'Int33',
    'Array(',
    'Array(Int8',
    'Array(Int8))',
    'DateTime64(10)',
    'Decimal(5, 6)',
    'Variant(String, UInt64)',
    "Enum8('a')",
    'FixedString',
    'String(3)',
  ])('refuses %s with TypeParseError', (text) => {
    expect(() => parseType(text)).toThrow(TypeParseError);
  });

  it('knows which types accept NULL', () => {
    expect(isNullable(parseType('Nullable(String)'))).toBe(true);
    expect(isNullable(parseType('LowCardinality(Nullable(String))'))).toBe(true);
    expect(isNullable(parseType('Array(Nullable(String))'))).toBe(false);
  });
});
