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
import { stallsOver1s } from './support/metrics';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  deadLettersOf,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// Issue 17, hostile expressions and event times, each as a producer would send them, with the
// bad event first of its Kafka partition and again amid good ones:
// - `!action.matches('^(a+)+$')` and an `aaa…ab` action (backtracking blocked the owner for good);
// - nested comprehensions over a list the event supplies (seconds per event) in a filter and a
//   transform column -> dead letter, "evaluation budget exceeded";
// - an event time a month ahead in a dedup pipeline and in a join (held join state, moved the
//   watermark so that later events were late) -> dead letter at stage dedup / join.
// No event-loop stall over 1 s meanwhile, read from sluice_event_loop_delay_seconds.

const log = (line: string) => process.stdout.write(`[input-cel] ${line}\n`);
const KAFKA_PARTITIONS = 2;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const FUTURE_REASON =
  /^event time \S+ is more than 1h ahead of the clock \(.*source\.maxFutureEventTime\)$/;

interface Event {
  event_id: string;
  ts: string;
  user_id: number;
  project: string;
  action: string;
  amount: number;
  [field: string]: unknown;
}

const event = (id: string, extra: Partial<Event> = {}): Event => ({
  event_id: id,
  ts: new Date(Date.now() - 5 * MINUTE).toISOString(),
  user_id: 7,
  project: 'p1',
  action: 'click',
  amount: 1.5,
  ...extra,
});

