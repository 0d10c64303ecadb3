import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createTopic } from '@sluice/stack';
import { TEST_STACK_DIR } from './paths';
import type { SluiceProcess } from './sluice-process';
import { testStackEnv } from './stack-env';

export interface Counters {
  consumed: number;
  filtered: number;
  duplicates: number;
  written: number;
  deadLettered: number;
}

export function clickhouse(): ClickHouseClient {
  return createClient({ url: testStackEnv().CLICKHOUSE_URL, request_timeout: 60_000 });
}

/** Unique names per test run, so tests never see each other's topics, tables or pipelines. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export const EVENTS_TABLE_COLUMNS = `
  event_id String,
  ts DateTime64(3, 'UTC'),
  user_id UInt32,
  project LowCardinality(String),
  action String,
  amount Float64`;

/** A MergeTree with the insert-token deduplication window exactly-once needs. */
export async function createEventsTable(ch: ClickHouseClient, table: string): Promise<void> {
  await ch.command({
    query: `CREATE TABLE ${table} (${EVENTS_TABLE_COLUMNS}) ENGINE = MergeTree ORDER BY event_id
            SETTINGS non_replicated_deduplication_window = 10000`,
  });
}

export async function createSourceTopic(topic: string, partitions: number): Promise<void> {
  await createTopic(topic, partitions, { dir: TEST_STACK_DIR });
}

export function dedupPipeline(
  id: string,
  topic: string,
  table: string,
  partitions = 8,
): Record<string, unknown> {
  const env = testStackEnv();
  return {
    id,
    source: {
      kafka: { brokers: env.KAFKA_BROKERS.split(',') },
      topics: [{ name: topic, startFrom: 'earliest', eventTime: 'ts' }],
    },
    partitions,
    dedup: { key: 'event_id', window: '24h' },
    sink: {
      clickhouse: {
        url: env.CLICKHOUSE_URL,
        database: 'default',
        table,
        batch: { maxRows: 5000, maxDelay: '300ms' },
      },
    },
  };
}

export async function postPipeline(
  app: SluiceProcess,
  definition: Record<string, unknown>,
): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(definition),
  });
  if (response.status !== 201)
    throw new Error(`POST /pipelines: ${response.status} ${await response.text()}`);
}

export async function countersOf(app: SluiceProcess, id: string): Promise<Counters> {
  const { status, body } = await app.get(`/api/v1/pipelines/${id}`);
  if (status !== 200) throw new Error(`GET /pipelines/${id}: ${status} ${JSON.stringify(body)}`);
  return (body as { counters: Counters }).counters;
}

export async function tableCount(
  ch: ClickHouseClient,
  table: string,
): Promise<{ rows: number; ids: number }> {
  const result = await ch.query({
    query: `SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${table}`,
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ rows: number | string; ids: number | string }>();
  return { rows: Number(row?.rows ?? 0), ids: Number(row?.ids ?? 0) };
}

/** Deletes the pipeline so later suites' processes do not pick it up from the shared stack. */
export async function deletePipeline(app: SluiceProcess, id: string): Promise<void> {
  await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines/${id}`, { method: 'DELETE' }).catch(
    () => undefined,
  );
}
