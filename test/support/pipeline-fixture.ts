import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { StoredDeadLetter } from '@sluice/redis';
import { createTopic } from '@sluice/stack';
import type { GeneratedStream } from './events';
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

/** A pipeline id (lowercase, dashes) unique to this run. */
export function uniquePipelineId(prefix: string): string {
  return uniqueName(prefix).replace(/_/g, '-').toLowerCase();
}

export interface PipelineView {
  status: string;
  counters: Counters;
  /** Source messages not committed by the consumer group; null when Kafka did not answer. */
  lag: number | null;
  otherCounters: Record<string, number>;
}

export async function pipelineView(app: SluiceProcess, id: string): Promise<PipelineView> {
  const { status, body } = await app.get(`/api/v1/pipelines/${id}`);
  if (status !== 200) throw new Error(`GET /pipelines/${id}: ${status} ${JSON.stringify(body)}`);
  return body as PipelineView;
}

/** POST /pipelines/:id/stop or /resume. */
export async function setPipelineRunning(
  app: SluiceProcess,
  id: string,
  running: boolean,
): Promise<void> {
  const action = running ? 'resume' : 'stop';
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines/${id}/${action}`, {
    method: 'POST',
    // A POST needs a JSON body type (cross-site form posts are refused with 415).
    headers: { 'content-type': 'application/json' },
  });
  if (response.status !== 200)
    throw new Error(`POST /pipelines/${id}/${action}: ${response.status} ${await response.text()}`);
}

/** Counters once every consumed event has an outcome: written, filtered, duplicate or dead letter. */
export function settled(c: Counters): boolean {
  return c.written + c.filtered + c.duplicates + c.deadLettered === c.consumed;
}

/**
 * Polls the counters until `expected` events were consumed and all of them settled; logs the
 * counters every 10 s so a slow run shows where it stands.
 */
export async function waitForSettled(
  app: SluiceProcess,
  id: string,
  expected: number,
  timeoutMs: number,
  log: (line: string) => void = () => undefined,
): Promise<Counters> {
  let counters: Counters | undefined;
  let lastLog = Date.now();
  await app.waitFor(
    async () => {
      counters = await countersOf(app, id);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        log(`counters ${JSON.stringify(counters)}`);
      }
      return counters.consumed >= expected && settled(counters);
    },
    timeoutMs,
    `${expected} events consumed and settled (last ${JSON.stringify(counters)})`,
  );
  return counters!;
}

/** Every event_id in the table with the number of rows it has. */
export async function tableIds(ch: ClickHouseClient, table: string): Promise<Map<string, number>> {
  const result = await ch.query({
    query: `SELECT event_id, count() AS n FROM ${table} GROUP BY event_id`,
    format: 'JSONEachRow',
  });
  const rows = await result.json<{ event_id: string; n: number | string }>();
  return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
}

/** A dead letter as GET /pipelines/:id/dlq returns it (the record of libs/redis). */
export type DeadLetterView = StoredDeadLetter;

export async function deadLettersOf(app: SluiceProcess, id: string): Promise<DeadLetterView[]> {
  const { status, body } = await app.get(`/api/v1/pipelines/${id}/dlq?limit=10000`);
  if (status !== 200)
    throw new Error(`GET /pipelines/${id}/dlq: ${status} ${JSON.stringify(body)}`);
  return body as DeadLetterView[];
}

/** The counters a generated stream must end with when every event was accounted for once. */
export function expectedCounters(stream: GeneratedStream): Counters {
  return {
    consumed: stream.messages.length,
    filtered: 0,
    duplicates: stream.duplicates,
    written: stream.uniqueIds.size,
    deadLettered: stream.malformed,
  };
}

/**
 * Waits until the whole generated stream was consumed and settled, then checks the counters and
 * that the table holds as many rows as distinct ids, one per unique event.
 */
export async function expectSettledOnce(
  app: SluiceProcess,
  ch: ClickHouseClient,
  id: string,
  table: string,
  stream: GeneratedStream,
  timeoutMs: number,
  log?: (line: string) => void,
): Promise<void> {
  const counters = await waitForSettled(app, id, stream.messages.length, timeoutMs, log);
  expect(counters).toEqual(expectedCounters(stream));
  expect(await tableCount(ch, table)).toEqual({
    rows: stream.uniqueIds.size,
    ids: stream.uniqueIds.size,
  });
}

/**
 * The whole exactly-once claim for a generated stream: counters add up, the table holds each
 * unique well-formed event once (compared by id), the DLQ exactly the malformed messages.
 */
export async function expectExactlyOnce(
  app: SluiceProcess,
  ch: ClickHouseClient,
  id: string,
  table: string,
  stream: GeneratedStream,
): Promise<void> {
  expect(await countersOf(app, id)).toEqual(expectedCounters(stream));
  const ids = await tableIds(ch, table);
  // Small lists on failure instead of a diff of thousands of ids.
  const missing = [...stream.uniqueIds].filter((e) => !ids.has(e));
  const unexpected = [...ids.keys()].filter((e) => !stream.uniqueIds.has(e));
  const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
  expect({
    missing: missing.slice(0, 20),
    unexpected: unexpected.slice(0, 20),
    doubled: doubled.slice(0, 20),
  }).toEqual({ missing: [], unexpected: [], doubled: [] });
  expect(ids.size).toBe(stream.uniqueIds.size);
  const dlq = await deadLettersOf(app, id);
  expect(dlq.map((d) => d.message).sort()).toEqual([...stream.malformedMessages].sort());
  expect(dlq.every((d) => d.stage === 'parse')).toBe(true);
}
