import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { scrape } from './support/metrics';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVENTS = 2_000;
const MALFORMED_RATIO = 0.2;
const MAX_ENTRIES = 20;
const KAFKA_PARTITIONS = 2;
const PARTITIONS = 2;

interface Hold {
  partition: number | null;
  reason: string;
  detail: string;
}
interface View {
  counters: { consumed: number; written: number; deadLettered: number };
  otherCounters: Record<string, number>;
  lag: number | null;
  holds: Hold[];
}
interface DeadLetter {
  id: string;
  pipelinePartition: number;
  stage: string;
  message: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[dlq-bound] ${line}\n`);

describe('a DLQ at its bound', () => {
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

  const view = async (id: string) => (await app!.get(`/api/v1/pipelines/${id}`)).body as View;
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`http://127.0.0.1:${app!.port}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('trims nothing: holds the partition (reported), resumes after discards, writes every good event once', async () => {
    const topic = uniqueName('dlqb');
    const table = uniqueName('dlqb_events');
    const id = uniquePipelineId('dlqb');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const stream = generateEvents(EVENTS, { duplicateRatio: 0, malformedRatio: MALFORMED_RATIO });
    expect(stream.malformed).toBeGreaterThan(300);

    // A small mailbox, so a held actor stops the consumer (backpressure) while Kafka keeps the
    // rest; small batches, so the bound is overshot by little.
    app = await SluiceProcess.start({
      env: { ...testStackEnv(), MAILBOX_MAX_ENTRIES: '10', CONSUMER_LINGER_MS: '0' },
    });
    const definition = dedupPipeline(id, topic, table, PARTITIONS);
    const sink = (definition.sink as { clickhouse: Record<string, unknown> }).clickhouse;
    sink.batch = { maxRows: 20, maxDelay: '100ms' };
    await postPipeline(app, { ...definition, dlq: { maxEntries: MAX_ENTRIES } });

    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    for (let w = 0; w < 20; w += 1) {
      const wave = stream.messages.slice(w * 100, (w + 1) * 100);
      await produceAll(producer, topic, KAFKA_PARTITIONS, wave, 10);
    }
    await close();

    // 1. Held, and said so everywhere, before everything was consumed.
    let held: View | undefined;
    await app.waitFor(
      async () => {
        const v = await view(id);
        if (v.holds.some((h) => h.reason === 'dlq-full')) held = v;
        return held !== undefined;
      },
      60_000,
      'a dlq-full hold',
    );
    const hold = held!.holds.find((h) => h.reason === 'dlq-full')!;
    log(`held: ${JSON.stringify(hold)} counters ${JSON.stringify(held!.counters)}`);
    expect(hold.partition).not.toBeNull();
    expect(hold.detail).toContain('dlq/discard');
    await sleep(2_000);
    const still = await view(id);
    // Input stopped: the consumer is paused by the full mailbox, Kafka keeps the rest.
    expect(still.counters.consumed).toBeLessThan(EVENTS);
    expect(still.lag).toBeGreaterThan(0);
    const ready = (await app.get('/health/ready')) as {
      status: number;
      body: { info: { holds: { holds: { pipeline: string; reason: string }[] } } };
    };
    expect(ready.status).toBe(200);
    expect(ready.body.info.holds.holds).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pipeline: id, partition: hold.partition, reason: 'dlq-full' }),
      ]),
    );
    const series = `sluice_partition_held{pipeline="${id}",partition="${hold.partition}",reason="dlq-full"}`;
    expect((await scrape(app)).get(series)).toBe(1);

    // 2. Discard what is listed, by id, until every event is settled: each discard lets the
    // held partition take input again. Every malformed message must be listed at some point.
    const listed = new Map<string, string>();
    let discarded = 0;
    let largest = 0;
    const deadline = Date.now() + 150_000;
    for (;;) {
      const dlq = (await app.get(`/api/v1/pipelines/${id}/dlq?limit=10000`)).body as DeadLetter[];
      const perPartition = new Map<number, number>();
      for (const d of dlq) {
        perPartition.set(d.pipelinePartition, (perPartition.get(d.pipelinePartition) ?? 0) + 1);
      }
      largest = Math.max(largest, ...perPartition.values());
      for (const d of dlq) listed.set(`${d.pipelinePartition}/${d.id}`, d.message);
      const v = await view(id);
      const done = v.counters.consumed === EVENTS && v.counters.deadLettered === stream.malformed;
      if (dlq.length > 0 && !done) {
        const ids = dlq.map((d) => `${d.pipelinePartition}/${d.id}`);
        const answer = await post(`/pipelines/${id}/dlq/discard`, { ids });
        expect(answer.status).toBe(200);
        discarded += answer.body.discarded as number;
      }
      if (done) break;
      if (Date.now() > deadline) throw new Error(`not settled: ${JSON.stringify(v.counters)}`);
      await sleep(500);
    }
    const counters = await waitForSettled(app, id, EVENTS, 30_000, log);
    expect(counters).toMatchObject({
      consumed: EVENTS,
      written: stream.uniqueIds.size,
      deadLettered: stream.malformed,
    });
    // The last dead letters, removed with {} (all).
    const rest = (await app.get(`/api/v1/pipelines/${id}/dlq?limit=10000`)).body as DeadLetter[];
    for (const d of rest) listed.set(`${d.pipelinePartition}/${d.id}`, d.message);
    const all = await post(`/pipelines/${id}/dlq/discard`, {});
    expect(all.body.discarded).toBe(rest.length);
    discarded += rest.length;

    // Nothing trimmed: every malformed message was listed, each once, and discarded by us.
    expect([...listed.values()].sort()).toEqual([...stream.malformedMessages].sort());
    expect(discarded).toBe(stream.malformed);
    expect((await view(id)).otherCounters.discarded).toBe(stream.malformed);
    // Held at the bound: at most the bound plus what one checkpoint added past it.
    log(`largest DLQ of a partition seen: ${largest}`);
    expect(largest).toBeLessThan(MAX_ENTRIES + 200);
    await app.waitFor(async () => (await view(id)).holds.length === 0, 10_000, 'holds cleared');

    const ids = await tableIds(ch, table);
    const missing = [...stream.uniqueIds].filter((e) => !ids.has(e));
    const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
    expect({ missing: missing.slice(0, 20), doubled: doubled.slice(0, 20) }).toEqual({
      missing: [],
      doubled: [],
    });
    expect(ids.size).toBe(stream.uniqueIds.size);
  });
});
