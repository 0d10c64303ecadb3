import { type TableColumn, checkTransformColumns } from './columns';
import { exampleOrdersPipeline } from './examples';
import { parsePipelineDefinition } from './parse';
import { REDACTED, redactDefinition } from './secrets';

const table: TableColumn[] = [
  { name: 'event_id', type: 'String', defaultKind: '' },
  { name: 'amount_cents', type: 'Int64', defaultKind: '' },
  { name: 'Day', type: 'Date', defaultKind: '' },
  { name: 'total', type: 'Int64', defaultKind: 'MATERIALIZED' },
  { name: 'label', type: 'String', defaultKind: 'ALIAS' },
  { name: 'raw', type: 'String', defaultKind: 'EPHEMERAL' },
  { name: 'inserted_at', type: 'DateTime', defaultKind: 'DEFAULT' },
];

function definition() {
  const result = parsePipelineDefinition(exampleOrdersPipeline());
  if (!result.ok) throw new Error('example must parse');
  return result.definition.definition;
}

describe('checkTransformColumns', () => {
  it('accepts columns the table has, including DEFAULT and EPHEMERAL ones', () => {
    const def = { transform: { columns: { amount_cents: 'x', raw: 'x', inserted_at: 'x' } } };
    expect(checkTransformColumns(def, table)).toEqual([]);
    expect(checkTransformColumns({}, table)).toEqual([]);
  });

  it('reports columns missing from the table by path, with a case hint', () => {
    expect(checkTransformColumns(definition(), table)).toEqual([
      {
        path: 'transform.columns.day',
        message: 'column "day" does not exist in the table; did you mean "Day"?',
      },
    ]);
    expect(checkTransformColumns({ transform: { columns: { 'no such': 'x' } } }, table)).toEqual([
      {
        path: 'transform.columns["no such"]',
        message: 'column "no such" does not exist in the table',
      },
    ]);
  });

  it('reports MATERIALIZED and ALIAS columns, which cannot be inserted', () => {
    const def = { transform: { columns: { total: 'x', label: 'x' } } };
    expect(checkTransformColumns(def, table)).toEqual([
      {
        path: 'transform.columns.total',
        message: 'column "total" is MATERIALIZED and cannot be written',
      },
      { path: 'transform.columns.label', message: 'column "label" is ALIAS and cannot be written' },
    ]);
  });
});

describe('redactDefinition', () => {
  it('hides passwords and TLS keys and leaves the rest', () => {
    const def = definition();
    const secret = {
      ...def,
      source: {
        ...def.source,
        kafka: {
          ...def.source.kafka,
          sasl: { mechanism: 'PLAIN' as const, username: 'u', password: 'p' },
          ssl: { key: 'PRIVATE', cert: 'CERT', rejectUnauthorized: true },
        },
      },
      sink: { clickhouse: { ...def.sink.clickhouse, password: 'ch' } },
    };
    const shown = redactDefinition(secret);
    expect(shown.source.kafka.sasl).toEqual({
      mechanism: 'PLAIN',
      username: 'u',
      password: REDACTED,
    });
    expect(shown.source.kafka.ssl).toEqual({
      key: REDACTED,
      cert: 'CERT',
      rejectUnauthorized: true,
    });
    expect(shown.sink.clickhouse.password).toBe(REDACTED);
    expect(secret.sink.clickhouse.password).toBe('ch');
    expect(redactDefinition(def)).toEqual(def);
  });
});
