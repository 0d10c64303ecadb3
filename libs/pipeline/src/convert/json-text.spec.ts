import { jsonFieldValue, jsonKeyOrder, jsonString } from './json-text';
import { OMIT_COLUMN, RowBuilder, type TableColumn } from './row-builder';

/** What jsonLine must equal: the Row path's bytes, or its error. */
function viaRow(builder: RowBuilder, event: Record<string, unknown>, values?: unknown[]): string {
  return `${JSON.stringify(builder.build(event, values))}\n`;
}

function outcome(run: () => string): string {
  try {
    return run();
  } catch (err) {
    return `threw ${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

const TRICKY_STRINGS = [
  '',
  'plain',
  'quote " and \\ backslash',
  'controls \u0000\u0001\b\f\n\r\t\u001f end',
  '\u007f del and \u2028 \u2029 separators',
  'é ü 中文 \u{1F600} paired surrogates',
  'lone high \ud800 here',
  'lone low \udc00 here',
  'reversed \udc00\ud800',
  '\ud83d',
  '</script>',
];

describe('jsonString and jsonFieldValue', () => {
  it('write exactly what JSON.stringify writes', () => {
    for (const s of TRICKY_STRINGS) expect(jsonString(s)).toBe(JSON.stringify(s));
    const values: unknown[] = [
      ...TRICKY_STRINGS,
      0,
      -0,
      1.5,
      -1e-7,
      1e21,
      2 ** 53 + 2,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      NaN,
      Infinity,
      -Infinity,
      true,
      false,
      null,
      [1, 'a', null, [NaN], { b: undefined }],
      { nested: { 'k"': '\u0000' }, list: [] },
      new Date(0),
      Object.create(null) as object,
    ];
    for (const v of values) {
      expect(`{"f":${jsonFieldValue(v)}}`).toBe(JSON.stringify({ f: v }));
    }
  });

  it('leaves out what JSON.stringify leaves out, and throws what it throws', () => {
    for (const v of [undefined, () => 1, Symbol('s'), { toJSON: () => undefined }]) {
      expect(jsonFieldValue(v)).toBeUndefined();
      expect(JSON.stringify({ f: v })).toBe('{}');
    }
    expect(() => jsonFieldValue(1n)).toThrow(TypeError);
  });

  it('matches random UTF-16 text, surrogates and controls included', () => {
    let state = 42;
    const next = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state;
    };
    const pool = [0, 0x1f, 0x22, 0x5c, 0x41, 0x7f, 0xe9, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xfffd];
    for (let n = 0; n < 2000; n++) {
      const units = Array.from({ length: next() % 12 }, () => pool[next() % pool.length] as number);
      const s = String.fromCharCode(...units);
      expect(jsonString(s)).toBe(JSON.stringify(s));
    }
  });

  it('writes large integers as Number::toString does, at every split edge', () => {
    const edges = [
      1e9,
      1e9 + 1,
      2 ** 31,
      2 ** 32 - 1,
      1e15,
      1795258800123,
      Number.MAX_SAFE_INTEGER,
    ];
    for (let k = 1e9; k <= 1e16; k *= 10) edges.push(k - 1, k, k + 1);
    for (let k = 1; k < 90_071_992; k = Math.ceil(k * 1.37) + 1) {
      const base = k * 1e8;
      for (const n of [base - 1, base, base + 1, base + 99_999_999]) {
        if (n >= 1e9 && n <= Number.MAX_SAFE_INTEGER) edges.push(n);
      }
    }
    let state = 7;
    for (let i = 0; i < 20_000; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      edges.push(Math.floor((state / 2 ** 32) * Number.MAX_SAFE_INTEGER));
      edges.push(1e12 + state);
    }
    for (const n of edges) expect(jsonFieldValue(n)).toBe(JSON.stringify(n));
    expect(jsonFieldValue(2 ** 53)).toBe('9007199254740992');
    expect(jsonFieldValue(1e21)).toBe('1e+21');
    expect(jsonFieldValue(-1795258800123)).toBe('-1795258800123');
  });

  it('orders keys as the engine does: array indexes first, then insertion order', () => {
    const names = ['b', '10', 'a', '2', '__proto__', '-1', '01', '4294967295', '4294967294'];
    const order = jsonKeyOrder(names).map((i) => names[i]);
    expect(order).toEqual([
      '2',
      '10',
      '4294967294',
      'b',
      'a',
      '__proto__',
      '-1',
      '01',
      '4294967295',
    ]);
  });
});

describe('RowBuilder.jsonLine', () => {
  const columns: TableColumn[] = [
    { name: 'event_id', type: 'String', defaultKind: '' },
    { name: 'ts', type: "DateTime64(3, 'UTC')", defaultKind: '' },
    { name: 'n', type: 'Nullable(Int64)', defaultKind: '' },
    { name: 'f', type: 'Float64', defaultKind: '' },
    { name: 'ok', type: 'Bool', defaultKind: '' },
    { name: 'd', type: 'Decimal(10, 2)', defaultKind: '' },
    { name: 'tags', type: 'Array(String)', defaultKind: '' },
    { name: 'attrs', type: 'Map(String, UInt8)', defaultKind: '' },
    { name: 'pair', type: 'Tuple(a String, b UInt8)', defaultKind: '' },
    { name: 'doc', type: 'JSON', defaultKind: '' },
    { name: 'src', type: 'LowCardinality(String)', defaultKind: 'DEFAULT' },
    { name: 'day', type: 'Date', defaultKind: 'MATERIALIZED' },
    { name: '1', type: 'String', defaultKind: 'DEFAULT' },
    { name: '0', type: 'UInt8', defaultKind: 'DEFAULT' },
    { name: '__proto__', type: 'String', defaultKind: 'DEFAULT' },
    { name: 'constructor', type: 'String', defaultKind: 'DEFAULT' },
    { name: 'we"ird\n', type: 'String', defaultKind: 'DEFAULT' },
    { name: 'v', type: 'Variant(String, UInt8)', defaultKind: 'DEFAULT' },
    { name: 'computed', type: 'Int32', defaultKind: '' },
  ];
  const plain = RowBuilder.compile(columns.slice(0, -1));
  const transformed = RowBuilder.compile(columns, ['computed', 'n', 'src']);

  const events: Record<string, unknown>[] = [
    { event_id: 'e1', ts: '2026-11-21T11:00:00.123Z', n: 5, f: 1.5, ok: true },
    { event_id: 'e2', ts: 1763722800123, n: null, f: 'nan', ok: 'false', d: '12.345' },
    { event_id: 'é\u{1F600}"\\\n\ud800', ts: '2026-11-21 11:00:00', f: '-inf', d: 1e-7 },
    { event_id: 'x', ts: 0, f: -0, tags: ['a', 'b"'], attrs: { k: 1, '"': 2 }, pair: ['p', 3] },
    { event_id: 'y', ts: 1, f: 2, pair: { a: 'q', b: 4 }, doc: { a: { b: [1, null, 'x'] } } },
    { event_id: 'z', ts: 2, f: 3, doc: '{"s":"t\\u0000"}', src: null, '1': 'one', '0': 1 },
    { event_id: 'p', ts: 3, f: 4, constructor: 'c', 'we"ird\n': 'w' },
    JSON.parse('{"event_id":"q","ts":4,"f":5,"__proto__":"proto"}') as Record<string, unknown>,
    { event_id: 'u', ts: 5, f: 6, extra: 'ignored', day: '2026-01-01' },
    {},
    { event_id: 'bad', ts: 'not a time', f: 1 },
    { event_id: 'v', ts: 6, f: 1, v: 'carries an unsupported column' },
    { event_id: 'null', ts: null, f: 1 },
    { event_id: 'two bad', ts: 'x', f: 'y' },
  ];
  const transformValues: unknown[][] = [
    [1, 2, 'web'],
    [OMIT_COLUMN, null, null],
    [undefined, 3n, OMIT_COLUMN],
    [2 ** 40, 'x', 'a'],
    [null, 1, 'b'],
  ];

  it('writes the same bytes as JSON.stringify of the built row, and the same errors', () => {
    for (const event of events) {
      expect(outcome(() => plain.jsonLine(event))).toBe(outcome(() => viaRow(plain, event)));
      for (const values of transformValues) {
        expect(outcome(() => transformed.jsonLine(event, values))).toBe(
          outcome(() => viaRow(transformed, event, values)),
        );
      }
    }
    // The cases above do reach rows, omitted fields and errors.
    expect(plain.jsonLine(events[0] as Record<string, unknown>)).toBe(
      '{"event_id":"e1","ts":1795258800123,"n":5,"f":1.5,"ok":true}\n',
    );
    expect(plain.jsonLine({})).toBe('{}\n');
    expect(outcome(() => plain.jsonLine({ ts: 'x' }))).toMatch(/^threw ConversionError/);
  });

  it('writes the strings of string columns as JSON.stringify does, converts all else', () => {
    const strings = RowBuilder.compile([
      { name: 's', type: 'String', defaultKind: '' },
      { name: 'lc', type: 'LowCardinality(String)', defaultKind: '' },
      { name: 'ns', type: 'Nullable(String)', defaultKind: '' },
      { name: 'lcn', type: 'LowCardinality(Nullable(String))', defaultKind: '' },
    ]);
    for (const text of TRICKY_STRINGS) {
      const event = { s: text, lc: text, ns: text, lcn: text };
      expect(strings.jsonLine(event)).toBe(`${JSON.stringify(event)}\n`);
    }
    for (const other of [42, -0, 1e21, true, null, { a: 1 }, [1, 'x'], new Date(0), 10n]) {
      const event = { s: other, lc: other, ns: other, lcn: other };
      expect(outcome(() => strings.jsonLine(event))).toBe(outcome(() => viaRow(strings, event)));
    }
    expect(strings.jsonLine({ s: 7, ns: null })).toBe('{"s":"7","ns":null}\n');
  });

  it('writes each row independently of the one before', () => {
    const first = plain.jsonLine({ event_id: 'a', n: 1, tags: ['t'] });
    expect(plain.jsonLine({ event_id: 'b' })).toBe('{"event_id":"b"}\n');
    expect(first).toBe('{"event_id":"a","n":1,"tags":["t"]}\n');
  });
});
