import type { ClickHouseClient } from '@clickhouse/client';
import { produceMessages, type KafkaCodec } from '@sluice/stack';
import {
  concatStreams,
  connectProducer,
  followUp,
  generateEvents,
  produceAll,
  type GeneratedStream,
} from './support/events';
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
  setPipelineRunning,
  tableCount,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[lifecycle] ${line}\n`);

const KAFKA_PARTITIONS = 4;
// Longer than a watcher poll (1 s), a fetch wait (1 s) and a flush (300 ms) together: had the
// stopped pipeline read anything, it would show in the counters by then.
const STOPPED_OBSERVATION_MS = 6_000;

describe('pipeline lifecycle on one process', () => {
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  const pipelines: string[] = [];

  beforeAll(async () => {
    ch = clickhouse();
    app = await SluiceProcess.start({ env: { ...testStackEnv() } });
  });
  afterAll(async () => {
    for (const id of pipelines) await deletePipeline(app, id);
    await app.stop();
    await ch.close();
  });

  async function start(prefix: string, topics: string[]) {
    const id = uniquePipelineId(prefix);
    const table = uniqueName(`${prefix}_events`);
    await createEventsTable(ch, table);
    const definition = dedupPipeline(id, topics[0]!, table, 4);
    (definition.source as { topics: unknown[] }).topics = topics.map((name) => ({
      name,
      startFrom: 'earliest',
      eventTime: 'ts',
    }));
    await postPipeline(app, definition);
    pipelines.push(id);
    return { id, table };
  }

  it('a stopped pipeline consumes nothing; after resume the table is exact', async () => {
    const topic = uniqueName('stopres');
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    const { id, table } = await start('stopres', [topic]);
    const part1 = generateEvents(3_000, {
      duplicateRatio: 0.1,
      malformedRatio: 0.005,
      seed: 11,
      idPrefix: 'one',
    });
    const later = generateEvents(3_000, {
      duplicateRatio: 0.1,
      malformedRatio: 0.005,
      seed: 12,
      idPrefix: 'two',
    });
    // Part 2 also repeats part-1 events: the dedup state must outlive the stop.
    const part2 = followUp(part1, later, 40);
    expect(part1.malformed).toBeGreaterThan(0);
    expect(later.malformed).toBeGreaterThan(0);

    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    try {
      await produceAll(producer, topic, KAFKA_PARTITIONS, part1.messages, 500);
      await waitForSettled(app, id, part1.messages.length, 120_000, log);
      await app.waitFor(
        async () => (await pipelineView(app, id)).lag === 0,
        30_000,
        'part 1 committed',
      );
      expect(await tableCount(ch, table)).toEqual({
        rows: part1.uniqueIds.size,
        ids: part1.uniqueIds.size,
      });

      await setPipelineRunning(app, id, false);
      expect((await pipelineView(app, id)).status).toBe('stopped');
      await app.waitFor(
        () => Promise.resolve(consumerStopped(app, id)),
        30_000,
        'the consumer of the stopped pipeline to stop',
      );
      const before = await countersOf(app, id);
      await produceAll(producer, topic, KAFKA_PARTITIONS, part2.messages, 500);
      await sleep(STOPPED_OBSERVATION_MS);
      const view = await pipelineView(app, id);
      expect(view.counters).toEqual(before);
      expect(view.lag).toBe(part2.messages.length);
      expect(await tableCount(ch, table)).toEqual({
        rows: part1.uniqueIds.size,
        ids: part1.uniqueIds.size,
      });
    } finally {
      await close();
    }

    await setPipelineRunning(app, id, true);
    await waitForSettled(app, id, part2.all.messages.length, 120_000, log);
    await expectExactlyOnce(app, ch, id, table, part2.all);
  });

  it('ingests topics a librdkafka producer wrote with gzip, snappy, lz4 and zstd', async () => {
    const codecs: KafkaCodec[] = ['gzip', 'snappy', 'lz4', 'zstd'];
    const topics = codecs.map((codec) => uniqueName(`codec_${codec}`));
    for (const topic of topics) await createSourceTopic(topic, 2);
    const streams: GeneratedStream[] = [];
    const produce = async (round: number) => {
      for (const [i, codec] of codecs.entries()) {
        const stream = generateEvents(600, {
          duplicateRatio: 0.1,
          malformedRatio: 0.01,
          seed: 100 * round + i,
          idPrefix: `${codec}${round}`,
        });
        const messages = stream.messages.map((value, n) => ({ value, partition: n % 2 }));
        const result = await produceMessages(topics[i]!, messages, { dir: TEST_STACK_DIR, codec });
        expect(result).toEqual({ delivered: messages.length, errors: [] });
        streams.push(stream);
      }
    };
    // Before the pipeline exists (read from the start) and while it runs.
    await produce(1);
    const { id, table } = await start('codecs', topics);
    await produce(2);
    const expected = concatStreams(streams);
    await waitForSettled(app, id, expected.messages.length, 120_000, log);
    await expectExactlyOnce(app, ch, id, table, expected);
  });
});

/** True once the process logged that this pipeline's consumer reached `stopped`. */
function consumerStopped(app: SluiceProcess, id: string): boolean {
  return app
    .text()
    .split('\n')
    .some((line) => line.includes(id) && line.includes('consumer stopping -> stopped'));
}
