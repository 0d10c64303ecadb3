import { ConversionError, SchemaError } from './errors';
import { RowBuilder, type TableColumn } from './row-builder';

const columns: TableColumn[] = [
  { name: 'event_id', type: 'String', defaultKind: '' },
  { name: 'amount_cents', type: 'Int64', defaultKind: '' },
  { name: 'ts', type: 'DateTime64(3)', defaultKind: '' },
  { name: 'note', type: 'Nullable(String)', defaultKind: '' },
  { name: 'source', type: 'LowCardinality(String)', defaultKind: 'DEFAULT' },
  { name: 'day', type: 'Date', defaultKind: 'MATERIALIZED' },
  { name: 'id_len', type: 'UInt64', defaultKind: 'ALIAS' },
  { name: 'raw', type: 'String', defaultKind: 'EPHEMERAL' },
  { name: 'constructor', type: 'String', defaultKind: '' },
];

describe('RowBuilder', () => {
  const builder = RowBuilder.compile(columns, ['amount_cents']);

  it('writes transforms first, then same-named event fields, omitting absent ones', () => {
    const row = builder.build(
      {
        event_id: 'e1',
        amount: 1.5,
        ts: 1700000000123,
        source: 'web',
        day: 'x',
        id_len: 3,
        extra: 1,
      },
      [150n],
    );
    expect(row).toEqual({ amount_cents: 150, event_id: 'e1', ts: 1700000000123, source: 'web' });
    expect(Object.keys(row)).toEqual(['amount_cents', 'event_id', 'ts', 'source']);
  });

  it('prefers the transform over an event field of the same name', () => {
    expect(builder.build({ amount_cents: 1 }, [2])).toEqual({ amount_cents: 2 });
  });

  it('writes EPHEMERAL columns when the event has them', () => {
    expect(builder.build({ raw: 'r' }, [1])).toEqual({ amount_cents: 1, raw: 'r' });
  });

  it('sends null to Nullable, omits it where a DEFAULT exists, refuses it otherwise', () => {
    expect(builder.build({ note: null, source: null }, [1])).toEqual({
      amount_cents: 1,
      note: null,
    });
    expect(() => builder.build({ event_id: null }, [1])).toThrow(
      new ConversionError('event_id', 'null for a column that is not Nullable and has no DEFAULT'),
    );
    expect(() => builder.build({}, [null])).toThrow(ConversionError);
  });

  it('names the column and reason of a value that does not fit', () => {
    let caught: unknown;
    try {
      builder.build({ ts: 'tomorrow' }, [1]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConversionError);
    expect(caught).toMatchObject({
      column: 'ts',
      reason: expect.stringMatching(/not an ISO 8601/) as unknown,
    });
  });

  it('ignores inherited properties such as constructor', () => {
    expect(builder.build({}, [1])).toEqual({ amount_cents: 1 });
    expect(
      builder.build(JSON.parse('{"constructor":"c"}') as Record<string, unknown>, [1]),
    ).toEqual({
      amount_cents: 1,
      constructor: 'c',
    });
  });

  it('refuses transforms into unknown, computed or doubled columns', () => {
    expect(() => RowBuilder.compile(columns, ['nope'])).toThrow(
      new SchemaError('nope', 'the table has no such column'),
    );
    expect(() => RowBuilder.compile(columns, ['day'])).toThrow(/MATERIALIZED/);
    expect(() => RowBuilder.compile(columns, ['id_len'])).toThrow(/ALIAS/);
    expect(() => RowBuilder.compile(columns, ['note', 'note'])).toThrow(/twice/);
  });

  it('lists columns it cannot fill and dead-letters events that carry them', () => {
    const odd = RowBuilder.compile([
      ...columns,
      { name: 'v', type: 'Variant(String, UInt8)', defaultKind: '' },
    ]);
    expect(odd.unsupportedColumns.map((e) => e.column)).toEqual(['v']);
    expect(odd.build({ event_id: 'a' })).toEqual({ event_id: 'a' });
    expect(() => odd.build({ v: 'a' })).toThrow(ConversionError);
    expect(() =>
      RowBuilder.compile(columns.concat({ name: 'v', type: 'Variant(String)', defaultKind: '' }), [
        'v',
      ]),
    ).toThrow(SchemaError);
  });
});
