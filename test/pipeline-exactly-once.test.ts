import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer, generateEvents, produceAll } from './support/events';
import {
  clickhouse,
  countersOf,
  deletePipeline,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  postPipeline,
  tableCount,
  uniqueName,
  type Counters,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVENTS = 200_000;
const KAFKA_PARTITIONS = 16;

describe('dedup pipeline end to end', () => {
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let pipelineId: string | undefined;

  beforeAll(() => {
    ch = clickhouse();
  });
  afterAll(async () => {
    if (app?.running && pipelineId) await deletePipeline(app, pipelineId);
    await app?.stop();
    await ch.close();
  });

  it('writes exactly the unique well-formed events and dead-letters exactly the malformed ones', async () => {
    const topic = uniqueName('orders');
    const table = uniqueName('events');
    const id = uniqueName('p').replace(/_/g, '-').toLowerCase();
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const stream = generateEvents(EVENTS, { duplicateRatio: 0.1, malformedRatio: 0.005 });

    app = await SluiceProcess.start({ env: { ...testStackEnv() } });
    const running = app;
    await postPipeline(running, dedupPipeline(id, topic, table));
    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    try {
      await produceAll(producer, topic, KAFKA_PARTITIONS, stream.messages);
    } finally {
      await close();
    }

    let counters: Counters | undefined;
    await running.waitFor(
      async () => {
        counters = await countersOf(running, id);
        return (
          counters.consumed === EVENTS &&
          counters.written + counters.deadLettered + counters.duplicates + counters.filtered ===
            EVENTS
        );
      },
      300_000,
      `all ${EVENTS} events accounted for`,
    );
    expect(counters).toEqual({
      consumed: EVENTS,
      filtered: 0,
      duplicates: stream.duplicates,
      written: stream.uniqueIds.size,
      deadLettered: stream.malformed,
    });
    expect(await tableCount(ch, table)).toEqual({
      rows: stream.uniqueIds.size,
      ids: stream.uniqueIds.size,
    });

    const dlq = await running.get(`/api/v1/pipelines/${id}/dlq?limit=10000`);
    const entries = dlq.body as { stage: string; message: string; topic: string }[];
    expect(entries).toHaveLength(stream.malformed);
    expect(entries.every((e) => e.stage === 'parse' && e.topic === topic)).toBe(true);
    const expectedMalformed = stream.messages.filter((m) => m.endsWith('"ts": ')).sort();
    expect(entries.map((e) => e.message).sort()).toEqual(expectedMalformed);
  });
});
