import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { readHolds } from '@sluice/redis';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { pausedActors, scrape } from './support/metrics';
import {
  clickhouse,
  countersOf,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  expectExactlyOnce,
  pipelineView,
  postPipeline,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVENTS = 8_000;
const KAFKA_PARTITIONS = 4;
const PARTITIONS = 2;
const DEDUP_MAX_KEYS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[state-bound] ${line}\n`);

/**
 * Dedup state at DEDUP_MAX_KEYS: the partition holds with 'state-full' (its keys stay within a
 * window, so it cannot shrink by itself), the rest of the input waits in Kafka, and nothing is
 * dropped; an operator raises the bound and restarts, and every event lands once.
 */
describe('dedup state bound', () => {
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let pipelineId: string | undefined;

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(testStackEnv().REDIS_URL);
  });
  afterAll(async () => {
    if (app?.running && pipelineId) await deletePipeline(app, pipelineId);
    await app?.stop();
    redis.disconnect();
    await ch.close();
  });

  it('holds the partition at the bound, drops nothing, and resumes with a higher bound', async () => {
    const topic = uniqueName('state');
    const table = uniqueName('state_events');
    const id = uniquePipelineId('state');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const stream = generateEvents(EVENTS, { duplicateRatio: 0.1, malformedRatio: 0.005, seed: 5 });
    const env = {
      ...testStackEnv(),
      DEDUP_MAX_KEYS: String(DEDUP_MAX_KEYS),
      MAILBOX_MAX_ENTRIES: '10',
      CONSUMER_LINGER_MAX_EVENTS: '50',
    };
    app = await SluiceProcess.start({ env });
    await postPipeline(app, dedupPipeline(id, topic, table, PARTITIONS));
    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    await produceAll(producer, topic, KAFKA_PARTITIONS, stream.messages);
    await close();

    await app.waitFor(
      async () =>
        (await readHolds(redis, id)).filter((h) => h.reason === 'state-full').length === PARTITIONS,
      60_000,
      'a state-full hold on every partition',
    );
    const holds = await readHolds(redis, id);
    log(`holds: ${JSON.stringify(holds)}`);
    expect(holds.map((h) => h.detail).join()).toContain(`DEDUP_MAX_KEYS ${DEDUP_MAX_KEYS}`);
    expect(pausedActors(await scrape(app), id, 'state-full')).toBe(PARTITIONS);
    // The counters are checkpointed: the batch open when the hold was set still flushes (within
    // its maxDelay, later on a loaded machine), so wait until they stop moving, then watch them.
    let before = await countersOf(app, id);
    for (let settled = false; !settled; ) {
      await sleep(1_000);
      const now = await countersOf(app, id);
      settled = now.consumed === before.consumed;
      before = now;
    }
    await sleep(3_000);
    const after = await countersOf(app, id);
    expect(after.consumed).toBe(before.consumed);
    // Held, never dropped: every consumed event has its outcome, the rest waits in Kafka.
    expect(after.written + after.duplicates + after.deadLettered).toBe(after.consumed);
    // The rest waits unread in the mailboxes (bounded by MAILBOX_MAX_ENTRIES) and in Kafka.
    log(`held at ${after.consumed} consumed, Kafka lag ${(await pipelineView(app, id)).lag}`);
    expect(after.consumed).toBeLessThan(EVENTS / 2);

    // The operator raises the bound.
    await app.stop();
    app = await SluiceProcess.start({ env: { ...env, DEDUP_MAX_KEYS: '1000000' } });
    await waitForSettled(app, id, EVENTS, 60_000, log);
    await expectExactlyOnce(app, ch, id, table, stream);
    await app.waitFor(
      async () => (await readHolds(redis, id)).length === 0,
      10_000,
      'holds cleared',
    );
  });
});
