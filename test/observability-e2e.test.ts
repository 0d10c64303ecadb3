import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { connectProducer } from './support/events';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';
import {
  clickhouse,
  countersOf,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  uniqueName,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const PARTITIONS = 4;
const FILLER = 300;
const TRACE_ID = '5bf92f3577b34da6a3ce929d0e0e4736';
const PRODUCER_SPAN = '10f067aa0ba902b7';

/** Scrapes /metrics into `family{labels}` -> value. */
async function scrape(app: SluiceProcess): Promise<Map<string, number>> {
  const { status, body } = await app.get('/metrics');
  expect(status).toBe(200);
  const out = new Map<string, number>();
  for (const line of String(body).split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Sum of every series of a family whose labels include `match`. */
function total(metrics: Map<string, number>, family: string, match = ''): number {
  let sum = 0;
  for (const [series, value] of metrics) {
    if ((series === family || series.startsWith(`${family}{`)) && series.includes(match))
      sum += value;
  }
  return sum;
}

describe('observability end to end: roles over 2 processes, OTLP traces, metrics, find my event', () => {
  const receiver = new OtlpReceiver();
  let consumer: SluiceProcess | undefined;
  let worker: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let producer: { producer: Producer; close: () => Promise<void> } | undefined;
  const id = uniqueName('obs').replace(/_/g, '-').toLowerCase();
  const topic = uniqueName('obs_events');
  const table = uniqueName('obs_events');
  let before: { consumer: Map<string, number>; worker: Map<string, number> };

  const event = (eventId: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      event_id: eventId,
      ts: new Date().toISOString(),
      user_id: 7,
      project: 'p1',
      action: 'click',
      amount: 1.5,
      ...extra,
    });

  beforeAll(async () => {
    ch = clickhouse();
    await receiver.start();
    await createSourceTopic(topic, PARTITIONS);
    await createEventsTable(ch, table);
    const env = {
      ...testStackEnv(),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      // Only events whose producer sampled them are traced: the filler stays untraced.
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    };
    [consumer, worker] = await Promise.all([
      SluiceProcess.start({
        env: { ...env, ROLES: 'consumer', OTEL_SERVICE_NAME: 'sluice-consumer' },
      }),
      SluiceProcess.start({
        env: { ...env, ROLES: 'owner,writer', OTEL_SERVICE_NAME: 'sluice-worker' },
      }),
    ]);
    const definition = dedupPipeline(id, topic, table, PARTITIONS);
    await postPipeline(consumer, { ...definition, filter: "action != 'test'" });
    before = { consumer: await scrape(consumer), worker: await scrape(worker) };

    producer = await connectProducer(testStackEnv().KAFKA_BROKERS);
    const filler = Array.from({ length: FILLER }, (_, i) => ({ value: event(`f-${i}`) }));
    await producer.producer.send({
      topic,
      messages: [
        ...filler,
        {
          value: event('traced-1'),
          headers: { traceparent: `00-${TRACE_ID}-${PRODUCER_SPAN}-01` },
        },
        { value: event('dup-1') },
        { value: event('dup-1') },
        { value: event('bad-1', { user_id: 'not a number' }) },
        { value: event('test-1', { action: 'test' }) },
      ],
    });
    const running = consumer;
    await running.waitFor(
      async () => (await countersOf(running, id)).written === FILLER + 2,
      90_000,
      'all events written',
    );
  }, 150_000);

  afterAll(async () => {
    await producer?.close();
    if (consumer?.running) await deletePipeline(consumer, id);
    await Promise.all([consumer?.stop(), worker?.stop()]);
    await receiver.stop();
    await ch?.close();
  });

  it('follows the producer traceparent through consume, actor, batch and insert spans', async () => {
    const find = (pred: (s: ReceivedSpan) => boolean) => receiver.spans.find(pred);
    let insert: ReceivedSpan | undefined;
    await consumer!.waitFor(
      () => {
        const batch = find(
          (s) => s.name === 'sluice.batch' && s.links.some((l) => l.traceId === TRACE_ID),
        );
        insert =
          batch && find((s) => s.name === 'sluice.insert' && s.parentSpanId === batch.spanId);
        return Promise.resolve(insert !== undefined);
      },
      30_000,
      'the traced event to reach an exported insert span',
    );
    const consume = find((s) => s.name === 'sluice.consume' && s.traceId === TRACE_ID);
    expect(consume).toMatchObject({ parentSpanId: PRODUCER_SPAN, service: 'sluice-consumer' });
    expect(consume?.attributes).toMatchObject({
      'sluice.pipeline': id,
      'messaging.destination.name': topic,
    });

    const process = find((s) => s.name === 'sluice.process' && s.traceId === TRACE_ID);
    expect(process).toMatchObject({ parentSpanId: consume?.spanId, service: 'sluice-worker' });
    expect(process?.attributes['sluice.outcome']).toBe('written');

    const batch = find(
      (s) => s.name === 'sluice.batch' && s.links.some((l) => l.traceId === TRACE_ID),
    )!;
    expect(batch.links).toContainEqual({ traceId: TRACE_ID, spanId: process!.spanId });
    expect(batch.attributes['sluice.batch.id']).toMatch(new RegExp(`^${id}\\.\\d+\\.\\d+\\.\\d+$`));
    expect(Number(batch.attributes['sluice.batch.rows'])).toBeGreaterThan(0);
    expect(String(batch.attributes['sluice.batch.offsets'])).toContain(`${topic}/`);
    const checkpoint = find(
      (s) => s.name === 'sluice.checkpoint' && s.parentSpanId === batch.spanId,
    );
    expect(checkpoint?.traceId).toBe(batch.traceId);
    expect(insert).toMatchObject({ traceId: batch.traceId, parentSpanId: batch.spanId });
    expect(insert?.attributes).toMatchObject({
      'sluice.batch.id': batch.attributes['sluice.batch.id'],
      'sluice.outcome': 'written',
    });

    // The sampler kept no trace of the filler (no producer context, ratio 0).
    const consumeSpans = receiver.spans.filter((s) => s.name === 'sluice.consume');
    expect(consumeSpans.every((s) => s.traceId === TRACE_ID)).toBe(true);
  });

  it('finds an event by its dedup key: written with batch and trace, duplicate, dead-lettered, filtered', async () => {
    const lookup = async (key: string) => {
      const { status, body } = await worker!.get(`/api/v1/pipelines/${id}/events/${key}`);
      return { status, body: body as Record<string, unknown> };
    };
    const written = await lookup('traced-1');
    expect(written.status).toBe(200);
    expect(written.body).toMatchObject({ stage: 'written', traceId: TRACE_ID, sampled: true });
    const batch = receiver.spans.find(
      (s) => s.name === 'sluice.batch' && s.links.some((l) => l.traceId === TRACE_ID),
    );
    expect(written.body.batchId).toBe(batch?.attributes['sluice.batch.id']);

    const dup = await lookup('dup-1');
    expect(dup.body).toMatchObject({ stage: 'duplicate' });
    expect(String(dup.body.reason)).toContain('written in batch');
    const events = dup.body.events as { stage: string }[];
    expect(events.map((e) => e.stage)).toEqual(['duplicate', 'written']);

    const bad = await lookup('bad-1');
    expect(bad.body).toMatchObject({ stage: 'dead-lettered', deadLetterStage: 'transform' });
    expect(String(bad.body.reason)).toContain('user_id');

    expect((await lookup('test-1')).body).toMatchObject({ stage: 'filtered' });
    expect((await lookup('never-sent')).status).toBe(404);
  });

  it('exposes every metric family, and they move as events flow', async () => {
    const after = { consumer: await scrape(consumer!), worker: await scrape(worker!) };
    const sent = FILLER + 5;
    const moved = (side: 'consumer' | 'worker', family: string, match = `pipeline="${id}"`) =>
      total(after[side], family, match) - total(before[side], family, match);

    expect(moved('consumer', 'sluice_events_consumed_total')).toBe(sent);
    expect(
      after.consumer.has(`sluice_consumer_lag{pipeline="${id}",topic="${topic}",partition="0"}`),
    ).toBe(true);
    expect(moved('worker', 'sluice_events_filtered_total')).toBe(1);
    expect(moved('worker', 'sluice_events_duplicates_total')).toBe(1);
    expect(moved('worker', 'sluice_events_written_total')).toBe(FILLER + 2);
    expect(moved('worker', 'sluice_events_dead_lettered_total', 'stage="transform"')).toBe(1);
    expect(moved('worker', 'sluice_batch_rows_sum')).toBe(FILLER + 2);
    expect(moved('worker', 'sluice_batch_bytes_count')).toBeGreaterThan(0);
    expect(moved('worker', 'sluice_insert_duration_seconds_count')).toBeGreaterThan(0);
    expect(moved('worker', 'sluice_end_to_end_latency_seconds_count')).toBe(FILLER + 2);
    expect(total(after.worker, 'sluice_actors_held', id)).toBe(PARTITIONS);
    expect(after.worker.has(`sluice_mailbox_depth{pipeline="${id}",partition="0"}`)).toBe(true);
    expect(after.worker.has(`sluice_outbox_batches{pipeline="${id}",partition="0"}`)).toBe(true);
    // Families whose events this run has none of are still exposed (with their HELP line).
    const text = String((await worker!.get('/metrics')).body);
    for (const family of [
      'sluice_events_joined_total',
      'sluice_lease_renew_failures_total',
      'process_cpu_seconds_total',
    ]) {
      expect(text).toContain(`# HELP ${family}`);
    }
  });
});
