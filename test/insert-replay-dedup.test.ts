import type { ClickHouseClient } from '@clickhouse/client';
import { keys } from '@sluice/redis';
import { Redis } from 'ioredis';
import { connectProducer, type SampleEvent } from './support/events';
import {
  clickhouse,
  createSourceTopic,
  dedupPipeline,
  deadLettersOf,
  deletePipeline,
  EVENTS_TABLE_COLUMNS,
  pipelineView,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const log = (line: string) => process.stdout.write(`[insert-replay-dedup] ${line}\n`);

const PARTITIONS = 2;
const EVENTS = 20;
/** Events ClickHouse refuses while the CHECK constraint is in place. */
const REFUSED = [2, 7, 11, 16];

/**
 * A row dead-lettered at insert has its dedup key forgotten (so a re-sent copy can go in). A DLQ
 * replay of that row must record the key again and go through dedup like any event: a copy sent
 * after the replay is a duplicate, and a replayed row whose event was already re-sent (and
 * written) is one too. Each event ends with exactly one row.
 */
describe('DLQ replay of rows dead-lettered at insert, and dedup', () => {
  const env = { ...testStackEnv(), LOG_LEVEL: 'warn' };
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  const id = uniquePipelineId('insdedup');

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

  async function replay(body: unknown): Promise<number> {
    const url = `http://127.0.0.1:${app.port}/api/v1/pipelines/${id}/dlq/replay`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { replayed: number }).replayed;
  }

  /** Until `consumed` events were read, the DLQ holds `dlq` entries and every outcome is in. */
  async function settle(consumed: number, dlq: number) {
    let last = '';
    let view: Awaited<ReturnType<typeof pipelineView>> | undefined;
    await app.waitFor(
      async () => {
        view = await pipelineView(app, id);
        const c = view.counters;
        const replayed = view.otherCounters.replayed ?? 0;
        const letters = (await deadLettersOf(app, id)).length;
        last = JSON.stringify({ ...c, replayed, letters });
        const outcomes = c.written + c.filtered + c.duplicates + c.deadLettered;
        return c.consumed === consumed && letters === dlq && c.consumed + replayed === outcomes;
      },
      60_000,
      () => `consumed ${consumed}, DLQ ${dlq} (last ${last})`,
    );
    log(`settled: ${last}`);
    return { ...view!.counters, replayed: view!.otherCounters.replayed ?? 0 };
  }

  it('records the key again: re-sent copies before or after the replay are duplicates', async () => {
    const topic = uniqueName('insdedup');
    const table = uniqueName('insdedup_events');
    await createSourceTopic(topic, PARTITIONS);
    await ch.command({
      query: `CREATE TABLE ${table} (${EVENTS_TABLE_COLUMNS},
                CONSTRAINT small_amount CHECK amount < 1000)
              ENGINE = MergeTree ORDER BY event_id
              SETTINGS non_replicated_deduplication_window = 10000`,
    });
    const events = Array.from({ length: EVENTS }, (_, i): SampleEvent => ({
      event_id: `e-${i}`,
      ts: new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString(),
      user_id: i,
      project: 'p',
      action: 'click',
      amount: REFUSED.includes(i) ? 5_000 : i,
    }));
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const send = (indexes: number[]) =>
      producer.send({
        topic,
        messages: indexes.map((i) => ({
          value: JSON.stringify(events[i]),
          partition: i % PARTITIONS,
        })),
      });
    /** Dead-letter ids of the events `indexes`. */
    const letterIds = async (indexes: number[]) =>
      (await deadLettersOf(app, id))
        .filter((d) => indexes.includes(Number((JSON.parse(d.message) as SampleEvent).event_id.slice(2))))
        .map((d) => d.id);
    try {
      await postPipeline(app, dedupPipeline(id, topic, table, PARTITIONS));
      await send(events.map((_, i) => i));
      await app.waitFor(
        async () => (await deadLettersOf(app, id)).length >= REFUSED.length,
        60_000,
        'the refused rows dead-lettered',
      );
      const first = await settle(EVENTS, REFUSED.length);
      expect(first).toMatchObject({ written: EVENTS - REFUSED.length, deadLettered: REFUSED.length });
      const letters = await deadLettersOf(app, id);
      expect(letters.every((d) => d.stage === 'insert')).toBe(true);
      const [a, b, c, d] = REFUSED as [number, number, number, number];

      // 1. Right away (the actor may not have taken the keys out of its dedup state yet): the
      // table fixed, two rows replayed. They land: a key not forgotten yet must not make a
      // replayed row a duplicate of itself.
      await ch.command({ query: `ALTER TABLE ${table} DROP CONSTRAINT small_amount` });
      expect(await replay({ ids: await letterIds([c, d]) })).toBe(2);
      let counters = await settle(EVENTS, 2);
      expect(counters).toMatchObject({ written: EVENTS - 2, duplicates: 0, replayed: 2 });

      // 2. Event a re-sent by its producer before its dead letter is replayed: written (its key
      // was forgotten); the replay of its dead letter is then a duplicate, b's is written.
      await app.waitFor(
        async () => {
          const lists = await Promise.all(
            Array.from({ length: PARTITIONS }, (_, n) => redis.exists(keys.dedupForgets(id, n))),
          );
          return lists.every((n) => n === 0);
        },
        30_000,
        'the forget lists consumed',
      );
      await send([a]);
      counters = await settle(EVENTS + 1, 2);
      expect(counters).toMatchObject({ written: EVENTS - 1, duplicates: 0 });
      expect(await replay({})).toBe(2);
      counters = await settle(EVENTS + 1, 0);
      log(`after the replay: ${JSON.stringify(counters)}`);

      // 3. Every replayed event re-sent within the dedup window, after its replay: duplicates.
      await send([a, b, c, d]);
      counters = await settle(EVENTS + 5, 0);
      const ids = await tableIds(ch, table);
      const doubled = [...ids].filter(([, n]) => n !== 1).map(([e, n]) => `${e} x${n}`);
      expect(doubled).toEqual([]);
      expect(ids.size).toBe(EVENTS);
      expect(counters).toMatchObject({
        consumed: EVENTS + 5,
        filtered: 0,
        // a's replay, then the four copies sent after the replays.
        duplicates: 5,
        written: EVENTS,
        deadLettered: REFUSED.length,
        replayed: REFUSED.length,
      });
    } finally {
      await close();
    }
  }, 180_000);
});
