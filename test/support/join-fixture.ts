import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import { keys } from '@sluice/redis';
import { createSourceTopic, uniqueName } from './pipeline-fixture';
import type { SluiceProcess } from './sluice-process';
import { testStackEnv } from './stack-env';

/** Orders enriched with customers: the README's worked example, as a table. */
export async function createJoinTable(ch: ClickHouseClient, table: string): Promise<void> {
  await ch.command({
    query: `CREATE TABLE ${table} (
              order_id String,
              customer_id String,
              customer_name Nullable(String),
              version Nullable(UInt32),
              amount Float64,
              amount_cents Int64,
              region String,
              tier Nullable(String),
              ts DateTime64(3, 'UTC')
            ) ENGINE = MergeTree ORDER BY (order_id, ifNull(version, 0))
            SETTINGS non_replicated_deduplication_window = 10000`,
  });
}

/** Fresh order and customer topics and one join table for a test, all named after `prefix`. */
export async function createJoinSources(
  ch: ClickHouseClient,
  prefix: string,
  orderPartitions: number,
  customerPartitions: number,
): Promise<{ orders: string; customers: string; table: string }> {
  const orders = uniqueName(`${prefix}_orders`);
  const customers = uniqueName(`${prefix}_customers`);
  const table = uniqueName(`${prefix}_enriched`);
  await createSourceTopic(orders, orderPartitions);
  await createSourceTopic(customers, customerPartitions);
  await createJoinTable(ch, table);
  return { orders, customers, table };
}

export interface JoinPipelineOptions {
  id: string;
  orders: string;
  customers: string;
  table: string;
  type: 'inner' | 'left';
  window: string;
  lateness: string;
  partitions?: number;
  filter?: string;
}

export function joinPipeline(o: JoinPipelineOptions): Record<string, unknown> {
  const env = testStackEnv();
  return {
    id: o.id,
    source: {
      kafka: { brokers: env.KAFKA_BROKERS.split(',') },
      topics: [
        { name: o.orders, eventTime: 'ts' },
        { name: o.customers, eventTime: 'updated_at' },
      ],
    },
    partitions: o.partitions ?? 4,
    dedup: {
      [o.orders]: { key: 'order_id', window: '1h' },
      [o.customers]: { key: "id + ':' + string(version)", window: '1h' },
    },
    join: {
      type: o.type,
      window: o.window,
      lateness: o.lateness,
      left: { topic: o.orders, key: 'customer_id' },
      right: { topic: o.customers, key: 'id' },
    },
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    transform: {
      columns: {
        customer_name: 'right.name',
        version: 'right.version',
        amount_cents: 'int(left.amount * 100.0)',
      },
    },
    sink: {
      clickhouse: {
        url: env.CLICKHOUSE_URL,
        table: o.table,
        batch: { maxRows: 5_000, maxDelay: '200ms' },
      },
    },
  };
}

export interface KeyedMessage {
  partition: number;
  value: Record<string, unknown>;
}

export async function produceTo(
  producer: Producer,
  topic: string,
  messages: readonly KeyedMessage[],
  chunk = 2_000,
): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({
      topic,
      messages: messages
        .slice(i, i + chunk)
        .map((m) => ({ partition: m.partition, value: JSON.stringify(m.value) })),
    });
  }
}

export interface PipelineView {
  counters: Record<string, number>;
  otherCounters: Record<string, number>;
}

/** Counters, join counters included (they come under otherCounters), in one flat record. */
export async function allCounters(app: SluiceProcess, id: string): Promise<Record<string, number>> {
  const { status, body } = await app.get(`/api/v1/pipelines/${id}`);
  if (status !== 200) throw new Error(`GET /pipelines/${id}: ${status}`);
  const view = body as PipelineView;
  return {
    joined: 0,
    unmatchedLeft: 0,
    expiredRight: 0,
    late: 0,
    ...view.counters,
    ...view.otherCounters,
  };
}

/** The checkpointed join watermark of every actor of the pipeline (null: none yet). */
export async function watermarks(
  redis: Redis,
  id: string,
  partitions: number,
): Promise<(number | null)[]> {
  const out: (number | null)[] = [];
  for (let p = 0; p < partitions; p++) {
    const meta = await redis.hget(keys.checkpoint(id, p), 'join');
    out.push(meta ? ((JSON.parse(meta) as { wm: number | null }).wm ?? null) : null);
  }
  return out;
}

/** Bytes (MEMORY USAGE) and number of the join state keys of a pipeline. */
export async function joinStateMemory(
  redis: Redis,
  id: string,
  partitions: number,
): Promise<{ bytes: number; keys: number }> {
  let bytes = 0;
  let count = 0;
  for (let p = 0; p < partitions; p++) {
    const pattern = keys.joinIndex(id, p).replace(/join-index$/, 'join*');
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1_000);
      cursor = next;
      for (const key of found) {
        count += 1;
        bytes += Number((await redis.memory('USAGE', key)) ?? 0);
      }
    } while (cursor !== '0');
  }
  return { bytes, keys: count };
}
