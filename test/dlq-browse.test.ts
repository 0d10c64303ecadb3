import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { connectProducer } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  type DeadLetterView,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// GET /pipelines/:id/dlq with filters and a cursor (README "Dead letters"): dead letters made by
// malformed events on the local stack, paged in small pages, come back newest first, each once.

const SOURCE_PARTITIONS = 3;
const PER_PARTITION = 14;

describe('DLQ browsing', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let producer: Producer;
  let closeProducer: () => Promise<void>;
  const id = uniquePipelineId('dlqls');

  beforeAll(async () => {
    ch = clickhouse();
    ({ producer, close: closeProducer } = await connectProducer(env.KAFKA_BROKERS));
    app = await SluiceProcess.start({ env: { ...env } });
  });
  afterAll(async () => {
    if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await closeProducer();
    await ch.close();
  });

  async function page(
    query: string,
  ): Promise<{ status: number; body: unknown; next: string | null }> {
    const url = `http://127.0.0.1:${app!.port}/api/v1/pipelines/${id}/dlq?${query}`;
    const response = await fetch(url);
    return {
      status: response.status,
      body: await response.json(),
      next: response.headers.get('x-next-cursor'),
    };
  }

  /** Every page of `query`, following the cursor; fails on a page larger than the limit. */
  async function allPages(query: string, limit: number): Promise<DeadLetterView[]> {
    const seen: DeadLetterView[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 200; pages++) {
      const q: string = `${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const { status, body, next } = await page(q);
      expect(status).toBe(200);
      const entries = body as DeadLetterView[];
      expect(entries.length).toBeLessThanOrEqual(limit);
      seen.push(...entries);
      if (next === null) return seen;
      cursor = next;
    }
    throw new Error('more than 200 pages');
  }

  const key = (d: DeadLetterView) => `${d.pipelinePartition}/${d.id}`;

  it('filters by stage, source partition and time, and pages through every entry once', async () => {
    const running = app!;
    const topic = uniqueName('dlqls');
    const table = uniqueName('dlqls');
    await createSourceTopic(topic, SOURCE_PARTITIONS);
    await createEventsTable(ch, table);
    await postPipeline(running, dedupPipeline(id, topic, table, 4));

    // Per source partition: unparsable text (stage parse) and objects without the dedup key
    // (stage dedup), one send each so they are dead-lettered over several checkpoints.
    for (let i = 0; i < PER_PARTITION; i++) {
      for (let p = 0; p < SOURCE_PARTITIONS; p++) {
        const value =
          i % 2 === 0
            ? `not json ${p}-${i}`
            : JSON.stringify({ ts: new Date().toISOString(), n: `${p}-${i}` });
        await producer.send({ topic, messages: [{ partition: p, value }] });
      }
    }
    const total = SOURCE_PARTITIONS * PER_PARTITION;
    const counters = await waitForSettled(running, id, total, 60_000);
    expect(counters.deadLettered).toBe(total);

    const reference = (await page('limit=10000')).body as DeadLetterView[];
    expect(reference).toHaveLength(total);
    expect(new Set(reference.map(key)).size).toBe(total);
    expect(new Set(reference.map((d) => d.stage))).toEqual(new Set(['parse', 'dedup']));
    // Newest first: stream ids never increase along the list.
    const ms = (d: DeadLetterView) => Number(d.id.split('-')[0]);
    for (let i = 1; i < reference.length; i++) {
      expect(ms(reference[i]!)).toBeLessThanOrEqual(ms(reference[i - 1]!));
    }

    // Small pages: the same entries in the same order, each exactly once.
    expect((await allPages('', 5)).map(key)).toEqual(reference.map(key));
    expect((await allPages('', 1)).map(key)).toEqual(reference.map(key));

    const byStage = await allPages('stage=dedup', 4);
    expect(byStage.map(key)).toEqual(reference.filter((d) => d.stage === 'dedup').map(key));
    expect(byStage).toHaveLength(total / 2);

    const byPartition = await allPages('partition=1', 3);
    expect(byPartition.map(key)).toEqual(reference.filter((d) => d.partition === 1).map(key));
    expect(byPartition).toHaveLength(PER_PARTITION);

    // A time range from the entries' own times (the stream id's ms), both ends inclusive.
    const since = ms(reference[total - 10]!);
    const until = ms(reference[8]!);
    const range = `since=${new Date(since).toISOString()}&until=${new Date(until).toISOString()}`;
    const inRange = (d: DeadLetterView) => ms(d) >= since && ms(d) <= until;
    const byTime = await allPages(range, 4);
    expect(byTime.map(key)).toEqual(reference.filter(inRange).map(key));
    expect(byTime.length).toBeGreaterThanOrEqual(total - 18);

    const combined = await allPages(`${range}&stage=parse&partition=2`, 2);
    const expected = reference.filter(
      (d) => inRange(d) && d.stage === 'parse' && d.partition === 2,
    );
    expect(combined.map(key)).toEqual(expected.map(key));
    expect(combined.length).toBeGreaterThan(0);

    // The last page has no cursor; bad parameters are refused by name.
    expect((await page(`limit=${total}`)).next).toBeNull();
    const bad = await page('limit=0&cursor=nope&since=yesterday');
    expect(bad.status).toBe(400);
    const paths = (bad.body as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['cursor', 'limit', 'since']);
  });
});
