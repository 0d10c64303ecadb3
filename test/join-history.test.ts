import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { allCounters, joinPipeline } from './support/join-fixture';
import { type History, joinHistory, produceHistory, rowDifferences } from './support/join-history';
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
  let frozen: SluiceProcess | undefined;

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(`${env.REDIS_URL}/${REDIS_DB}`);
  });
  afterEach(async () => {
    if (frozen?.running) process.kill(frozen.pid, 'SIGCONT');
    frozen = undefined;
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
  });
  afterAll(async () => {
    await redis.flushdb();
    redis.disconnect();
    await ch.close();
  });

  const start = async (name: string, roles?: string) => {
    const proc = await SluiceProcess.start({
      env: { ...base, INSTANCE_ID: name, ...(roles ? { ROLES: roles } : {}) },
    });
    procs.push(proc);
    return proc;
  };

  /** Freezes `proc` 4/5 of the time (SIGSTOP/SIGCONT): its fetches, and so its sources, lag. */
  const throttle = (proc: SluiceProcess): (() => void) => {
    frozen = proc;
    let on = true;
    const cycling = (async () => {
      while (on && proc.running) {
        process.kill(proc.pid, 'SIGSTOP');
        await sleep(400);
        if (proc.running) process.kill(proc.pid, 'SIGCONT');
        await sleep(100);
      }
    })();
    return () => {
      on = false;
      void cycling.then(() => proc.running && process.kill(proc.pid, 'SIGCONT'));
    };
  };

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
        start(`${id}-b`, 'consumer,owner'),
        start(`${id}-c`, 'consumer,owner'),
      ]);
    } else if (c.consumers === 'throttled') {
      others = [await start(`${id}-b`, 'consumer')];
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

    let release: (() => void) | undefined;
    if (c.consumers === 'throttled' || c.consumers === 'killed') release = throttle(others[0]!);
    if (c.consumers === 'killed') {
      // Mid-backlog: the throttled member has read only part of its partitions.
      await sleep(3_000);
      release?.();
      await others[0]!.kill();
      log(`${tag}: SIGKILLed ${others[0]!.pid} mid-backlog`);
    }

    const total = history.orders.length + history.customers.length;
    let counters: Record<string, number> = {};
    await main.waitFor(
      async () => {
        counters = await allCounters(main, id);
        return (
          counters.consumed === total && (counters.written === PAIRS || (counters.late ?? 0) > 0)
        );
      },
      150_000,
      () => `${tag}: every event consumed (last ${JSON.stringify(counters)})`,
    );
    release?.();
    await sleep(1_000);
    counters = await allCounters(main, id);
    log(`${tag}: ${JSON.stringify(counters)}`);
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
});
