import { randomUUID } from 'node:crypto';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import {
  ClickHouseInserter,
  ClickHouseSchema,
  classifyInsertError,
  refusedRowOf,
  suggestsSchemaChange,
  UnknownTableError,
} from '@sluice/clickhouse';
// The convert entry point alone: the package index also loads the CEL engine, not needed here.
import { parseType, RowBuilder } from '@sluice/pipeline/convert';

// The global setup exports the stack's env (CLICKHOUSE_URL) into process.env.
const url = process.env.CLICKHOUSE_URL;
if (!url) throw new Error('CLICKHOUSE_URL is not set: the integration global setup did not run');

const DB = `sluice_it_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
let client: ClickHouseClient;
let schema: ClickHouseSchema;
let inserter: ClickHouseInserter;
let seq = 0;

/** A table name of its own for each test. */
const unique = (prefix: string): string => `${prefix}_${++seq}_${Date.now().toString(36)}`;

async function run(query: string): Promise<void> {
  await client.command({ query, clickhouse_settings: { wait_end_of_query: 1 } });
}

async function rows<T>(query: string, settings = {}): Promise<T[]> {
  const result = await client.query({
    query,
    format: 'JSONEachRow',
    clickhouse_settings: settings,
  });
  return result.json<T>();
}

async function count(table: string): Promise<number> {
  const [row] = await rows<{ n: string }>(`SELECT count() AS n FROM ${DB}.${table}`);
  return Number(row?.n);
}

const ALL_TYPES = `(
  id UInt32,
  s String,
  fs FixedString(4),
  lc LowCardinality(String),
  lcn LowCardinality(Nullable(String)),
  n Nullable(Int32),
  i8 Int8, i16 Int16, i32 Int32, i64 Int64, i128 Int128, i256 Int256,
  u8 UInt8, u16 UInt16, u32 UInt32, u64 UInt64, u128 UInt128, u256 UInt256,
  f32 Float32, f64 Float64,
  d Decimal(18, 4), d32 Decimal32(2), d128 Decimal128(10), d256 Decimal256(20),
  b Bool,
  uuid UUID,
  day Date, day32 Date32,
  t DateTime, ttz DateTime('Asia/Tokyo'),
  t3 DateTime64(3), t6tz DateTime64(6, 'America/New_York'), t9 DateTime64(9, 'UTC'),
  arr Array(Nullable(Int32)),
  m Map(String, Array(UInt64)),
  e8 Enum8('a' = 1, 'b' = 2), e16 Enum16('x y' = -5, 'q''z' = 300),
  ip4 IPv4, ip6 IPv6,
  dflt UInt64 DEFAULT 42,
  mat UInt64 MATERIALIZED u64 * 2,
  al UInt64 ALIAS u64 + 1
)`;

beforeAll(async () => {
  client = createClient({ url, log: { level: ClickHouseLogLevel.OFF } });
  schema = new ClickHouseSchema(client);
  inserter = new ClickHouseInserter(client);
  await run(`CREATE DATABASE ${DB}`);
});

afterAll(async () => {
  await run(`DROP DATABASE IF EXISTS ${DB}`).catch(() => undefined);
  await client.close();
});

describe('ClickHouse adapter', () => {
  it('describes every supported type, and each parses', async () => {
    const table = unique('types');
    await run(`CREATE TABLE ${DB}.${table} ${ALL_TYPES} ENGINE = MergeTree ORDER BY id`);
    const columns = await schema.describeTable(DB, table);
    expect(columns.find((c) => c.name === 'd32')).toMatchObject({
      type: 'Decimal(9, 2)',
      defaultKind: '',
    });
    expect(columns.find((c) => c.name === 'dflt')).toMatchObject({
      defaultKind: 'DEFAULT',
      defaultExpression: '42',
    });
    expect(columns.find((c) => c.name === 'mat')?.defaultKind).toBe('MATERIALIZED');
    expect(columns.find((c) => c.name === 'al')?.defaultKind).toBe('ALIAS');
    expect(columns.find((c) => c.name === 'e16')?.type).toBe("Enum16('x y' = -5, 'q\\'z' = 300)");
    for (const column of columns) expect(() => parseType(column.type)).not.toThrow();
    expect(RowBuilder.compile(columns).unsupportedColumns).toEqual([]);
  });

  it('refuses an unknown database or table with a typed error', async () => {
    await expect(schema.describeTable(`${DB}_nope`, 't')).rejects.toMatchObject({
      name: 'UnknownTableError',
      missing: 'database',
    });
    await expect(schema.describeTable(DB, 'nope')).rejects.toBeInstanceOf(UnknownTableError);
    await expect(schema.checkExactlyOnce(DB, 'nope')).rejects.toMatchObject({ missing: 'table' });
  });

  it('inserts a converted row of every type and reads it back equal', async () => {
    const table = unique('roundtrip');
    await run(
      `CREATE TABLE ${DB}.${table} ${ALL_TYPES} ENGINE = MergeTree ORDER BY id
       SETTINGS non_replicated_deduplication_window = 100`,
    );
    const builder = RowBuilder.compile(await schema.describeTable(DB, table), ['s']);
    const fromStrings = {
      id: 1,
      fs: 'abcd',
      lc: 'x',
      lcn: null,
      n: '-7',
      i8: -128,
      i16: '32767',
      i32: -2147483648,
      i64: '-9223372036854775808',
      i128: '-170141183460469231731687303715884105728',
      i256: 2n ** 200n,
      u8: 255,
      u16: 65535,
      u32: 4294967295,
      u64: '18446744073709551615',
      u128: 2n ** 128n - 1n,
      u256: '1',
      f32: 1.5,
      f64: 'NaN',
      d: 0.1 + 0.2,
      d32: '-1234567.891',
      d128: '12345678901234567890.1234567891',
      d256: '1e-20',
      b: 'true',
      uuid: '123e4567-e89b-12d3-a456-426614174000',
      day: '2024-02-29',
      day32: '1900-01-01',
      t: '2023-11-14T22:13:20Z',
      ttz: '2023-11-15 07:13:20',
      t3: '2023-11-14T22:13:20.123456+00:00',
      t6tz: '2023-11-14 17:13:20.654321',
      t9: '1969-12-31T23:59:59.999999999Z',
      arr: [1, null, '3'],
      m: { k: [1, 2n], '': [] },
      e8: 'b',
      e16: 300,
      ip4: '10.1.2.3',
      ip6: '2001:db8::1',
      mat: 5,
      al: 6,
    };
    const fromEpochs = {
      id: 2,
      fs: 'ab',
      lc: 'y',
      lcn: 'z',
      u64: 0,
      f64: -Infinity,
      d: 5,
      b: 0,
      uuid: '00000000-0000-0000-0000-000000000000',
      day: 1700000000123,
      day32: -86400,
      t: 1700000000,
      ttz: 1700000000123,
      t3: 1700000000.5,
      t6tz: 1700000000123456n,
      t9: '2262-04-11T23:47:16.854775807Z',
      arr: [],
      m: new Map([['a', [18446744073709551615n]]]),
      e8: 1,
      e16: 'x y',
      ip4: 167772161,
      ip6: '1.2.3.4',
    };
    const rowsIn = [builder.build(fromStrings, ['hello']), builder.build(fromEpochs, [12345])];
    await inserter.insertBatch(DB, table, rowsIn, randomUUID());

    const out = await rows<Record<string, unknown>>(
      `SELECT *, mat, al FROM ${DB}.${table} ORDER BY id`,
      {
        output_format_json_quote_64bit_integers: 1,
        output_format_json_quote_decimals: 1,
        output_format_json_quote_denormals: 1,
        date_time_output_format: 'iso',
      },
    );
    expect(out[0]).toEqual({
      id: 1,
      s: 'hello',
      fs: 'abcd',
      lc: 'x',
      lcn: null,
      n: -7,
      i8: -128,
      i16: 32767,
      i32: -2147483648,
      i64: '-9223372036854775808',
      i128: '-170141183460469231731687303715884105728',
      i256: (2n ** 200n).toString(),
      u8: 255,
      u16: 65535,
      u32: 4294967295,
      u64: '18446744073709551615',
      u128: (2n ** 128n - 1n).toString(),
      u256: '1',
      f32: 1.5,
      f64: 'nan',
      d: '0.3',
      d32: '-1234567.89',
      d128: '12345678901234567890.1234567891',
      d256: '0.00000000000000000001',
      b: true,
      uuid: '123e4567-e89b-12d3-a456-426614174000',
      day: '2024-02-29',
      day32: '1900-01-01',
      t: '2023-11-14T22:13:20Z',
      ttz: '2023-11-14T22:13:20Z',
      t3: '2023-11-14T22:13:20.123Z',
      t6tz: '2023-11-14T22:13:20.654321Z',
      t9: '1969-12-31T23:59:59.999999999Z',
      arr: [1, null, 3],
      m: { k: ['1', '2'], '': [] },
      e8: 'b',
      e16: "q'z",
      ip4: '10.1.2.3',
      ip6: '2001:db8::1',
      dflt: '42',
      mat: '18446744073709551614',
      al: '0',
    });
    expect(out[1]).toMatchObject({
      s: '12345',
      fs: 'ab\u0000\u0000',
      lcn: 'z',
      n: null,
      i8: 0,
      u64: '0',
      f64: '-inf',
      d: '5',
      b: false,
      day: '2023-11-14',
      day32: '1969-12-31',
      t: '2023-11-14T22:13:20Z',
      ttz: '2023-11-14T22:13:20Z',
      t3: '2023-11-14T22:13:20.500Z',
      t6tz: '2023-11-14T22:13:20.123456Z',
      t9: '2262-04-11T23:47:16.854775807Z',
      arr: [],
      m: { a: ['18446744073709551615'] },
      e8: 'a',
      e16: 'x y',
      ip4: '10.0.0.1',
      ip6: '::ffff:1.2.3.4',
      dflt: '42',
      mat: '0',
      al: '1',
    });
  });

  it('lands a batch once when its token is inserted twice, across partitions', async () => {
    const table = unique('dedup');
    await run(
      `CREATE TABLE ${DB}.${table} (k UInt64, p UInt8) ENGINE = MergeTree ORDER BY k PARTITION BY p
       SETTINGS non_replicated_deduplication_window = 100`,
    );
    const batch = Array.from({ length: 3000 }, (_, i) => ({ k: i, p: i % 3 }));
    const token = randomUUID();
    await inserter.insertBatch(DB, table, batch, token);
    await inserter.insertBatch(DB, table, batch, token);
    expect(await count(table)).toBe(3000);
    await inserter.insertBatch(DB, table, batch, randomUUID());
    expect(await count(table)).toBe(6000);
  });

  it('refuses a MergeTree without a window with the ALTER to run, and accepts it after', async () => {
    const table = unique('nowindow');
    await run(`CREATE TABLE ${DB}.${table} (k UInt64) ENGINE = MergeTree ORDER BY k`);
    const problems = await schema.checkExactlyOnce(DB, table);
    const fix = `ALTER TABLE ${DB}.${table} MODIFY SETTING non_replicated_deduplication_window = 1000`;
    expect(problems).toEqual([
      { table: `${DB}.${table}`, message: expect.stringContaining(fix) as unknown, fix },
    ]);
    await run(fix);
    expect(await schema.checkExactlyOnce(DB, table)).toEqual([]);
  });

  it('refuses engines that cannot deduplicate', async () => {
    const table = unique('memory');
    await run(`CREATE TABLE ${DB}.${table} (k UInt64) ENGINE = Memory`);
    const [problem] = await schema.checkExactlyOnce(DB, table);
    expect(problem?.message).toMatch(/Memory engine cannot deduplicate inserts/);
  });

  it('names a materialized view target that lacks a window, and deduplicates the ones that have it', async () => {
    const source = unique('src');
    const good = unique('good');
    const bad = unique('bad');
    const window = 'SETTINGS non_replicated_deduplication_window = 100';
    await run(`CREATE TABLE ${DB}.${source} (k UInt64) ENGINE = MergeTree ORDER BY k ${window}`);
    await run(`CREATE TABLE ${DB}.${good} (k UInt64) ENGINE = MergeTree ORDER BY k ${window}`);
    await run(`CREATE TABLE ${DB}.${bad} (k UInt64) ENGINE = MergeTree ORDER BY k`);
    await run(
      `CREATE MATERIALIZED VIEW ${DB}.${good}_mv TO ${DB}.${good} AS SELECT k FROM ${DB}.${source}`,
    );
    await run(
      `CREATE MATERIALIZED VIEW ${DB}.${bad}_mv TO ${DB}.${bad} AS SELECT k FROM ${DB}.${source}`,
    );
    await run(
      `CREATE MATERIALIZED VIEW ${DB}.${source}_inner ENGINE = MergeTree ORDER BY k AS SELECT k FROM ${DB}.${source}`,
    );

    const problems = await schema.checkExactlyOnce(DB, source);
    expect(problems.map((p) => [p.table, p.view])).toEqual(
      expect.arrayContaining([
        [`${DB}.${bad}`, `${DB}.${bad}_mv`],
        [expect.stringMatching(/\.inner_id\./) as unknown, `${DB}.${source}_inner`],
      ]),
    );
    expect(problems).toHaveLength(2);
    const badProblem = problems.find((p) => p.table === `${DB}.${bad}`);
    expect(badProblem?.message).toContain(
      `ALTER TABLE ${DB}.${bad} MODIFY SETTING non_replicated_deduplication_window = 1000`,
    );

    // The check is right about what ClickHouse does: a retried insert doubles only `bad`.
    const token = randomUUID();
    await inserter.insertBatch(DB, source, [{ k: 1 }, { k: 2 }], token);
    await inserter.insertBatch(DB, source, [{ k: 1 }, { k: 2 }], token);
    expect([await count(source), await count(good), await count(bad)]).toEqual([2, 2, 4]);

    // Every fix applied (the inner table's quoted name included): nothing left to report.
    for (const problem of problems) if (problem.fix) await run(problem.fix);
    expect(await schema.checkExactlyOnce(DB, source)).toEqual([]);
  });

  it('accepts a Null table whose views all deduplicate', async () => {
    const source = unique('nul');
    const target = unique('nul_target');
    await run(`CREATE TABLE ${DB}.${source} (k UInt64) ENGINE = Null`);
    expect((await schema.checkExactlyOnce(DB, source))[0]?.message).toMatch(/discards rows/);
    await run(
      `CREATE TABLE ${DB}.${target} (k UInt64) ENGINE = MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 10`,
    );
    await run(
      `CREATE MATERIALIZED VIEW ${DB}.${target}_mv TO ${DB}.${target} AS SELECT k FROM ${DB}.${source}`,
    );
    expect(await schema.checkExactlyOnce(DB, source)).toEqual([]);
  });

  it('classifies real server errors: refused rows (naming the row), schema changes, and a missing table retried', async () => {
    const table = unique('errors');
    await run(
      `CREATE TABLE ${DB}.${table} (k UInt64, CONSTRAINT small CHECK k < 100) ENGINE = MergeTree ORDER BY k`,
    );
    const failure = async (rowsIn: Record<string, unknown>[], name = table): Promise<unknown> =>
      inserter.insertBatch(DB, name, rowsIn, randomUUID()).then(
        () => new Error('insert succeeded'),
        (err: unknown) => err,
      );
    // A column the table does not have: the writer re-describes before calling it bad rows.
    const unknownColumn = await failure([{ k: 1, nope: 2 }]);
    expect(unknownColumn).toMatchObject({ code: '117' });
    expect(classifyInsertError(unknownColumn)).toBe('rows');
    expect(suggestsSchemaChange(unknownColumn)).toBe(true);
    const badValue = await failure([{ k: 1 }, { k: 2 }, { k: 'not a number' }]);
    expect(classifyInsertError(badValue)).toBe('rows');
    expect(refusedRowOf(badValue)).toBe(3);
    const violated = await failure([{ k: 1 }, { k: 500 }, { k: 2 }]);
    expect(violated).toMatchObject({ code: '469' });
    expect(classifyInsertError(violated)).toBe('rows');
    expect(refusedRowOf(violated)).toBe(2);
    const missing = await failure([{ k: 1 }], 'no_such_table');
    expect(missing).toMatchObject({ code: '60' });
    expect(classifyInsertError(missing)).toBe('retry');
    expect(suggestsSchemaChange(missing)).toBe(true);
  });
});
