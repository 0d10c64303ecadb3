import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import { allCounters, joinPipeline, joinStateMemory } from './support/join-fixture';
import {
  CLOCK,
  type History,
  joinHistory,
  produceHistory,
  rowDifferences,
} from './support/join-history';
import { clickhouse, postPipeline, uniquePipelineId } from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// Issue 14: a left join created over topics that already hold 40 minutes of event time (orders
// on 6 partitions lz4, customers on 2 zstd, each customer one minute before its order; window
// 2m, lateness 10s, startFrom earliest). Whatever order the source partitions are read in (one
// process or several consumer processes, one of them throttled or killed mid-backlog), no event
// may be late and the table must hold exactly one row per order. JOIN_HISTORY_ROUNDS repeats
// every case (tools/join-history-stress.sh runs 3).
const ROUNDS = Number(process.env.JOIN_HISTORY_ROUNDS ?? 1);
const REDIS_DB = 13; // its own cluster: no other test's pipelines or members
const PAIRS = 2_400;
/**
 * A consumer whose fetches are throttled: it pauses its partitions whenever a mailbox holds more
 * than 10 entries (backpressure, polled every 200 ms) and appends every batch at once, so the
 * mailboxes the other consumer fills keep it paused and its partitions lag theirs.
 */
const SLOW = { MAILBOX_MAX_ENTRIES: '10', CONSUMER_LINGER_MS: '0' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[join-history] ${line}\n`);

type Consumers = 'one' | 'three' | 'throttled' | 'killed';
interface Case {
  consumers: Consumers;
  partitions: number;
}
const CASES: Case[] = [
  { consumers: 'one', partitions: 2 },
  { consumers: 'one', partitions: 5 },
  { consumers: 'three', partitions: 2 },
  { consumers: 'three', partitions: 4 },
  { consumers: 'throttled', partitions: 3 },
  { consumers: 'killed', partitions: 4 },
];

describe('joins started over existing history: no event late', () => {
  const env = testStackEnv();
  const base = {
    REDIS_URL: `${env.REDIS_URL}/${REDIS_DB}`,
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    CLICKHOUSE_URL: env.CLICKHOUSE_URL,
    LEASE_TTL_MS: '4000',
    MEMBER_TIMEOUT_MS: '4000',
    HEARTBEAT_INTERVAL_MS: '1000',
  };
  let ch: ClickHouseClient;
  let redis: Redis;
  let procs: SluiceProcess[] = [];

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(`${env.REDIS_URL}/${REDIS_DB}`);
  });
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
  });
  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await ch.close();
  });

  const start = async (name: string, roles?: string, extra: Record<string, string> = {}) => {
    const proc = await SluiceProcess.start({
      env: { ...base, INSTANCE_ID: name, ...(roles ? { ROLES: roles } : {}), ...extra },
    });
    procs.push(proc);
    return proc;
  };

  /**
   * The largest spread in event time between the source partitions' marks any actor has
   * checkpointed, sampled until `done`: how far one consumer's partitions lagged the others'.
   */
  const sampleSpread = (id: string, partitions: number, done: () => boolean) =>
    (async () => {
      let spread = 0;
      while (!done()) {
        for (let p = 0; p < partitions; p++) {
          const meta = await redis.hget(keys.checkpoint(id, p), 'join').catch(() => null);
          if (!meta) continue;
          const src = (JSON.parse(meta) as { src: Record<string, [number | null]> }).src;
          // The clock events at the partitions' ends are no lag.
          const marks = Object.values(src).flatMap(([m]) => (m === null || m >= CLOCK ? [] : [m]));
          if (marks.length > 1) spread = Math.max(spread, Math.max(...marks) - Math.min(...marks));
        }
        await sleep(300);
      }
      return spread;
    })();

  async function run(c: Case, round: number): Promise<void> {
    await redis.flushdb();
    const history: History = joinHistory({ pairs: PAIRS, spanMs: 40 * 60_000, clocks: true });
    const { orders, customers, table } = await produceHistory(ch, 'jh', history);
    const id = uniquePipelineId(`jh-${c.consumers}`);
    const tag = `${c.consumers} consumer(s), ${c.partitions} partitions, round ${round}`;

    const main = await start(`${id}-a`);
    let others: SluiceProcess[] = [];
    if (c.consumers === 'three' || c.consumers === 'killed') {
      others = await Promise.all([
        start(`${id}-b`, 'consumer,owner', c.consumers === 'killed' ? SLOW : {}),
        start(`${id}-c`, 'consumer,owner'),
      ]);
    } else if (c.consumers === 'throttled') {
      others = [await start(`${id}-b`, 'consumer', SLOW)];
    }
    const definition = joinPipeline({
      id,
      orders,
      customers,
      table,
      type: 'left',
      window: '2m',
      lateness: '10s',
      partitions: c.partitions,
    });
    const source = definition.source as { topics: Record<string, unknown>[] };
    for (const topic of source.topics) topic.startFrom = 'earliest';
    await postPipeline(main, definition);

    let finished = false;
    const spread = sampleSpread(id, c.partitions, () => finished);
    if (c.consumers === 'killed') {
      // Mid-backlog: the slow member has read only part of its partitions.
      await sleep(3_000);
      await others[0]!.kill();
      log(`${tag}: SIGKILLed ${others[0]!.pid} mid-backlog`);
    }

    const total = history.orders.length + history.customers.length;
    let counters: Record<string, number> = {};
    try {
      await main.waitFor(
        async () => {
          counters = await allCounters(main, id);
          const done = counters.written === PAIRS || (counters.late ?? 0) > 0;
          return counters.consumed === total && done;
        },
        150_000,
        () => `${tag}: every event consumed (last ${JSON.stringify(counters)})`,
      );
    } finally {
      finished = true;
    }
    await sleep(1_000);
    counters = await allCounters(main, id);
    const lag = Math.round((await spread) / 1_000);
    log(`${tag}: ${JSON.stringify(counters)}; largest spread between marks ${lag} s`);
    await fetch(`http://127.0.0.1:${main.port}/api/v1/pipelines/${id}`, { method: 'DELETE' });
    expect({ tag, late: counters.late, deadLettered: counters.deadLettered }).toEqual({
      tag,
      late: 0,
      deadLettered: 0,
    });
    expect(counters).toMatchObject({ ...history.counters, written: PAIRS });
    expect(await rowDifferences(ch, table, history.expected)).toEqual([]);
  }

  const runs = CASES.flatMap((c) =>
    Array.from({ length: ROUNDS }, (_, r) => [c.consumers, c.partitions, r + 1, c] as const),
  );
  it.each(runs)('%s consumer(s), %i pipeline partitions, round %i', async (_, __, round, c) => {
    await run(c, round);
  });

  it('releases unmatched left rows and expired state within the bound once all sources are quiet', async () => {
    await redis.flushdb();
    // No clock events: only caught-up quiet sources can move the watermark past the last windows.
    const pairs = 600;
    const history = joinHistory({ pairs, spanMs: 10 * 60_000, clocks: false, leadMs: 5_000 });
    const { orders, customers, table } = await produceHistory(ch, 'jq', history);
    const id = uniquePipelineId('jh-quiet');
    const main = await start(`${id}-a`);
    const definition = joinPipeline({
      id,
      orders,
      customers,
      table,
      type: 'left',
      window: '10s',
      lateness: '1s',
      partitions: 3,
    });
    (definition.join as Record<string, unknown>).idleTimeout = '1s';
    await postPipeline(main, definition);
    const total = history.orders.length + history.customers.length;
    let counters: Record<string, number> = {};
    await main.waitFor(
      async () => (counters = await allCounters(main, id)).consumed === total,
      60_000,
      () => `every event consumed (last ${JSON.stringify(counters)})`,
    );
    const quietFrom = Date.now();
    // Every left row written and every bucket of both sides released (an actor's last right
    // bucket may close after its last left one).
    let state = { bytes: 0, keys: 0 };
    await main.waitFor(
      async () => {
        counters = await allCounters(main, id);
        if (counters.written !== pairs) return false;
        state = await joinStateMemory(redis, id, 3);
        return state.keys === 0;
      },
      60_000,
      () => `every order written, no state left (last ${JSON.stringify({ counters, state })})`,
    );
    const released = Date.now() - quietFrom;
    // README: (t - lowest mark) + idleTimeout + lateness, t = the last order's time + window +
    // bucket; the lowest mark is the last customer's time, 6 s before the last order at most.
    const bound = 6_000 + 10_000 + 2_500 + 1_000 + 1_000;
    log(
      `quiet release: ${released} ms (bound ${bound} ms + delivery), state ${JSON.stringify(state)}`,
    );
    await fetch(`http://127.0.0.1:${main.port}/api/v1/pipelines/${id}`, { method: 'DELETE' });
    expect(counters).toMatchObject({ ...history.counters, late: 0, deadLettered: 0 });
    expect(await rowDifferences(ch, table, history.expected)).toEqual([]);
    // Checkpoints (every 200 ms here), the writer and this poll add a few seconds at most.
    expect(released).toBeLessThan(bound + 5_000);
  });
});
