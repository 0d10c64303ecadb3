import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { connectProducer } from './support/events';
import {
  allCounters,
  createJoinSources,
  joinPipeline,
  joinStateMemory,
  type KeyedMessage,
  produceTo,
} from './support/join-fixture';
import { clickhouse, deletePipeline, postPipeline, uniqueName } from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

const LEFT = 100_000;
const RIGHT = 20_000;
const CUSTOMERS = 5_000;
const WAVES = 20;
const ORDER_PARTITIONS = 8;
const CUSTOMER_PARTITIONS = 4;
const PARTITIONS = 8;
const WINDOW_MS = 5_000;
const T0 = Date.parse('2026-02-01T00:00:00Z');
const CLOCK = T0 + 86_400_000;
const LEASE_TTL_MS = 3_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[join-chaos] ${line}\n`);

interface Generated {
  orders: KeyedMessage[][];
  customers: KeyedMessage[][];
  /** `order_id/version` of every row the left join must write (version '' when unmatched). */
  expected: string[];
}

/**
 * Orders every 10 ms of event time, customer updates every 50 ms (each of 5 000 customers updated
 * 4 times, 250 s apart). Each order names a customer updated 0 to 199 updates before it, so about
 * half of the orders have a partner within the 5 s window. The expected rows are computed here by
 * brute force over the generated events, independently of Sluice.
 */
function generate(seed: number): Generated {
  let state = seed;
  const random = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rights: { id: string; version: number; time: number }[] = [];
  for (let j = 0; j < RIGHT; j++) {
    rights.push({
      id: `c${j % CUSTOMERS}`,
      version: Math.floor(j / CUSTOMERS) + 1,
      time: T0 + j * 50,
    });
  }
  const byId = new Map<string, { version: number; time: number }[]>();
  for (const r of rights) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);

  const orders: KeyedMessage[][] = Array.from({ length: WAVES }, () => []);
  const customers: KeyedMessage[][] = Array.from({ length: WAVES }, () => []);
  const expected: string[] = [];
  for (let i = 0; i < LEFT; i++) {
    const time = T0 + i * 10;
    const j = Math.floor(i / 5) - Math.floor(random() * 200);
    const customerId = j >= 0 ? `c${j % CUSTOMERS}` : `c${(i * 7_919) % CUSTOMERS}`;
    const orderId = `o${i}`;
    orders[Math.floor((i * WAVES) / LEFT)]!.push({
      partition: i % ORDER_PARTITIONS,
      value: {
        order_id: orderId,
        customer_id: customerId,
        amount: (i % 1000) / 10,
        region: 'L',
        ts: new Date(time).toISOString(),
      },
    });
    const partners = (byId.get(customerId) ?? []).filter(
      (r) => Math.abs(r.time - time) <= WINDOW_MS,
    );
    if (partners.length === 0) expected.push(`${orderId}/`);
    for (const r of partners) expected.push(`${orderId}/${r.version}`);
  }
  rights.forEach((r, j) => {
    customers[Math.floor((j * WAVES) / RIGHT)]!.push({
      partition: j % CUSTOMER_PARTITIONS,
      value: {
        id: r.id,
        version: r.version,
        name: `${r.id}-v${r.version}`,
        tier: 'gold',
        updated_at: new Date(r.time).toISOString(),
      },
    });
  });
  return { orders, customers, expected: expected.sort() };
}

describe('join exactly once under SIGKILL, and join state released', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let id: string | undefined;
  let peak = { bytes: 0, keys: 0 };

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
  });
  afterAll(async () => {
    if (app?.running && id) await deletePipeline(app, id);
    await app?.stop();
    await ch.close();
    await redis.quit();
  });

  it('writes the exact left join of 100k orders and 20k customer updates through 3 SIGKILLs', async () => {
    const { orders, customers, table } = await createJoinSources(
      ch,
      'jc',
      ORDER_PARTITIONS,
      CUSTOMER_PARTITIONS,
    );
    id = uniqueName('jchaos').replace(/_/g, '-');
    const pipelineId = id;
    const data = generate(11);
    // A short group session: each restarted process's consumer waits for the SIGKILLed members'
    // sessions before it gets partitions, so with the 10 s default the kills mostly landed before
    // anything was read.
    const runEnv = { ...env, ...SHORT_GROUP_SESSION, LEASE_TTL_MS: String(LEASE_TTL_MS) };
    const start = () => SluiceProcess.start({ env: runEnv });

    app = await start();
    await postPipeline(
      app,
      joinPipeline({
        id,
        orders,
        customers,
        table,
        type: 'left',
        window: '5s',
        lateness: '2m',
        partitions: PARTITIONS,
      }),
    );

    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    let settled = false;
    const producing = (async () => {
      for (let w = 0; w < WAVES; w++) {
        await produceTo(producer, customers, data.customers[w]!);
        await produceTo(producer, orders, data.orders[w]!);
        await sleep(300);
      }
      // One far-future event per source partition moves every watermark past every window.
      await produceTo(
        producer,
        orders,
        Array.from({ length: ORDER_PARTITIONS }, (_, p) => ({
          partition: p,
          value: { order_id: `clock-${p}`, customer_id: `clock-o${p}`, amount: 0, ts: CLOCK },
        })),
      );
      await produceTo(
        producer,
        customers,
        Array.from({ length: CUSTOMER_PARTITIONS }, (_, p) => ({
          partition: p,
          value: { id: `clock-c${p}`, version: 0, updated_at: CLOCK },
        })),
      );
    })();
    const sampling = (async () => {
      while (!settled) {
        const now = await joinStateMemory(redis, pipelineId, PARTITIONS).catch(() => peak);
        if (now.bytes > peak.bytes) peak = now;
        await sleep(1_500);
      }
    })();

    for (let k = 1; k <= 3; k++) {
      await sleep(2_000 + Math.floor(Math.random() * 3_000));
      await app.kill();
      log(`SIGKILL ${k}`);
      app = await start();
    }
    await producing;
    await close();

    const running = app;
    const consumed = LEFT + RIGHT + ORDER_PARTITIONS + CUSTOMER_PARTITIONS;
    let counters: Record<string, number> = {};
    let lastLog = 0;
    await running
      .waitFor(
        async () => {
          counters = await allCounters(running, pipelineId);
          if (Date.now() - lastLog > 10_000) {
            lastLog = Date.now();
            log(`counters ${JSON.stringify(counters)}`);
          }
          return counters.written === data.expected.length && counters.consumed === consumed;
        },
        150_000,
        'every expected row written',
      )
      .finally(() => (settled = true));
    await sampling;
    log(`counters ${JSON.stringify(counters)}; peak join state ${JSON.stringify(peak)}`);
    const unmatched = data.expected.filter((k) => k.endsWith('/')).length;
    expect(counters).toMatchObject({
      consumed,
      written: data.expected.length,
      duplicates: 0,
      deadLettered: 0,
      late: 0,
      joined: data.expected.length - unmatched,
      unmatchedLeft: unmatched,
    });
    const result = await ch.query({
      query: `SELECT order_id, version FROM ${table}`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ order_id: string; version: number | null }>();
    const got = rows.map((r) => `${r.order_id}/${r.version ?? ''}`).sort();
    expect(got.length).toBe(data.expected.length);
    expect(got).toEqual(data.expected);
  });

  it('holds almost no join state in Redis once the watermark has passed every window', async () => {
    const pipelineId = id as string;
    // The right side's last buckets are released with the same watermark; wait for the
    // checkpoint that deletes them.
    let now = { bytes: Number.POSITIVE_INFINITY, keys: 0 };
    await app!
      .waitFor(
        async () => {
          now = await joinStateMemory(redis, pipelineId, PARTITIONS);
          // What is left: the 12 far-future events and each actor's bucket index.
          return (
            now.keys <= 3 * (ORDER_PARTITIONS + CUSTOMER_PARTITIONS) + PARTITIONS &&
            now.bytes < 20_000
          );
        },
        30_000,
        'join state released',
      )
      .catch(async (err: unknown) => {
        for (let p = 0; p < PARTITIONS; p++) {
          const found = await redis.keys(`{sl:${pipelineId}:${p}}:join*`);
          for (const key of found) {
            log(`left: ${key} ${String(await redis.memory('USAGE', key))} B`);
          }
          log(
            `actor ${p} checkpoint join: ${await redis.hget(`{sl:${pipelineId}:${p}}:checkpoint`, 'join')}`,
          );
        }
        throw err;
      });
    log(`join state now ${JSON.stringify(now)}, peak ${JSON.stringify(peak)}`);
    expect(peak.bytes).toBeGreaterThan(1_000_000);
    expect(now.bytes).toBeLessThan(20_000);
    expect(now.bytes).toBeLessThan(peak.bytes / 100);
  });
});
