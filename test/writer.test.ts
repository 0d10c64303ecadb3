import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import { parsePipelineDefinition } from '@sluice/pipeline';
import {
  BATCH_JOB_NAME,
  BATCH_QUEUE,
  BATCH_QUEUE_PREFIX,
  type BatchJob,
  batchId,
  batchJobOptions,
  keys,
} from '@sluice/redis';
import { stackDown, stackKill, stackUp } from '@sluice/stack';
import { type Job, Queue, QueueEvents } from 'bullmq';
import Redis from 'ioredis';
import { pack } from 'msgpackr';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// The writer role alone, fed by hand: outbox entries and BullMQ jobs exactly as an owner writes
// them (docs/architecture.md, "outbox -> BullMQ -> ClickHouse").

type Row = Record<string, unknown>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

describe('writer role', () => {
  const env = testStackEnv();
  let redis: Redis;
  let ch: ClickHouseClient;
  let queue: Queue<BatchJob>;
  let events: QueueEvents;
  let writer: SluiceProcess | undefined;

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    ch = createClient({ url: env.CLICKHOUSE_URL });
    const connection = { url: env.REDIS_URL, maxRetriesPerRequest: null };
    queue = new Queue<BatchJob>(BATCH_QUEUE, { connection, prefix: BATCH_QUEUE_PREFIX });
    events = new QueueEvents(BATCH_QUEUE, { connection, prefix: BATCH_QUEUE_PREFIX });
    await events.waitUntilReady();
    writer = await SluiceProcess.start({
      env: {
        REDIS_URL: env.REDIS_URL,
        CLICKHOUSE_URL: env.CLICKHOUSE_URL,
        ROLES: 'writer',
        WRITER_CONCURRENCY: '2',
        LEASE_TTL_MS: '4000',
      },
    });
  });

  // Pipelines stored here are removed again: processes of other suites on the same stack would
  // otherwise start consumers and actors for them.
  const stored: string[] = [];
  afterAll(async () => {
    if (stored.length > 0) {
      const tx = redis.multi();
      for (const id of stored) {
        tx.hdel(keys.pipelines(), id).hdel(keys.pipelineStatus(), id);
        for (let p = 0; p < 4; p++) {
          tx.del(keys.counters(id, p), keys.deadLetters(id, p), keys.outboxIndex(id, p));
        }
      }
      await tx.incr(keys.pipelinesVersion()).exec();
    }
    await writer?.stop();
    await events?.close();
    await queue?.close();
    await ch?.close();
    redis?.disconnect();
  });

  async function createTable(client: ClickHouseClient, table: string): Promise<void> {
    await client.command({
      query: `CREATE TABLE ${table} (id UInt64, name String) ENGINE = MergeTree ORDER BY id
              SETTINGS non_replicated_deduplication_window = 1000`,
    });
  }

  async function countRows(client: ClickHouseClient, table: string): Promise<number> {
    const result = await client.query({
      query: `SELECT count() AS n FROM ${table}`,
      format: 'JSONEachRow',
    });
    return Number((await result.json<{ n: string }>())[0]?.n);
  }

  /** Stores a pipeline the way the admin API does, so the writer's watcher knows its sink. */
  async function storePipeline(id: string, table: string, clickhouseUrl: string): Promise<void> {
    const parsed = parsePipelineDefinition({
      id,
      source: {
        kafka: { brokers: env.KAFKA_BROKERS.split(',') },
        topics: [{ name: `${id}-topic` }],
      },
      partitions: 4,
      sink: { clickhouse: { url: clickhouseUrl, table } },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    stored.push(id);
    await redis
      .multi()
      .hset(keys.pipelines(), id, JSON.stringify(parsed.definition.definition))
      .hset(keys.pipelineStatus(), id, 'running')
      .incr(keys.pipelinesVersion())
      .exec();
  }

  /** Writes the outbox entry and its index member, as the owner's checkpoint does. */
  async function putOutbox(ref: BatchJob, table: string, rows: Row[]): Promise<void> {
    const entry = { ...ref, database: 'default', table, rows, createdAt: Date.now() };
    await redis
      .multi()
      .set(keys.outboxBatch(ref.pipeline, ref.partition, ref.batchId), pack(entry))
      .sadd(keys.outboxIndex(ref.pipeline, ref.partition), ref.batchId)
      .exec();
  }

  function announce(ref: BatchJob): Promise<Job<BatchJob>> {
    return queue.add(BATCH_JOB_NAME, ref, batchJobOptions(ref.batchId));
  }

  /**
   * Announces the batch and resolves with the job's return value. The listener is in place
   * before the job exists: with removeOnComplete a fast job is gone before anyone could ask.
   */
  async function run(ref: BatchJob, timeoutMs = 60_000): Promise<unknown> {
    let stop = () => undefined as void;
    const done = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${ref.batchId} not done`)), timeoutMs);
      const onCompleted = (args: { returnvalue: unknown }) => resolve(args.returnvalue);
      const onFailed = (args: { failedReason: string }) => reject(new Error(args.failedReason));
      events.on(`completed:${ref.batchId}` as 'completed', onCompleted);
      events.on(`failed:${ref.batchId}` as 'failed', onFailed);
      stop = () => {
        clearTimeout(timer);
        events.off(`completed:${ref.batchId}` as 'completed', onCompleted);
        events.off(`failed:${ref.batchId}` as 'failed', onFailed);
      };
    });
    try {
      await announce(ref);
      return await done;
    } finally {
      stop();
    }
  }

  async function outboxState(ref: BatchJob) {
    const [entry, member, written, deadLettered] = await Promise.all([
      redis.exists(keys.outboxBatch(ref.pipeline, ref.partition, ref.batchId)),
      redis.sismember(keys.outboxIndex(ref.pipeline, ref.partition), ref.batchId),
      redis.hget(keys.counters(ref.pipeline, ref.partition), 'written'),
      redis.hget(keys.counters(ref.pipeline, ref.partition), 'deadLettered'),
    ]);
    return {
      entry,
      member,
      written: Number(written ?? 0),
      deadLettered: Number(deadLettered ?? 0),
    };
  }

  function rows(n: number, from = 0): Row[] {
    return Array.from({ length: n }, (_, i) => ({ id: from + i, name: `row-${from + i}` }));
  }

  it('writes a batch once, deletes its outbox entry and counts its rows', async () => {
    const pipeline = unique('w-once').replace(/_/g, '-');
    const table = unique('writer_once');
    await createTable(ch, table);
    await storePipeline(pipeline, table, env.CLICKHOUSE_URL);

    const refs = [0, 1, 2].map((seq) => ({
      pipeline,
      partition: 1,
      batchId: batchId(pipeline, 1, { epoch: 1, run: 1, seq: seq }),
    }));
    for (const [i, ref] of refs.entries()) await putOutbox(ref, table, rows(500, i * 500));
    expect(await Promise.all(refs.map((ref) => run(ref)))).toEqual([
      'written',
      'written',
      'written',
    ]);

    expect(await countRows(ch, table)).toBe(1_500);
    for (const ref of refs) {
      expect(await outboxState(ref)).toMatchObject({ entry: 0, member: 0 });
    }
    expect(await outboxState(refs[0]!)).toMatchObject({ written: 1_500, deadLettered: 0 });
  });

  it('lands a batch once when it is written again or announced again', async () => {
    const pipeline = unique('w-twice').replace(/_/g, '-');
    const table = unique('writer_twice');
    await createTable(ch, table);
    await storePipeline(pipeline, table, env.CLICKHOUSE_URL);
    const ref = {
      pipeline,
      partition: 0,
      batchId: batchId(pipeline, 0, { epoch: 3, run: 1, seq: 7 }),
    };
    const batch = rows(200);

    // A previous writer inserted the batch and crashed before deleting the outbox entry.
    await ch.insert({
      table,
      values: batch,
      format: 'JSONEachRow',
      clickhouse_settings: {
        insert_deduplication_token: ref.batchId,
        insert_deduplicate: 1,
        async_insert: 0,
      },
    });
    await putOutbox(ref, table, batch);
    // Announced twice while pending: BullMQ keeps one job per id.
    const [outcome] = await Promise.all([run(ref), announce(ref)]);
    expect(outcome).toBe('written');
    expect(await countRows(ch, table)).toBe(200);
    expect(await outboxState(ref)).toEqual({ entry: 0, member: 0, written: 200, deadLettered: 0 });

    // Announced again after it was written (an actor re-announcing on start): nothing to do.
    expect(await run(ref)).toBe('gone');
    expect(await countRows(ch, table)).toBe(200);
    expect(await outboxState(ref)).toEqual({ entry: 0, member: 0, written: 200, deadLettered: 0 });
  });

  it('dead-letters only the rows ClickHouse refuses, each with its message, and writes the rest', async () => {
    const pipeline = unique('w-dlq').replace(/_/g, '-');
    const table = unique('writer_dlq');
    await createTable(ch, table);
    await storePipeline(pipeline, table, env.CLICKHOUSE_URL);
    const ref = {
      pipeline,
      partition: 2,
      batchId: batchId(pipeline, 2, { epoch: 1, run: 1, seq: 0 }),
    };
    const bad = { id: 'not a number', name: 'bad' };
    const batch = [...rows(2), bad, ...rows(3, 2)];
    await putOutbox(ref, table, batch);

    expect(await run(ref)).toBe('dead-lettered');
    expect(await countRows(ch, table)).toBe(5);
    expect(await outboxState(ref)).toEqual({ entry: 0, member: 0, written: 5, deadLettered: 1 });
    const entries = await redis.xrange(keys.deadLetters(pipeline, 2), '-', '+');
    expect(entries).toHaveLength(1);
    const fields = entries.map(([, flat]) => {
      const map = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i]!, flat[i + 1]!);
      return map;
    });
    expect(fields.map((f) => JSON.parse(f.get('message')!) as Row)).toEqual([bad]);
    for (const f of fields) {
      expect(f.get('stage')).toBe('insert');
      expect(f.get('error')).toMatch(/^ClickHouse \S+ \(27\): Cannot parse input/);
      expect(f.get('topic')).toBe('');
      expect(f.get('offset')).toBe('');
      expect(Number.isNaN(Date.parse(f.get('at')!))).toBe(false);
    }

    // Announced again (an actor re-announcing on start): settled already, nothing doubles.
    expect(await run(ref)).toBe('gone');
    expect(await countRows(ch, table)).toBe(5);
  });

  it('leaves the batch of an unknown pipeline in the outbox', async () => {
    const pipeline = unique('w-gone').replace(/_/g, '-');
    const ref = {
      pipeline,
      partition: 0,
      batchId: batchId(pipeline, 0, { epoch: 1, run: 1, seq: 0 }),
    };
    await putOutbox(ref, 'nowhere', rows(3));
    expect(await run(ref)).toBe('orphaned');
    expect(await outboxState(ref)).toMatchObject({ entry: 1, member: 1, written: 0 });
    await redis.del(keys.outboxBatch(pipeline, 0, ref.batchId), keys.outboxIndex(pipeline, 0));
  });

  describe('while ClickHouse is down', () => {
    // A ClickHouse of its own: killing the shared test stack's would break the suites that run
    // alongside this one.
    const dir = mkdtempSync(join(tmpdir(), 'sluice-writer-ch-'));
    let privateCh: ClickHouseClient | undefined;

    afterEach(async () => {
      // Whatever happened, leave a running server behind for the next test.
      await stackUp({ dir, services: ['clickhouse'] });
    });

    afterAll(async () => {
      await privateCh?.close();
      await stackDown({ dir });
      rmSync(dir, { recursive: true, force: true });
    });

    it('retries the batch and writes it exactly once after ClickHouse is back', async () => {
      const { CLICKHOUSE_URL } = await stackUp({ dir, services: ['clickhouse'] });
      privateCh = createClient({ url: CLICKHOUSE_URL });
      const pipeline = unique('w-down').replace(/_/g, '-');
      const table = unique('writer_down');
      await createTable(privateCh, table);
      await storePipeline(pipeline, table, CLICKHOUSE_URL);
      // Warm up: the writer has a client for this sink before the server goes away.
      const first = {
        pipeline,
        partition: 3,
        batchId: batchId(pipeline, 3, { epoch: 1, run: 1, seq: 0 }),
      };
      await putOutbox(first, table, rows(100));
      expect(await run(first)).toBe('written');

      await stackKill('clickhouse', { dir });
      const ref = {
        pipeline,
        partition: 3,
        batchId: batchId(pipeline, 3, { epoch: 1, run: 1, seq: 1 }),
      };
      await putOutbox(ref, table, rows(300, 100));
      const outcome = run(ref, 120_000);
      outcome.catch(() => undefined);
      await sleep(5_000);
      // Still waiting in the outbox, neither written nor dead-lettered, and retried meanwhile.
      expect(await outboxState(ref)).toMatchObject({ entry: 1, member: 1, deadLettered: 0 });
      const pending = await queue.getJob(ref.batchId);
      expect(pending?.attemptsStarted).toBeGreaterThan(1);
      expect(await pending?.getState()).not.toBe('failed');

      await stackUp({ dir, services: ['clickhouse'] });
      expect(await outcome).toBe('written');
      expect(await countRows(privateCh, table)).toBe(400);
      expect(await outboxState(ref)).toEqual({
        entry: 0,
        member: 0,
        written: 400,
        deadLettered: 0,
      });
    });
  });
});
