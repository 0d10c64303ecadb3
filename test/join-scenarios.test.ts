import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { connectProducer } from './support/events';
import {
  allCounters,
  createJoinTable,
  joinPipeline,
  type KeyedMessage,
  produceTo,
  watermarks,
} from './support/join-fixture';
import {
  clickhouse,
  createSourceTopic,
  deletePipeline,
  postPipeline,
  uniqueName,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// Every case has its own customer ids, so all cases run through one pair of pipelines (inner and
// left, each with its own consumer group on the same two topics) in one Sluice process.
const T0 = Date.parse('2026-01-01T00:00:00Z');
const S = 1_000;
const LATENESS = 30 * 60 * S; // join.lateness 30m: the cases span 10 minutes of event time
const CLOCK = T0 + 2 * 3_600 * S; // pushes every actor's watermark to T0 + 90m
const ORDER_PARTITIONS = 4;
const CUSTOMER_PARTITIONS = 2; // topics with different partition counts
const PARTITIONS = 4;

let n = 0;
const order = (id: string, customer: string, dt: number, extra: Record<string, unknown> = {}) => ({
  partition: n++ % ORDER_PARTITIONS,
  value: {
    order_id: id,
    customer_id: customer,
    amount: 12.5,
    status: 'paid',
    region: 'L',
    ts: new Date(T0 + dt).toISOString(),
    ...extra,
  },
});
const customer = (id: string, version: number, dt: number) => ({
  partition: n++ % CUSTOMER_PARTITIONS,
  value: {
    id,
    version,
    name: `${id}-v${version}`,
    tier: 'gold',
    region: 'R',
    updated_at: new Date(T0 + dt).toISOString(),
  },
});

// Wave A is consumed before wave B is produced, so arrival order is what each case says.
const waveA: { orders: KeyedMessage[]; customers: KeyedMessage[] } = {
  orders: [
    order('o02', 'c02', 20 * S), // out of order: the left (later time) arrives first
    order('o11', 'c11', 500 * S), // duplicate, removed by dedup before the join
  ],
  customers: [
    customer('c01', 1, 0), // in order
    customer('c03', 1, 30 * S), // right before left
    customer('c04', 1, 50 * S), // one left to many rights
    customer('c04', 2, 70 * S),
    customer('c04', 3, 200 * S), // outside o04's window: expires unmatched
    customer('c05', 1, 100 * S), // one right to many lefts
    customer('c06', 1, 300 * S), // exactly the window apart: joined
    customer('c07', 1, 300 * S), // 1 ms beyond the window: not joined
    customer('c08', 1, 400 * S), // its left will arrive late
    customer('c10', 1, 440 * S), // key only on the right
    customer('c11', 1, 505 * S),
    customer('c11', 1, 505 * S), // duplicate
    customer('c13', 1, 520 * S),
  ],
};
const waveB: { orders: KeyedMessage[]; customers: KeyedMessage[] } = {
  orders: [
    order('o01', 'c01', 5 * S),
    order('o03', 'c03', 40 * S),
    order('o04', 'c04', 60 * S),
    order('o05a', 'c05', 90 * S),
    order('o05b', 'c05', 110 * S),
    order('o05c', 'c05', 170 * S), // 70 s from the right: unmatched
    order('o06', 'c06', 360 * S),
    order('o07', 'c07', 360 * S + 1),
    order('o09', 'c09', 420 * S), // key only on the left
    order('o11', 'c11', 500 * S), // duplicate
    order('o13', 'c13', 520 * S, { status: 'test' }), // joined, then filtered out
  ],
  customers: [customer('c02', 1, 10 * S)],
};
const clocks = {
  orders: Array.from({ length: ORDER_PARTITIONS }, (_, p) => ({
    partition: p,
    value: { order_id: `clock-${p}`, customer_id: `clock-o${p}`, amount: 0, ts: CLOCK },
  })),
  customers: Array.from({ length: CUSTOMER_PARTITIONS }, (_, p) => ({
    partition: p,
    value: { id: `clock-c${p}`, version: 0, name: 'clock', updated_at: CLOCK },
  })),
};
const late = { partition: 0, value: order('o08', 'c08', 400 * S).value };

interface Row {
  order_id: string;
  customer_id: string;
  customer_name: string | null;
  version: number | null;
  amount_cents: number | string;
  region: string;
  tier: string | null;
}
const joined = (o: string, c: string, version: number): Row => ({
  order_id: o,
  customer_id: c,
  customer_name: `${c}-v${version}`,
  version,
  amount_cents: 1250,
  region: 'L', // both sides have `region`: the left side's wins
  tier: 'gold', // only the right side has `tier`
});
const alone = (o: string, c: string): Row => ({
  order_id: o,
  customer_id: c,
  customer_name: null,
  version: null,
  amount_cents: 1250,
  region: 'L',
  tier: null,
});
const INNER: Row[] = [
  joined('o01', 'c01', 1),
  joined('o02', 'c02', 1),
  joined('o03', 'c03', 1),
  joined('o04', 'c04', 1),
  joined('o04', 'c04', 2),
  joined('o05a', 'c05', 1),
  joined('o05b', 'c05', 1),
  joined('o06', 'c06', 1),
  joined('o11', 'c11', 1),
];
const LEFT: Row[] = [...INNER, alone('o05c', 'c05'), alone('o07', 'c07'), alone('o09', 'c09')];
const sortRows = (rows: Row[]) =>
  [...rows].sort((a, b) =>
    `${a.order_id}/${a.version ?? ''}`.localeCompare(`${b.order_id}/${b.version ?? ''}`),
  );

describe('temporal join scenarios (inner and left on the same topics)', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  const pipelines: string[] = [];

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
  });
  afterAll(async () => {
    for (const id of pipelines) if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await ch.close();
    await redis.quit();
  });

  it('writes exactly the expected rows for every case', async () => {
    const orders = uniqueName('orders');
    const customers = uniqueName('customers');
    await createSourceTopic(orders, ORDER_PARTITIONS);
    await createSourceTopic(customers, CUSTOMER_PARTITIONS);
    const tables = { inner: uniqueName('join_inner'), left: uniqueName('join_left') };
    await createJoinTable(ch, tables.inner);
    await createJoinTable(ch, tables.left);
    const ids = {
      inner: uniqueName('ji').replace(/_/g, '-'),
      left: uniqueName('jl').replace(/_/g, '-'),
    };
    pipelines.push(ids.inner, ids.left);

    app = await SluiceProcess.start({ env: { ...env } });
    const running = app;
    for (const type of ['inner', 'left'] as const) {
      await postPipeline(
        running,
        joinPipeline({
          id: ids[type],
          orders,
          customers,
          table: tables[type],
          type,
          window: '1m',
          lateness: '30m',
          partitions: PARTITIONS,
          filter: "left.status != 'test'",
        }),
      );
    }
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const consumedBoth = (count: number) =>
      running.waitFor(
        async () => {
          for (const id of [ids.inner, ids.left]) {
            if (((await allCounters(running, id)).consumed ?? 0) < count) return false;
          }
          return true;
        },
        90_000,
        `${count} events consumed by both pipelines`,
      );
    const countA = waveA.orders.length + waveA.customers.length;
    try {
      await produceTo(producer, orders, waveA.orders);
      await produceTo(producer, customers, waveA.customers);
      await consumedBoth(countA);
      await produceTo(producer, orders, [...waveB.orders, ...clocks.orders]);
      await produceTo(producer, customers, [...waveB.customers, ...clocks.customers]);

      // Every actor's watermark reaches CLOCK - lateness once every source partition is there.
      const target = CLOCK - LATENESS;
      await running.waitFor(
        async () => {
          for (const id of [ids.inner, ids.left]) {
            const wms = await watermarks(redis, id, PARTITIONS);
            if (!wms.every((wm) => wm !== null && wm >= target)) return false;
          }
          return true;
        },
        90_000,
        'watermarks past every case window',
      );
      await produceTo(producer, orders, [late]); // older than the watermark by far more than lateness
    } finally {
      await close();
    }

    const total =
      countA + waveB.orders.length + waveB.customers.length + clocks.orders.length + 2 + 1;
    const expected = (rows: Row[]) => ({
      consumed: total,
      duplicates: 2,
      filtered: 1,
      deadLettered: 1,
      late: 1,
      written: rows.length,
      joined: INNER.length + 1, // + the filtered o13 pair
      unmatchedLeft: 3, // o05c, o07, o09 (the clocks' windows never close in this test)
      expiredRight: 4, // c04 v3, c07, c08 (its left came late), c10
    });
    for (const type of ['inner', 'left'] as const) {
      const rows = type === 'inner' ? INNER : LEFT;
      const want = expected(rows);
      let last: Record<string, number> = {};
      await running
        .waitFor(
          async () => {
            last = await allCounters(running, ids[type]);
            return last.written === want.written && last.late === 1 && last.consumed === total;
          },
          60_000,
          () => `${type}: ${want.written} rows written (last counters ${JSON.stringify(last)})`,
        )
        .catch(async (err: unknown) => {
          // Which events went to the dead-letter queue tells a late pair from a slow writer.
          const dlq = await running.get(`/api/v1/pipelines/${ids[type]}/dlq`);
          const wms = await watermarks(redis, ids[type], PARTITIONS);
          const seen = `dead letters ${JSON.stringify(dlq.body)}; watermarks ${JSON.stringify(wms)}`;
          throw new Error(`${seen}\n${(err as Error).message}`);
        });
      expect(last).toMatchObject(want);

      const result = await ch.query({
        query: `SELECT order_id, customer_id, customer_name, version, amount_cents, region, tier
                FROM ${tables[type]}`,
        format: 'JSONEachRow',
      });
      const got = (await result.json<Row>()).map((r) => ({
        ...r,
        amount_cents: Number(r.amount_cents),
      }));
      expect(sortRows(got)).toEqual(sortRows(rows));

      const dlq = await running.get(`/api/v1/pipelines/${ids[type]}/dlq`);
      const letters = dlq.body as { stage: string; error: string; message: string }[];
      expect(letters).toHaveLength(1);
      expect(letters[0]).toMatchObject({ stage: 'join', error: expect.stringMatching(/^late: /) });
      expect(JSON.parse(letters[0]!.message)).toMatchObject({ order_id: 'o08' });
    }
  });
});
