import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { readHolds } from '@sluice/redis';
import { stackKill, stackUp } from '@sluice/stack';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { pausedActors, scrape } from './support/metrics';
import { TEST_STACK_DIR } from './support/paths';
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
  tableCount,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const FIRST = 2_000;
const DURING_OUTAGE = 30_000;
const KAFKA_PARTITIONS = 8;
const PARTITIONS = 2;
const OUTBOX_MAX_BATCHES = 3;
const MAX_ROWS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[outbox-bound] ${line}\n`);

/**
 * ClickHouse down for longer than the outbox bound lasts: each actor stops at OUTBOX_MAX_BATCHES
 * (one batch over at most), says so with an 'outbox-full' hold, its mailbox fills and the consumer
 * leaves the backlog in Kafka; once ClickHouse is back everything lands once.
 */
describe('outbox bound during a ClickHouse outage', () => {
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let pipelineId: string | undefined;

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(testStackEnv().REDIS_URL);
  });
  afterAll(async () => {
    await stackUp({ dir: TEST_STACK_DIR, services: ['clickhouse'] });
    if (app?.running && pipelineId) await deletePipeline(app, pipelineId);
    await app?.stop();
    redis.disconnect();
    await ch.close();
  });

  it('holds consumption at the bound, says so, then writes everything once', async () => {
    const topic = uniqueName('outbox');
    const table = uniqueName('outbox_events');
    const id = uniquePipelineId('outbox');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const stream = generateEvents(FIRST + DURING_OUTAGE, {
      duplicateRatio: 0.1,
      malformedRatio: 0.005,
      seed: 33,
    });
    app = await SluiceProcess.start({
      env: {
        ...testStackEnv(),
        OUTBOX_MAX_BATCHES: String(OUTBOX_MAX_BATCHES),
        MAILBOX_MAX_ENTRIES: '10',
        // Small entries, so ten of them are far less than the backlog.
        CONSUMER_LINGER_MAX_EVENTS: '100',
      },
    });
    const definition = dedupPipeline(id, topic, table, PARTITIONS);
    const sink = (definition.sink as { clickhouse: Record<string, unknown> }).clickhouse;
    sink.batch = { maxRows: MAX_ROWS, maxDelay: '300ms' };
    await postPipeline(app, definition);

    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    await produceAll(producer, topic, KAFKA_PARTITIONS, stream.messages.slice(0, FIRST));
    await app.waitFor(async () => (await tableCount(ch, table)).rows > 0, 60_000, 'first rows');

    await stackKill('clickhouse', { dir: TEST_STACK_DIR });
    log('ClickHouse killed');
    await produceAll(producer, topic, KAFKA_PARTITIONS, stream.messages.slice(FIRST));
    await close();

    // Every actor reaches the bound and holds.
    await app.waitFor(
      async () =>
        (await readHolds(redis, id)).filter((h) => h.reason === 'outbox-full').length ===
        PARTITIONS,
      60_000,
      'an outbox-full hold on every partition',
    );
    const holds = await readHolds(redis, id);
    log(`holds: ${JSON.stringify(holds)}`);
    expect(holds.map((h) => h.detail).join()).toContain(`OUTBOX_MAX_BATCHES ${OUTBOX_MAX_BATCHES}`);
    expect(pausedActors(await scrape(app), id, 'outbox-full')).toBe(PARTITIONS);

    // Held: nothing more is taken in, the backlog waits in Kafka, the outbox stays bounded.
    const before = await countersOf(app, id);
    await sleep(3_000);
    const after = await countersOf(app, id);
    expect(after.consumed).toBe(before.consumed);
    const view = await pipelineView(app, id);
    log(`held at ${after.consumed} consumed, Kafka lag ${view.lag}`);
    expect(view.lag).toBeGreaterThan(DURING_OUTAGE / 3);
    for (let partition = 0; partition < PARTITIONS; partition += 1) {
      const outbox = await redis.scard(`{sl:${id}:${partition}}:outbox-index`);
      expect(outbox).toBeLessThanOrEqual(OUTBOX_MAX_BATCHES + 1);
    }

    await stackUp({ dir: TEST_STACK_DIR, services: ['clickhouse'] });
    log('ClickHouse back');
    await waitForSettled(app, id, stream.messages.length, 120_000, log);
    await expectExactlyOnce(app, ch, id, table, stream);
    await app.waitFor(
      async () => (await readHolds(redis, id)).length === 0,
      10_000,
      'holds cleared',
    );
  });
});
