import type { ClickHouseClient } from '@clickhouse/client';
import { type KafkaCodec, produceMessages } from '@sluice/stack';
import { createJoinSources, type KeyedMessage } from './join-fixture';
import { TEST_STACK_DIR } from './paths';

export const ORDER_PARTITIONS = 6;
export const CUSTOMER_PARTITIONS = 2;
const T0 = Date.parse('2026-03-01T00:00:00Z');
/** Far past every window: the last events of each partition push the watermark past them all. */
export const CLOCK = T0 + 3 * 3_600_000;

export interface HistoryOptions {
  /** Orders (one customer each, one minute before it); every tenth order has no customer. */
  pairs: number;
  /** Event time covered by the history (the pairs are spread evenly over it). */
  spanMs: number;
  /** End every source partition with an event hours later, so every window closes at once. */
  clocks: boolean;
  /** How long before its order each customer is (default one minute). */
  leadMs?: number;
}

export interface History {
  orders: KeyedMessage[];
  customers: KeyedMessage[];
  /** order_id -> the customer_name its one row must have (null: written alone by the left join). */
  expected: Map<string, string | null>;
  /** joined, unmatchedLeft and expiredRight once every window closed. */
  counters: { joined: number; unmatchedLeft: number; expiredRight: number };
}

/** Orders on 6 partitions and customers on 2, each partition's events in event-time order. */
export function joinHistory(o: HistoryOptions): History {
  const step = o.spanMs / o.pairs;
  const orders: KeyedMessage[] = [];
  const customers: KeyedMessage[] = [];
  const expected = new Map<string, string | null>();
  for (let i = 0; i < o.pairs; i++) {
    const at = T0 + Math.round(i * step);
    const alone = i % 10 === 9;
    customers.push({
      partition: i % CUSTOMER_PARTITIONS,
      value: {
        id: `c${i}`,
        version: 1,
        name: `name-${i}`,
        tier: 'gold',
        updated_at: new Date(at).toISOString(),
      },
    });
    orders.push({
      partition: i % ORDER_PARTITIONS,
      value: {
        order_id: `o${i}`,
        customer_id: alone ? `nobody${i}` : `c${i}`,
        amount: 1.5,
        region: 'EU',
        ts: new Date(at + (o.leadMs ?? 60_000)).toISOString(),
      },
    });
    expected.set(`o${i}`, alone ? null : `name-${i}`);
  }
  if (o.clocks) {
    for (let p = 0; p < ORDER_PARTITIONS; p++) {
      orders.push({
        partition: p,
        value: { order_id: `clock-${p}`, customer_id: `clock-o${p}`, amount: 0, ts: CLOCK },
      });
    }
    for (let p = 0; p < CUSTOMER_PARTITIONS; p++) {
      customers.push({
        partition: p,
        value: { id: `clock-c${p}`, version: 0, name: 'clock', updated_at: CLOCK },
      });
    }
  }
  const alone = Math.floor(o.pairs / 10);
  return {
    orders,
    customers,
    expected,
    counters: { joined: o.pairs - alone, unmatchedLeft: alone, expiredRight: alone },
  };
}

/** Through librdkafka, so the record batches are compressed as Java or librdkafka clients do. */
async function produce(topic: string, messages: readonly KeyedMessage[], codec: KafkaCodec) {
  for (let i = 0; i < messages.length; i += 1_000) {
    const slice = messages.slice(i, i + 1_000);
    const result = await produceMessages(
      topic,
      slice.map((m) => ({ partition: m.partition, value: JSON.stringify(m.value) })),
      { dir: TEST_STACK_DIR, codec },
    );
    if (result.delivered !== slice.length) throw new Error(`produce: ${JSON.stringify(result)}`);
  }
}

/** Fresh topics holding the whole history (orders lz4, customers zstd) and an empty table. */
export async function produceHistory(
  ch: ClickHouseClient,
  prefix: string,
  history: History,
): Promise<{ orders: string; customers: string; table: string }> {
  const names = await createJoinSources(ch, prefix, ORDER_PARTITIONS, CUSTOMER_PARTITIONS);
  await produce(names.orders, history.orders, 'lz4');
  await produce(names.customers, history.customers, 'zstd');
  return names;
}

/** Rows in the table that differ from `expected` (missing, extra, doubled or wrong customer). */
export async function rowDifferences(
  ch: ClickHouseClient,
  table: string,
  expected: ReadonlyMap<string, string | null>,
): Promise<string[]> {
  const result = await ch.query({
    query: `SELECT order_id, customer_name FROM ${table} WHERE order_id NOT LIKE 'clock-%'`,
    format: 'JSONEachRow',
  });
  const rows = await result.json<{ order_id: string; customer_name: string | null }>();
  const seen = new Map<string, number>();
  const wrong: string[] = [];
  for (const row of rows) {
    seen.set(row.order_id, (seen.get(row.order_id) ?? 0) + 1);
    if (!expected.has(row.order_id)) wrong.push(`extra ${row.order_id}`);
    else if (expected.get(row.order_id) !== row.customer_name)
      wrong.push(`${row.order_id}: ${row.customer_name} != ${expected.get(row.order_id)}`);
  }
  for (const [id, n] of seen) if (n > 1) wrong.push(`${id} x${n}`);
  for (const id of expected.keys()) if (!seen.has(id)) wrong.push(`missing ${id}`);
  return wrong;
}
