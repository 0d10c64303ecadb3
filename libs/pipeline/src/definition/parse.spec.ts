import { stringify } from 'yaml';
import { exampleJoinPipeline, exampleOrdersPipeline } from './examples';
import { parsePipelineDefinition } from './parse';
import type { CompiledPipeline } from './compiled';

function compiled(input: unknown, contentType?: 'json' | 'yaml'): CompiledPipeline {
  const result = parsePipelineDefinition(input, contentType);
  if (!result.ok) throw new Error(`unexpected errors: ${JSON.stringify(result.errors)}`);
  return result.definition;
}

const minimal = {
  id: 'clicks',
  source: { kafka: { brokers: ['localhost:9092'] }, topics: [{ name: 'clicks' }] },
  sink: { clickhouse: { url: 'http://localhost:8123', table: 'clicks' } },
};

describe('parsePipelineDefinition: defaults', () => {
  it('fills every default into the normalized definition', () => {
    expect(compiled(minimal).definition).toEqual({
      id: 'clicks',
      source: {
        kafka: { brokers: ['localhost:9092'], sasl: null, ssl: false },
        topics: [{ name: 'clicks', format: 'json', startFrom: 'earliest' }],
        maxFutureEventTime: '1h',
      },
      partitions: 16,
      sink: {
        clickhouse: {
          url: 'http://localhost:8123',
          database: 'default',
          table: 'clicks',
          username: 'default',
          password: '',
          batch: { maxRows: 10000, maxDelay: '1s' },
        },
      },
      dlq: { maxEntries: 100000, maxBytes: 268435456 },
    });
  });

  it('compiles a minimal pipeline: no filter, dedup, join or columns; batch in ms', () => {
    const p = compiled(minimal);
    expect(p.filter).toBeUndefined();
    expect(p.join).toBeUndefined();
    expect(p.columns).toEqual([]);
    expect(p.batch).toEqual({ maxRows: 10000, maxDelayMs: 1000 });
    expect(p.sources.get('clicks')).toMatchObject({ topic: 'clicks', startFrom: 'earliest' });
    expect(p.sources.get('clicks')?.routingKey).toBeUndefined();
  });

  it('defaults TLS rejectUnauthorized to true and upper-cases SASL mechanisms', () => {
    const withKafka = (kafka: Record<string, unknown>) => ({
      ...minimal,
      source: { ...minimal.source, kafka: { ...minimal.source.kafka, ...kafka } },
    });
    const { kafka } = compiled(
      withKafka({
        ssl: { ca: '-----BEGIN CERTIFICATE-----' },
        sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
      }),
    );
    expect(kafka.ssl).toEqual({ ca: '-----BEGIN CERTIFICATE-----', rejectUnauthorized: true });
    expect(kafka.sasl).toEqual({ mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' });
    expect(compiled(withKafka({ ssl: true })).kafka.ssl).toBe(true);
  });

  it('stores OAUTHBEARER and AWS-MSK-IAM upper case with their fields', () => {
    const withKafka = (kafka: Record<string, unknown>) => ({
      ...minimal,
      source: { ...minimal.source, kafka: { ...minimal.source.kafka, ...kafka } },
    });
    const grant = {
      tokenEndpoint: 'https://idp.example/token',
      clientId: 'sluice',
      clientSecret: '${env:KAFKA_CLIENT_SECRET}',
      scope: 'kafka',
    };
    expect(
      compiled(withKafka({ sasl: { mechanism: 'oauthbearer', ...grant } })).kafka.sasl,
    ).toEqual({ mechanism: 'OAUTHBEARER', ...grant });
    expect(
      compiled(withKafka({ sasl: { mechanism: 'OAUTHBEARER', token: 't' } })).kafka.sasl,
    ).toEqual({ mechanism: 'OAUTHBEARER', token: 't' });
    const msk = { region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/sluice' };
    expect(
      compiled(withKafka({ ssl: true, sasl: { mechanism: 'aws-msk-iam', ...msk } })).kafka.sasl,
    ).toEqual({ mechanism: 'AWS-MSK-IAM', ...msk });
  });

  it('treats null optional sections as absent', () => {
    const p = compiled({ ...minimal, filter: null, dedup: null, join: null, transform: null });
    expect(p.definition).toEqual(compiled(minimal).definition);
  });

  it('is idempotent: the normalized definition parses to itself, also after a JSON round trip', () => {
    for (const example of [exampleOrdersPipeline(), exampleJoinPipeline(), minimal]) {
      const first = compiled(example).definition;
      expect(compiled(first).definition).toEqual(first);
      expect(compiled(JSON.stringify(first)).definition).toEqual(first);
    }
  });
});

describe('parsePipelineDefinition: issue 3 example', () => {
  const p = compiled(JSON.stringify(exampleOrdersPipeline()));

  it('compiles filter, dedup, event time and columns', () => {
    expect(p.id).toBe('orders');
    expect(p.partitions).toBe(16);
    expect(p.filter?.test({ amount: 5, action: 'buy' })).toBe(true);
    expect(p.filter?.scope).toBe('event');
    const source = p.sources.get('orders');
    expect(source?.eventTime?.fieldPath).toEqual(['ts']);
    expect(source?.dedup?.windowMs).toBe(86_400_000);
    expect(source?.dedup?.key.fieldPath).toEqual(['event_id']);
    expect(source?.routingKey).toBe(source?.dedup?.key);
    expect(p.columns.map((c) => c.column)).toEqual(['amount_cents', 'day']);
    expect(p.columns[0]?.expression.evaluate({ amount: 12 })).toBe(1200n);
  });

  it('reads the same definition from YAML', () => {
    const yaml = stringify(exampleOrdersPipeline());
    expect(compiled(yaml).definition).toEqual(p.definition);
    expect(compiled(yaml, 'yaml').definition).toEqual(p.definition);
  });

  it('accepts JSON text as YAML and sniffs JSON from a leading brace', () => {
    const json = JSON.stringify(exampleOrdersPipeline(), null, 2);
    expect(compiled(json, 'yaml').definition).toEqual(p.definition);
    expect(compiled(`\n  ${json}`).definition).toEqual(p.definition);
  });

  it('reads hand-written YAML with comments and block scalars', () => {
    const yaml = `
# orders into ClickHouse
id: orders
source:
  kafka:
    brokers: [127.0.0.1:9092]
  topics:
    - name: orders
      eventTime: ts
filter: >-
  amount > 0 &&
  action != 'test'
dedup: { key: event_id, window: 24h }
sink:
  clickhouse:
    url: http://127.0.0.1:8123
    table: orders
`;
    const y = compiled(yaml);
    expect(y.definition.filter).toBe("amount > 0 && action != 'test'");
    expect(y.sources.get('orders')?.dedup?.windowMs).toBe(86_400_000);
  });
});

describe('parsePipelineDefinition: issue 4 join example', () => {
  const p = compiled(exampleJoinPipeline());

  it('compiles the join with windows in ms and lateness', () => {
    expect(p.join).toMatchObject({ type: 'left', windowMs: 600_000, latenessMs: 30_000 });
    expect(p.join?.left.topic).toBe('orders');
    expect(p.join?.right.key.fieldPath).toEqual(['id']);
  });

  it('routes each source by its join key and dedups it with its own spec', () => {
    const orders = p.sources.get('orders');
    const customers = p.sources.get('customers');
    expect(orders?.joinSide).toBe('left');
    expect(customers?.joinSide).toBe('right');
    expect(orders?.routingKey).toBe(p.join?.left.key);
    expect(customers?.routingKey).toBe(p.join?.right.key);
    expect(orders?.dedup?.key.fieldPath).toEqual(['order_id']);
    expect(customers?.dedup?.key.key({ id: 3, version: 2 })).toBe('3:2');
  });

  it('compiles filter and columns against left and right', () => {
    const pair = { left: { order_id: 'o1', amount: 2 }, right: { name: 'Ann' } };
    expect(p.filter?.scope).toBe('join');
    expect(p.filter?.test(pair)).toBe(true);
    const values = Object.fromEntries(
      p.columns.map((c) => [c.column, c.expression.evaluate(pair)]),
    );
    expect(values).toEqual({ order_id: 'o1', customer_name: 'Ann', amount_cents: 200n });
    const unmatched = p.columns[1]?.expression.evaluate({ left: pair.left, right: {} });
    expect(unmatched).toBe('');
  });

  it('applies a single dedup spec to both sides and defaults type and lateness', () => {
    const example = exampleJoinPipeline();
    const { type: _type, lateness: _lateness, ...join } = example.join as Record<string, unknown>;
    const q = compiled({ ...example, join, dedup: { key: 'id', window: '5m' } });
    expect(q.join).toMatchObject({ type: 'inner', latenessMs: 0 });
    expect(q.definition.join).toMatchObject({ type: 'inner', lateness: '0s' });
    expect(q.sources.get('orders')?.dedup?.windowMs).toBe(300_000);
    expect(q.sources.get('customers')?.dedup?.windowMs).toBe(300_000);
  });
});
