import type { ClickHouseClient } from '@clickhouse/client';
import { keys } from '@sluice/redis';
import { Redis } from 'ioredis';
import { connectProducer, type SampleEvent } from './support/events';
import {
  clickhouse,
  countersOf,
  createSourceTopic,
  dedupPipeline,
  deadLettersOf,
  deletePipeline,
  EVENTS_TABLE_COLUMNS,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const log = (line: string) => process.stdout.write(`[insert-dlq] ${line}\n`);

const PARTITIONS = 2;
const EVENTS = 60;
/** Events ClickHouse refuses while the CHECK constraint is in place: all in the second half. */
const REFUSED = new Set([33, 40, 47, 56]);

/**
 * Rows ClickHouse refuses for good are dead-lettered at insert. Such a dead letter names the
 * event's source position like any other, and the event's dedup key is forgotten: fixed and sent
 * again, the event is written instead of being dropped as a duplicate of a row that never landed.
 */
describe('rows dead-lettered at insert', () => {
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  let id = '';

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(testStackEnv().REDIS_URL);
    app = await SluiceProcess.start({ env: { ...testStackEnv() } });
  });
  afterAll(async () => {
    if (id !== '') await deletePipeline(app, id);
    await app.stop();
    await redis.quit();
    await ch.close();
  });

  it('keep their source position, and a re-sent copy is written, not taken for a duplicate', async () => {
    const topic = uniqueName('insdlq');
    const table = uniqueName('insdlq_events');
    id = uniquePipelineId('insdlq');
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
      amount: REFUSED.has(i) ? 5_000 : i,
    }));
    const messages = events.map((e) => JSON.stringify(e));
    // Partition i % 2, in order: event i is at offset floor(i / 2) of its partition.
    const positionOf = (i: number) => ({ partition: i % PARTITIONS, offset: Math.floor(i / 2) });
    const send = (indexes: number[]) =>
      producer.send({
        topic,
        messages: indexes.map((i) => ({ value: messages[i]!, partition: i % PARTITIONS })),
      });

    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    try {
      await postPipeline(app, dedupPipeline(id, topic, table, PARTITIONS));
      // The first half lands (written), then the half with the refused rows.
      const all = events.map((_, i) => i);
      await send(all.slice(0, EVENTS / 2));
      await waitForSettled(app, id, EVENTS / 2, 120_000, log);
      await send(all.slice(EVENTS / 2));
      const first = await waitForSettled(app, id, EVENTS, 120_000, log);
      // Today's writer dead-letters a refused batch whole; at least the refused rows.
      expect(first.deadLettered).toBeGreaterThanOrEqual(REFUSED.size);
      expect(first.written + first.deadLettered).toBe(EVENTS);

      const letters = await deadLettersOf(app, id);
      expect(letters).toHaveLength(first.deadLettered);
      const dead: number[] = [];
      for (const letter of letters) {
        expect(letter).toMatchObject({ stage: 'insert', topic });
        const row = JSON.parse(letter.message) as { event_id: string };
        const i = Number(row.event_id.slice(2));
        // The position is the event's own, not merely some position.
        expect({ partition: letter.partition, offset: letter.offset }).toEqual(positionOf(i));
        dead.push(i);
      }
      for (const i of REFUSED) expect(dead).toContain(i);
      log(`${dead.length} rows dead-lettered at insert`);

      // The actors take the keys out of their dedup state and consume the forget lists.
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
      await ch.command({ query: `ALTER TABLE ${table} DROP CONSTRAINT small_amount` });
      // The dead-lettered events sent again, and two written ones (still duplicates).
      const written = all.filter((i) => !dead.includes(i));
      await send([...dead, written[0]!, written[1]!]);
      const after = await waitForSettled(app, id, EVENTS + dead.length + 2, 120_000, log);
      expect(after).toMatchObject({
        consumed: EVENTS + dead.length + 2,
        duplicates: 2,
        written: EVENTS,
        deadLettered: dead.length,
      });
    } finally {
      await close();
    }
    const ids = await tableIds(ch, table);
    expect(ids.size).toBe(EVENTS);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    expect((await countersOf(app, id)).written).toBe(EVENTS);
  }, 300_000);
});
