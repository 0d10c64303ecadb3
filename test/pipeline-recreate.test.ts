import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer, generateEvents, produceAll } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  expectedCounters,
  expectSettledOnce,
  pipelineView,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const log = (line: string) => process.stdout.write(`[recreate] ${line}\n`);

const KAFKA_PARTITIONS = 4;
const PIPELINE_PARTITIONS = 4;

/**
 * Insert tokens are batch ids. Deleting a pipeline removes its epoch counters and checkpoints, so
 * a pipeline created again under the same id once issued the same ids (`<id>.<partition>.1.1`,
 * ...) for other rows, and ClickHouse dropped those inserts as repeats of the first
 * incarnation's while Sluice counted them written.
 */
describe('a pipeline deleted and created again under the same id', () => {
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let id = '';

  beforeAll(async () => {
    ch = clickhouse();
    app = await SluiceProcess.start({ env: { ...testStackEnv() } });
  });
  afterAll(async () => {
    if (id !== '') await deletePipeline(app, id);
    await app.stop();
    await ch.close();
  });

  it('writes both incarnations’ events into the same table, each once', async () => {
    const topic = uniqueName('recreate');
    const table = uniqueName('recreate_events');
    id = uniquePipelineId('recreate');
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const definition = dedupPipeline(id, topic, table, PIPELINE_PARTITIONS);
    const options = { duplicateRatio: 0.05, malformedRatio: 0 };
    const first = generateEvents(800, { ...options, seed: 31, idPrefix: 'first' });
    const second = generateEvents(800, { ...options, seed: 32, idPrefix: 'second' });

    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    try {
      await postPipeline(app, definition);
      // Several small sends: several batches (seqs) per partition to collide with.
      await produceAll(producer, topic, KAFKA_PARTITIONS, first.messages, 200);
      await expectSettledOnce(app, ch, id, table, first, 120_000, log);
      await app.waitFor(
        async () => (await pipelineView(app, id)).lag === 0,
        30_000,
        'the first incarnation committed its offsets',
      );

      await deletePipeline(app, id);
      // The definition and state are gone; the consumer group's offsets stay in Kafka, so the
      // second incarnation reads on from where the first stopped.
      await app.waitFor(
        async () => (await app.get(`/api/v1/pipelines/${id}`)).status === 404,
        10_000,
        'the pipeline deleted',
      );
      await postPipeline(app, definition);
      await produceAll(producer, topic, KAFKA_PARTITIONS, second.messages, 200);
      // The counters are the second incarnation's: they settle either way (a dropped insert
      // is counted written), the table tells.
      const counters = await waitForSettled(app, id, second.messages.length, 120_000, log);
      expect(counters).toEqual(expectedCounters(second));
    } finally {
      await close();
    }
    const ids = await tableIds(ch, table);
    const expected = new Set([...first.uniqueIds, ...second.uniqueIds]);
    const missing = [...expected].filter((e) => !ids.has(e));
    const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
    log(
      `${ids.size} distinct ids in the table, ${missing.length} missing, ${doubled.length} doubled`,
    );
    expect({ missing: missing.slice(0, 20), doubled: doubled.slice(0, 20) }).toEqual({
      missing: [],
      doubled: [],
    });
    expect(ids.size).toBe(expected.size);
  }, 300_000);
});