/** `bad[0]` first on partition 0, `bad[1]` first on partition 1, the rest amid `good` ones. */
function interleave(good: readonly Event[], bad: readonly Event[]): KeyedMessage[] {
  const out: KeyedMessage[] = bad.slice(0, KAFKA_PARTITIONS).map((value, partition) => ({
    partition,
    value,
  }));
  const rest = bad.slice(KAFKA_PARTITIONS);
  good.forEach((value, i) => {
    out.push({ partition: i % KAFKA_PARTITIONS, value });
    const b = rest[i];
    if (b !== undefined) out.push({ partition: (i + 1) % KAFKA_PARTITIONS, value: b });
  });
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const goodEvents = (prefix: string, n: number, extra: Partial<Event> = {}) =>
  range(n).map((i) => event(`${prefix}-${i}`, extra));

describe('hostile expressions and event times (issue 17)', () => {
  const env = testStackEnv();
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  let stallsBefore = 0;
  const pipelines: string[] = [];

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    app = await SluiceProcess.start({ env: { ...env } });
  });
  beforeEach(async () => {
    // Start-up may stall (module loading, WASM compiles); only what the test causes counts.
    stallsBefore = await stallsOver1s(app);
  });
  afterEach(async () => {
    if (app.running) expect((await stallsOver1s(app)) - stallsBefore).toBe(0);
  });
  afterAll(async () => {
    // A process whose event loop is blocked (as on the code before these rules) answers nothing.
    const alive = await app.get('/health/live').then(
      (r) => r.status === 200,
      () => false,
    );
    if (alive) for (const id of pipelines) await deletePipeline(app, id);
    else await app.kill();
    await app.stop();
    await ch.close();
    await redis.quit();
  });

  /** A dedup pipeline on a fresh topic and table, `changes` applied to the definition. */
  async function eventsPipeline(prefix: string, changes: Record<string, unknown> = {}) {
    const topic = uniqueName(prefix);
    const table = uniqueName(`${prefix}_events`);
    const id = uniquePipelineId(prefix);
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    await postPipeline(app, { ...dedupPipeline(id, topic, table, 2), ...changes });
    pipelines.push(id);
    return { id, topic, table };
  }

  async function produce(topic: string, messages: readonly KeyedMessage[]) {
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    try {
      await produceTo(producer, topic, messages);
    } finally {
      await close();
    }
  }

  it('runs matches() in linear time: the aaa…ab action is filtered correctly, nothing stalls', async () => {
    const { id, topic, table } = await eventsPipeline('regex', {
      filter: "!action.matches('^(a+)+$')",
    });
    const evil = `${'a'.repeat(5_000)}b`;
    const bad = [
      event('evil-first-0', { action: evil }),
      event('evil-first-1', { action: evil }),
      event('evil-mid', { action: evil }),
    ];
    const good = goodEvents('re', 100);
    const matching = event('all-a', { action: 'aaaa' });
    await produce(topic, [...interleave(good, bad), { partition: 0, value: matching }]);

    const counters = await waitForSettled(app, id, 104, 60_000, log);
    expect(counters).toEqual({
      consumed: 104,
      filtered: 1,
      duplicates: 0,
      written: 103,
      deadLettered: 0,
    });
    const ids = await tableIds(ch, table);
    expect(ids.size).toBe(103);
    for (const b of bad) expect(ids.get(b.event_id)).toBe(1);
  });

  it('dead-letters nested comprehensions over an event list (filter and transform), writes the rest', async () => {
    const { id, topic, table } = await eventsPipeline('budget', {
      filter: 'tags.all(a, tags.exists(b, b == a))',
      transform: { columns: { user_id: 'size(labels.filter(a, labels.exists(b, b == a)))' } },
    });
    const long = range(5_000);
    const bad = [
      event('tags-first-0', { tags: long, labels: [4, 5] }),
      event('labels-first-1', { tags: [1], labels: long }),
      event('tags-mid', { tags: long, labels: [4, 5] }),
      event('labels-mid', { tags: [1], labels: long }),
    ];
    const good = goodEvents('bud', 100, { tags: [1, 2, 3], labels: [4, 5] });
    await produce(topic, interleave(good, bad));

    const counters = await waitForSettled(app, id, 104, 60_000, log);
    expect(counters).toMatchObject({ consumed: 104, written: 100, deadLettered: 4 });
    const dlq = await deadLettersOf(app, id);
    const byId = new Map(
      dlq.map((d) => [
        (JSON.parse(d.message) as Event).event_id,
        { stage: d.stage, error: d.error },
      ]),
    );
    for (const name of ['tags-first-0', 'tags-mid']) {
      expect(byId.get(name)).toEqual({
        stage: 'filter',
        error: expect.stringMatching(/^evaluation budget exceeded: more than /),
      });
    }
    for (const name of ['labels-first-1', 'labels-mid']) {
      expect(byId.get(name)).toEqual({
        stage: 'transform',
        error: expect.stringContaining('evaluation budget exceeded: more than '),
      });
    }
    const ids = await tableIds(ch, table);
    expect(ids.size).toBe(100);
    const rows = await ch.query({
      query: `SELECT DISTINCT user_id FROM ${table}`,
      format: 'JSONEachRow',
    });
    expect(await rows.json()).toEqual([{ user_id: 2 }]);
  });

  it('dead-letters a far-future event time at dedup; it does not move dedup expiry', async () => {
    const { id, topic, table } = await eventsPipeline('future');
    const far = new Date(Date.now() + 30 * DAY).toISOString();
    const bad = [
      event('far-first-0', { ts: far }),
      event('far-first-1', { ts: far }),
      event('far-mid', { ts: far }),
    ];
    const good = goodEvents('fut', 100);
    // Within the bound: kept.
    const soon = event('soon', { ts: new Date(Date.now() + 30 * MINUTE).toISOString() });
    await produce(topic, [...interleave(good, bad), { partition: 1, value: soon }]);
    await waitForSettled(app, id, 104, 60_000, log);
    // Copies of earlier events, after the far ones: still known to dedup.
    await produce(
      topic,
      good.slice(0, 10).map((value, i) => ({ partition: i % KAFKA_PARTITIONS, value })),
    );

    const counters = await waitForSettled(app, id, 114, 60_000, log);
    expect(counters).toEqual({
      consumed: 114,
      filtered: 0,
      duplicates: 10,
      written: 101,
      deadLettered: 3,
    });
    const dlq = await deadLettersOf(app, id);
    expect(dlq).toHaveLength(3);
    for (const d of dlq) {
      expect(d.stage).toBe('dedup');
      expect(d.error).toMatch(FUTURE_REASON);
    }
    expect(dlq.map((d) => (JSON.parse(d.message) as Event).event_id).sort()).toEqual(
      bad.map((b) => b.event_id).sort(),
    );
    expect((await tableIds(ch, table)).size).toBe(101);
  });

  it('dead-letters far-future events of a join; the watermark stays, later pairs still join', async () => {
    const orders = uniqueName('fj_orders');
    const customers = uniqueName('fj_customers');
    const table = uniqueName('fj_enriched');
    await createSourceTopic(orders, KAFKA_PARTITIONS);
    await createSourceTopic(customers, KAFKA_PARTITIONS);
    await createJoinTable(ch, table);
    const id = uniquePipelineId('fj');
    const partitions = 2;
    await postPipeline(app, {
      ...joinPipeline({
        id,
        orders,
        customers,
        table,
        type: 'inner',
        window: '1m',
        lateness: '0s',
      }),
      partitions,
    });
    pipelines.push(id);

    const now = Date.now();
    const order = (oid: string, cid: string, ts: number, partition: number) => ({
      partition,
      value: {
        order_id: oid,
        customer_id: cid,
        amount: 2.5,
        region: 'L',
        ts: new Date(ts).toISOString(),
      },
    });
    const customer = (cid: string, ts: number, partition: number) => ({
      partition,
      value: { id: cid, version: 1, name: `${cid}-name`, updated_at: new Date(ts).toISOString() },
    });
    const pairs = (wave: string, at: number) => {
      const cids = range(10).map((i) => `${wave}-c${i}`);
      return {
        orders: cids.map((cid, i) => order(`${wave}-o${i}`, cid, at + i, i % KAFKA_PARTITIONS)),
        customers: cids.map((cid, i) => customer(cid, at + i, (i + 1) % KAFKA_PARTITIONS)),
      };
    };
    // A month ahead on every partition of both topics: on its own it would lift every source
    // partition's mark, so the watermark would jump and all later events would be late.
    const far = now + 30 * DAY;
    const farOrders = range(KAFKA_PARTITIONS).map((p) => order(`far-o${p}`, `far-c${p}`, far, p));
    const farCustomers = range(KAFKA_PARTITIONS).map((p) => customer(`far-c${p}`, far, p));
    const first = pairs('w1', now - 2 * MINUTE);
    const second = pairs('w2', now - MINUTE);

    // The far events first of their partitions, then wave 1; wave 2 once those were applied.
    await produce(orders, [...farOrders, ...first.orders]);
    await produce(customers, [...farCustomers, ...first.customers]);
    const consumed = (n: number) =>
      app.waitFor(
        async () => ((await allCounters(app, id)).consumed ?? 0) >= n,
        60_000,
        `${n} events consumed`,
      );
    await consumed(24);
    await produce(orders, second.orders);
    await produce(customers, second.customers);
    await consumed(44);
    await app.waitFor(
      async () => ((await allCounters(app, id)).joined ?? 0) >= 20,
      60_000,
      '20 pairs joined',
    );

    const counters = await allCounters(app, id);
    expect(counters).toMatchObject({ consumed: 44, joined: 20, late: 0, deadLettered: 4 });
    const dlq = await deadLettersOf(app, id);
    expect(dlq).toHaveLength(4);
    for (const d of dlq) {
      expect(d.stage).toBe('join');
      expect(d.error).toMatch(FUTURE_REASON);
    }
    const wms = await watermarks(redis, id, partitions);
    for (const wm of wms) expect(wm === null || wm < now + 60 * MINUTE).toBe(true);
    const rows = await ch.query({ query: `SELECT order_id FROM ${table}`, format: 'JSONEachRow' });
    const written = (await rows.json<{ order_id: string }>()).map((r) => r.order_id).sort();
    expect(written).toEqual(
      [...first.orders, ...second.orders].map((o) => o.value.order_id).sort(),
    );
  });
});
