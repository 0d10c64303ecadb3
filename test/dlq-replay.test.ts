import type { ClickHouseClient } from '@clickhouse/client';
import { deadLetterEntry, keys, moveDeadLettersToMailbox, readReplayEntry } from '@sluice/redis';
import { Redis } from 'ioredis';
import { connectProducer, produceAll } from './support/events';
import {
  clickhouse,
  createSourceTopic,
  deadLettersOf,
  deletePipeline,
  pipelineView,
  postPipeline,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// POST /pipelines/:id/dlq/replay (README "DLQ replay"): events dead-lettered because the table
// could not hold them (a UInt8 column, values above 255) go in exactly once after the column is
// widened, however often the replay is asked and whatever process is killed during it.

const log = (line: string) => process.stdout.write(`[dlq-replay] ${line}\n`);

const PARTITIONS = 4;
/** Fit UInt8: written at once. */
const SMALL = 600;
/** v > 255: dead-lettered (stage transform) until the column is UInt16. Thousands, with a
 * padding field, so that the replay takes long enough for a kill to land during it. */
const LARGE = 6_000;
/** Not valid UTF-8: dead-lettered at parse, kept byte for byte through every replay. */
const BINARY = [Buffer.from([0xff, 0xfe, 0x7b]), Buffer.from('{"event_id":"\xc3\x28"}', 'latin1')];
/** Not JSON (and the BINARY ones): dead-lettered at parse, and again at every replay. */
const MALFORMED = 10 + BINARY.length;
const PAD = 'x'.repeat(1_500);

interface Replayed {
  status: number;
  body: { replayed?: number; message?: string };
}

describe('DLQ replay', () => {
  const env = {
    ...testStackEnv(),
    // The owner follows the ALTER within half a second; a killed owner's actors move in 2 s.
    SCHEMA_REFRESH_MS: '500',
    LEASE_TTL_MS: '2000',
    LOG_LEVEL: 'warn',
  };
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  const id = uniquePipelineId('replay');

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    app = await SluiceProcess.start({ env });
  });
  afterAll(async () => {
    if (app.running) await deletePipeline(app, id);
    await app.stop();
    await redis.quit();
    await ch.close();
  });

  async function replay(body: unknown, pipeline = id): Promise<Replayed> {
    const url = `http://127.0.0.1:${app.port}/api/v1/pipelines/${pipeline}/dlq/replay`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Replayed['body'] };
  }

  /** `replayed` over all partitions, read from Redis directly (cheap enough to poll tightly). */
  async function replayedInRedis(): Promise<number> {
    const tx = redis.pipeline();
    for (let p = 0; p < PARTITIONS; p++) tx.hget(keys.counters(id, p), 'replayed');
    const results = (await tx.exec()) ?? [];
    return results.reduce((sum, [, v]) => sum + Number(v ?? 0), 0);
  }

  /**
   * Until every replayed entry has its outcome: `written` rows reached, the DLQ holds `dlq`
   * entries, and consumed + replayed = written + filtered + duplicates + deadLettered.
   */
  async function settle(written: number, dlq: number, pipeline = id) {
    let last = '';
    await app.waitFor(
      async () => {
        const view = await pipelineView(app, pipeline);
        const c = view.counters;
        const replayed = view.otherCounters.replayed ?? 0;
        const letters = (await deadLettersOf(app, pipeline)).length;
        last = JSON.stringify({ ...c, replayed, letters });
        const outcomes = c.written + c.filtered + c.duplicates + c.deadLettered;
        return c.written === written && letters === dlq && c.consumed + replayed === outcomes;
      },
      90_000,
      () => `written ${written}, DLQ ${dlq} (last ${last})`,
    );
    log(`settled: ${last}`);
  }

  async function restart(): Promise<void> {
    app = await SluiceProcess.start({ env });
  }

  it('writes every entry once after the table is fixed: ids, filters, again, SIGKILLed', async () => {
    const topic = uniqueName('replay');
    const table = uniqueName('replay');
    await createSourceTopic(topic, PARTITIONS);
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, v UInt8) ENGINE = MergeTree
              ORDER BY event_id SETTINGS non_replicated_deduplication_window = 10000`,
    });
    const valueOf = (i: number) => (i < SMALL ? i % 256 : 256 + (i % 1000));
    const messages = Array.from({ length: SMALL + LARGE }, (_, i) =>
      JSON.stringify({ event_id: `e-${i}`, v: valueOf(i), pad: PAD }),
    );
    for (let i = 0; i < MALFORMED - BINARY.length; i++) {
      messages.push(`{"event_id": "bad-${i}", `);
    }
    await postPipeline(app, {
      id,
      source: {
        kafka: { brokers: env.KAFKA_BROKERS.split(',') },
        topics: [{ name: topic, startFrom: 'earliest' }],
      },
      partitions: PARTITIONS,
      dedup: { key: 'event_id', window: '24h' },
      sink: {
        clickhouse: {
          url: env.CLICKHOUSE_URL,
          table,
          batch: { maxRows: 2000, maxDelay: '200ms' },
        },
      },
    });
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    try {
      await produceAll(producer, topic, PARTITIONS, messages, 500);
      await producer.send({ topic, messages: BINARY.map((value) => ({ value })) });
    } finally {
      await close();
    }
    await settle(SMALL, LARGE + MALFORMED);
    const first = await deadLettersOf(app, id);
    expect(first.filter((d) => d.stage === 'transform')).toHaveLength(LARGE);
    expect(first.find((d) => d.stage === 'transform')?.error).toMatch(/out of range for UInt8/);

    // By id, before the fix: the entries leave the DLQ and come back with a new id and reason.
    const picked = first.filter((d) => d.stage === 'transform').slice(0, 5);
    const pickedIds = picked.map((d) => `${d.pipelinePartition}/${d.id}`);
    const beforeIds = Date.now();
    expect(await replay({ ids: pickedIds })).toEqual({ status: 200, body: { replayed: 5 } });
    await settle(SMALL, LARGE + MALFORMED);
    const back = await deadLettersOf(app, id);
    const offsets = (list: typeof back) => list.map((d) => `${d.partition}/${d.offset}`).sort();
    expect(back.filter((d) => pickedIds.includes(`${d.pipelinePartition}/${d.id}`))).toEqual([]);
    const returned = back.filter((d) => Date.parse(d.at) >= beforeIds);
    expect(offsets(returned)).toEqual(offsets(picked));
    // The same ids again: gone from the DLQ, nothing to replay.
    expect(await replay({ ids: pickedIds })).toEqual({ status: 200, body: { replayed: 0 } });

    await ch.command({ query: `ALTER TABLE ${table} MODIFY COLUMN v UInt16` });
    // Owners describe the table again every 500 ms.
    await new Promise((r) => setTimeout(r, 2_000));

    // A filter: stage and time (only the five dead-lettered again since `beforeIds`).
    expect(await replay({ stage: 'parse', since: new Date(beforeIds).toISOString() })).toEqual({
      status: 200,
      body: { replayed: 0 },
    });
    expect(await replay({ stage: 'transform', since: new Date(beforeIds).toISOString() })).toEqual({
      status: 200,
      body: { replayed: 5 },
    });
    await settle(SMALL + 5, LARGE - 5 + MALFORMED);

    // Everything, with the process SIGKILLed while the request moves entries.
    const replayedBefore = await replayedInRedis();
    const inFlight = replay({}).catch((err: unknown) => err);
    while ((await replayedInRedis()) === replayedBefore) {
      // Polled tightly: the kill is to land between two of the request's steps.
    }
    await app.kill();
    await inFlight;
    const movedBeforeKill = (await replayedInRedis()) - replayedBefore;
    log(`killed after ${movedBeforeKill} of ${LARGE - 5 + MALFORMED} entries were moved`);
    // The entries moved before the kill wait in the mailboxes for the restarted owner; the rest
    // are still in the DLQ.
    await restart();

    // Again, killed right after the answer, while the actors still apply the replay entries.
    const again = await replay({ stage: 'transform' });
    expect(again.status).toBe(200);
    log(`second replay moved ${again.body.replayed}`);
    await app.kill();
    await restart();
    await settle(SMALL + LARGE, MALFORMED);

    // Nothing left to replay of stage transform; parse entries fail again, the table unchanged.
    expect(await replay({ stage: 'transform' })).toEqual({ status: 200, body: { replayed: 0 } });
    expect(await replay({})).toEqual({ status: 200, body: { replayed: MALFORMED } });
    await settle(SMALL + LARGE, MALFORMED);

    const rows = await ch.query({
      query: `SELECT event_id, count() AS n, any(v) AS v FROM ${table} GROUP BY event_id`,
      format: 'JSONEachRow',
    });
    const found = await rows.json<{ event_id: string; n: string | number; v: number }>();
    expect(found).toHaveLength(SMALL + LARGE);
    const wrong = found.filter(
      (r) => Number(r.n) !== 1 || r.v !== valueOf(Number(r.event_id.slice(2))),
    );
    expect(wrong.slice(0, 10)).toEqual([]);
    const letters = await deadLettersOf(app, id);
    expect(letters.every((d) => d.stage === 'parse')).toBe(true);
    // Replayed, the bytes a producer sent are still the bytes it sent.
    const binary = letters.filter((d) => d.messageEncoding === 'base64').map((d) => d.message);
    expect(binary.sort()).toEqual(BINARY.map((b) => b.toString('base64')).sort());
    // No entry applied twice: the dedup key would have dropped the second copy, counted here.
    const view = await pipelineView(app, id);
    expect(view.counters).toMatchObject({
      consumed: SMALL + LARGE + MALFORMED,
      written: SMALL + LARGE,
      duplicates: 0,
      filtered: 0,
    });
  }, 400_000);

  it('moves dead letters in entries of bounded size, each once, skipping those gone', async () => {
    // The move script alone, on the stack's Redis (no pipeline: its keys only).
    const pid = uniquePipelineId('replaymove');
    const dlq = keys.deadLetters(pid, 0);
    const big = 'y'.repeat(9 * 1024 * 1024);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const letter = deadLetterEntry({
        stage: 'transform',
        error: 'e',
        topic: 't',
        partition: 0,
        offset: i,
        message: `{"i":${i},"pad":"${big}"}`,
        at: 1,
      });
      ids.push((await redis.xadd(dlq, '*', ...letter)) as string);
    }
    await redis.xdel(dlq, ids[1]!);
    try {
      // 9 MiB each, 16 MiB an entry at most: two entries for the two still there.
      const moved = await moveDeadLettersToMailbox(redis, pid, 0, [...ids, ...ids]);
      expect(moved).toBe(2);
      expect(await redis.xlen(dlq)).toBe(0);
      const entries = await redis.xrangeBuffer(keys.mailbox(pid, 0), '-', '+');
      const letters = entries.map(([, fields]) => readReplayEntry(fields));
      expect(letters.map((l) => l?.map((d) => [d.dlqId, d.offset]))).toEqual([
        [[ids[0], 0]],
        [[ids[2], 2]],
      ]);
      expect(await redis.hget(keys.counters(pid, 0), 'replayed')).toBe('2');
      expect(await moveDeadLettersToMailbox(redis, pid, 0, ids)).toBe(0);
    } finally {
      await redis.del(dlq, keys.mailbox(pid, 0), keys.counters(pid, 0));
    }
  });

  it('sends rows ClickHouse refused (stage insert) to the table again as they were', async () => {
    const topic = uniqueName('replayins');
    const table = uniqueName('replayins');
    const insId = uniquePipelineId('replayins');
    await createSourceTopic(topic, 2);
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, amount UInt32,
                CONSTRAINT small CHECK amount < 1000)
              ENGINE = MergeTree ORDER BY event_id
              SETTINGS non_replicated_deduplication_window = 10000`,
    });
    const refused = (i: number) => i % 5 === 0;
    const messages = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ event_id: `i-${i}`, amount: refused(i) ? 5_000 + i : i }),
    );
    await postPipeline(app, {
      id: insId,
      source: {
        kafka: { brokers: env.KAFKA_BROKERS.split(',') },
        topics: [{ name: topic, startFrom: 'earliest' }],
      },
      partitions: 2,
      sink: { clickhouse: { url: env.CLICKHOUSE_URL, table, batch: { maxDelay: '200ms' } } },
    });
    try {
      const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
      try {
        await produceAll(producer, topic, 2, messages);
      } finally {
        await close();
      }
      await settle(32, 8, insId);
      const positions = async () =>
        (await deadLettersOf(app, insId))
          .map((d) => `${d.stage} ${d.partition}/${d.offset}`)
          .sort();
      const before = await positions();
      expect(before.every((p) => p.startsWith('insert '))).toBe(true);

      // Still refused: back at stage insert, with the same source positions.
      expect(await replay({ stage: 'insert' }, insId)).toEqual({
        status: 200,
        body: { replayed: 8 },
      });
      await settle(32, 8, insId);
      expect(await positions()).toEqual(before);

      await ch.command({ query: `ALTER TABLE ${table} DROP CONSTRAINT small` });
      expect(await replay({}, insId)).toEqual({ status: 200, body: { replayed: 8 } });
      await settle(40, 0, insId);
      const rows = await ch.query({
        query: `SELECT event_id, amount FROM ${table} ORDER BY event_id`,
        format: 'JSONEachRow',
      });
      const found = await rows.json<{ event_id: string; amount: number }>();
      expect(found).toHaveLength(40);
      for (const row of found) {
        const i = Number(row.event_id.slice(2));
        expect(row.amount).toBe(refused(i) ? 5_000 + i : i);
      }
    } finally {
      await deletePipeline(app, insId);
    }
  }, 200_000);
});
