import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer, generateEvents, produceAll } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  deadLettersOf,
  dedupPipeline,
  deletePipeline,
  expectSettledOnce,
  postPipeline,
  uniqueName,
  uniquePipelineId,
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
    const id = uniquePipelineId('p');
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

    await expectSettledOnce(running, ch, id, table, stream, 300_000);

    const entries = await deadLettersOf(running, id);
    expect(entries).toHaveLength(stream.malformed);
    expect(entries.every((e) => e.stage === 'parse' && e.topic === topic)).toBe(true);
    const expectedMalformed = stream.messages.filter((m) => m.endsWith('"ts": ')).sort();
    expect(entries.map((e) => e.message).sort()).toEqual(expectedMalformed);
  });
});
