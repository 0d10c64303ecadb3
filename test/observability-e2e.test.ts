import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import { keys } from '@sluice/redis';
import { connectProducer } from './support/events';
import { type Metrics, scrape, total } from './support/metrics';
import { createJoinTable, joinPipeline } from './support/join-fixture';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver';
import {
  clickhouse,
  countersOf,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  setPipelineRunning,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// A backlog of a few MB in many record batches, so the consumer is held behind (lag > 0).
const FILLER = 3_000;
const FILLER_SEND = 100;
const PAD = 'x'.repeat(700);
const MAX_LINKS = 2;
const PRODUCER_SPAN = '10f067aa0ba902b7';
const traceId = (n: number) => `5bf92f3577b34da6a3ce929d0e0e${String(n).padStart(4, '0')}`;
const header = (n: number) => ({ traceparent: `00-${traceId(n)}-${PRODUCER_SPAN}-01` });
// Written and traced: 5 events plus the first dup-1; then a duplicate, a dead letter, a filtered.
const WRITTEN_TRACED = [1, 2, 3, 4, 5, 6];
const [DUP_TRACE, BAD_TRACE, TEST_TRACE, JOIN_TRACE] = [7, 8, 9, 10];

describe('observability end to end: roles over 3 processes, OTLP traces, metrics, find my event', () => {
  const receiver = new OtlpReceiver();
  let consumer: SluiceProcess | undefined;
  let owner: SluiceProcess | undefined;
  let writer: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let producer: { producer: Producer; close: () => Promise<void> } | undefined;
  const id = uniquePipelineId('obs');
  const joinId = uniquePipelineId('obsjoin');
  const topic = uniqueName('obs_events');
  const table = uniqueName('obs_events');
  const [orders, customers, joinTable] = ['obs_orders', 'obs_customers', 'obs_joined'].map(
    uniqueName,
  ) as [string, string, string];
  const m = `pipeline="${id}"`;
  const mj = `pipeline="${joinId}"`;
  let before: { consumer: Metrics; owner: Metrics };
  const peak = { lag: 0, depth: 0, outbox: 0 };
  let env: Record<string, string>;

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

  /** Scrapes until `done`, keeping the highest lag, mailbox depth and outbox size seen. */
  const watchUntil = async (done: () => Promise<boolean>, what: string) =>
    consumer!.waitFor(
      async () => {
        const [c, o] = await Promise.all([scrape(consumer!), scrape(owner!)]);
        peak.lag = Math.max(peak.lag, total(c, 'sluice_consumer_lag', m));
        peak.depth = Math.max(peak.depth, total(o, 'sluice_mailbox_depth', m));
        peak.outbox = Math.max(peak.outbox, total(o, 'sluice_outbox_batches', m));
        return done();
      },
      90_000,
      what,
    );

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(testStackEnv().REDIS_URL);
    await receiver.start();
    await Promise.all([
      createSourceTopic(topic, 1),
      createSourceTopic(orders, 1),
      createSourceTopic(customers, 1),
      createEventsTable(ch, table),
      createJoinTable(ch, joinTable),
    ]);
    env = {
      ...testStackEnv(),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      // Only events whose producer sampled them are traced: the filler stays untraced.
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
      TRACE_BATCH_MAX_LINKS: String(MAX_LINKS),
      LEASE_TTL_MS: '3000',
    };
    // One mailbox entry per fetch (no linger) and a short mailbox bound: with no owner yet, the
    // consumer pauses on backpressure after 11 of the filler's 30 record batches (the mock
    // broker answers a fetch with one) and its lag gauge stays above zero until the owner drains
    // the mailbox. The gauge is set per fetch: a consumer that read the whole backlog between two
    // scrapes would otherwise never show it.
    consumer = await SluiceProcess.start({
      env: {
        ...env,
        ROLES: 'consumer',
        OTEL_SERVICE_NAME: 'sluice-consumer',
        MAILBOX_MAX_ENTRIES: '10',
        CONSUMER_LINGER_MS: '0',
      },
    });
    producer = await connectProducer(testStackEnv().KAFKA_BROKERS);
    const filler = Array.from({ length: FILLER }, (_, i) => ({
      value: event(`f-${i}`, { pad: PAD }),
    }));
    const traced = [1, 2, 3, 4, 5].map((n) => ({
      value: event(`traced-${n}`),
      headers: header(n),
    }));
    // Separate sends are separate record batches: 30 of them, 30 fetches.
    for (let i = 0; i < FILLER; i += FILLER_SEND) {
      await producer.producer.send({ topic, messages: filler.slice(i, i + FILLER_SEND) });
    }
    await producer.producer.send({
      topic,
      messages: [
        ...traced,
        { value: event('dup-1'), headers: header(6) },
        { value: event('dup-1'), headers: header(DUP_TRACE) },
        { value: event('bad-1', { user_id: 'not a number' }), headers: header(BAD_TRACE) },
        { value: event('test-1', { action: 'test' }), headers: header(TEST_TRACE) },
      ],
    });
    const iso = new Date().toISOString();
    await producer.producer.send({
      topic: customers,
      messages: [{ value: JSON.stringify({ id: 'c1', version: 1, name: 'Ann', updated_at: iso }) }],
    });
    await producer.producer.send({
      topic: orders,
      messages: [
        {
          value: JSON.stringify({
            order_id: 'o1',
            customer_id: 'c1',
            amount: 2,
            region: 'eu',
            ts: iso,
          }),
          headers: header(JOIN_TRACE),
        },
      ],
    });

    // The owner starts later: nothing of these new pipelines is counted there before.
    before = { consumer: await scrape(consumer), owner: new Map() };
    await postPipeline(consumer, {
      ...dedupPipeline(id, topic, table, 1),
      filter: "action != 'test'",
    });
    await postPipeline(consumer, {
      ...joinPipeline({
        id: joinId,
        orders,
        customers,
        table: joinTable,
        type: 'inner',
        window: '10m',
        lateness: '0s',
        partitions: 1,
      }),
    });
    const sent = FILLER + 9;
    await consumer.waitFor(
      async () => {
        peak.lag = Math.max(peak.lag, total(await scrape(consumer!), 'sluice_consumer_lag', m));
        // Held by backpressure, not caught between two fetches by luck.
        return peak.lag > 0 && consumer!.output.join('').includes(`pausing ${topic}/0`);
      },
      60_000,
      'consumer lag while the mailbox is full and no owner drains it',
    );
    owner = await SluiceProcess.start({
      env: { ...env, ROLES: 'owner', OTEL_SERVICE_NAME: 'sluice-owner' },
    });
    // No writer yet: committed batches wait in the outbox.
    await watchUntil(async () => {
      const c = await countersOf(consumer!, id);
      return c.consumed === sent && c.filtered + c.duplicates + c.deadLettered === 3;
    }, 'every event checkpointed by the owner');
    await watchUntil(
      async () => total(await scrape(owner!), 'sluice_outbox_batches', m) > 0,
      'outbox gauge',
    );
    writer = await SluiceProcess.start({
      env: { ...env, ROLES: 'writer', OTEL_SERVICE_NAME: 'sluice-writer' },
    });
    await watchUntil(
      async () =>
        (await countersOf(consumer!, id)).written === FILLER + 6 &&
        (await countersOf(consumer!, joinId)).written === 1,
      'all events written',
    );
  }, 150_000);

  afterAll(async () => {
    await producer?.close();
    if (consumer?.running) {
      await deletePipeline(consumer, id);
      await deletePipeline(consumer, joinId);
    }
    await Promise.all([consumer?.stop(), owner?.stop(), writer?.stop()]);
    await receiver.stop();
    await redis?.quit();
    await ch?.close();
  });

  const spansOf = (trace: number) => receiver.spans.filter((s) => s.traceId === traceId(trace));
  const one = (spans: ReceivedSpan[], name: string) => {
    const found = spans.filter((s) => s.name === name);
    expect(found.map((s) => s.name)).toEqual([name]);
    return found[0]!;
  };
  /** Batch spans of flushes that carried rows (a flush of only filtered events has none). */
  const batches = () =>
    receiver.spans.filter(
      (s) => s.name === 'sluice.batch' && Number(s.attributes['sluice.batch.rows']) > 0,
    );

  it("follows the producer's traceparent through consume, actor, batch and insert in one trace", async () => {
    // The insert span of the last batch is exported last: wait for every written traced event.
    await consumer!.waitFor(
      () => {
        const inserts = receiver.spans.filter((s) => s.name === 'sluice.insert');
        const ok = WRITTEN_TRACED.every((n) => spansOf(n).some((s) => s.name === 'sluice.process'));
        return Promise.resolve(
          ok &&
            inserts.length > 0 &&
            batches().every((b) => inserts.some((i) => i.parentSpanId === b.spanId)),
        );
      },
      30_000,
      'traced events and their inserts exported',
    );
    let continued = 0;
    let linked = 0;
    for (const n of WRITTEN_TRACED) {
      const spans = spansOf(n);
      const consume = one(spans, 'sluice.consume');
      expect(consume).toMatchObject({ parentSpanId: PRODUCER_SPAN, service: 'sluice-consumer' });
      expect(consume.attributes).toMatchObject({
        'sluice.pipeline': id,
        'messaging.destination.name': topic,
      });
      const process = one(spans, 'sluice.process');
      expect(process).toMatchObject({ parentSpanId: consume.spanId, service: 'sluice-owner' });
      expect(process.attributes['sluice.outcome']).toBe('written');
      const batch = spans.find((s) => s.name === 'sluice.batch');
      if (batch) {
        // This event's trace continues through its batch to the insert.
        continued += 1;
        expect(batch).toMatchObject({ parentSpanId: process.spanId, service: 'sluice-owner' });
        expect(batch.attributes['sluice.batch.id']).toMatch(
          new RegExp(`^${id}\\.0\\.\\d+\\.[0-9a-f]{8}\\.\\d+$`),
        );
        expect(String(batch.attributes['sluice.batch.offsets'])).toContain(`${topic}/0:`);
        expect(Number(batch.attributes['sluice.batch.rows'])).toBeGreaterThan(0);
        const checkpoint = one(spans, 'sluice.checkpoint');
        expect(checkpoint.parentSpanId).toBe(batch.spanId);
        const insert = one(spans, 'sluice.insert');
        expect(insert).toMatchObject({ parentSpanId: batch.spanId, service: 'sluice-writer' });
        expect(insert.attributes).toMatchObject({
          'sluice.batch.id': batch.attributes['sluice.batch.id'],
          'sluice.outcome': 'written',
        });
        continue;
      }
      const batched = spans.find((s) => s.name === 'sluice.batched');
      if (batched) {
        // Another event's batch: a link each way.
        linked += 1;
        expect(batched.parentSpanId).toBe(process.spanId);
        const target = batches().find((b) => b.spanId === batched.links[0]?.spanId);
        expect(target?.links).toContainEqual({ traceId: traceId(n), spanId: process.spanId });
      }
    }
    // Each batch continues one event's trace and links at most MAX_LINKS others; the rest of
    // its sampled events are counted as dropped links (their trace ends at sluice.process).
    const ours = batches().filter((b) =>
      String(b.attributes['sluice.batch.id']).startsWith(`${id}.`),
    );
    const dropped = ours.reduce(
      (sum, b) => sum + Number(b.attributes['sluice.batch.links_dropped']),
      0,
    );
    for (const b of ours) expect(b.links.length).toBeLessThanOrEqual(MAX_LINKS);
    expect(continued).toBeGreaterThanOrEqual(1);
    expect(continued + linked + dropped).toBe(WRITTEN_TRACED.length);
    if (continued === 1) expect(dropped).toBe(WRITTEN_TRACED.length - 1 - MAX_LINKS);

    // Filtered, duplicate and dead-lettered events: the trace ends with the reason.
    const end = (trace: number) => {
      const spans = spansOf(trace);
      expect(spans.map((s) => s.name).sort()).toEqual(['sluice.consume', 'sluice.process']);
      return one(spans, 'sluice.process');
    };
    expect(end(DUP_TRACE).attributes).toMatchObject({
      'sluice.outcome': 'duplicate',
      'sluice.reason': 'dedup key seen within the window',
    });
    const bad = end(BAD_TRACE);
    expect(bad.attributes).toMatchObject({
      'sluice.outcome': 'dead-lettered',
      'sluice.dlq.stage': 'transform',
    });
    expect(String(bad.attributes['sluice.reason'])).toContain('user_id');
    expect(bad.status.code).toBe(2);
    expect(end(TEST_TRACE).attributes).toMatchObject({
      'sluice.outcome': 'filtered',
      'sluice.reason': 'filter expression was false',
    });

    // The joined row continues its left event's trace.
    const joined = one(spansOf(JOIN_TRACE), 'sluice.process');
    expect(joined.attributes).toMatchObject({
      'sluice.outcome': 'written',
      'sluice.pipeline': joinId,
    });
    expect(one(spansOf(JOIN_TRACE), 'sluice.batch').parentSpanId).toBe(joined.spanId);
    // The sampler kept no trace of the filler (no producer context, ratio 0).
    const ids = new Set(
      [...WRITTEN_TRACED, DUP_TRACE, BAD_TRACE, TEST_TRACE, JOIN_TRACE].map(traceId),
    );
    expect(
      receiver.spans.filter((s) => s.name === 'sluice.consume').every((s) => ids.has(s.traceId)),
    ).toBe(true);
  });

  it('finds an event by its dedup key: written with batch and trace, duplicate, dead-lettered, filtered, joined', async () => {
    const lookup = async (pipeline: string, key: string) => {
      const { status, body } = await owner!.get(`/api/v1/pipelines/${pipeline}/events/${key}`);
      return { status, body: body as Record<string, unknown> };
    };
    const written = await lookup(id, 'traced-1');
    expect(written.status).toBe(200);
    expect(written.body).toMatchObject({ stage: 'written', traceId: traceId(1), sampled: true });
    const process = one(spansOf(1), 'sluice.process');
    const batch = batches().find(
      (b) => b.parentSpanId === process.spanId || b.links.some((l) => l.spanId === process.spanId),
    );
    if (batch) expect(written.body.batchId).toBe(batch.attributes['sluice.batch.id']);

    const dup = await lookup(id, 'dup-1');
    expect(dup.body).toMatchObject({ stage: 'duplicate', traceId: traceId(DUP_TRACE) });
    expect(String(dup.body.reason)).toContain('written in batch');
    expect((dup.body.events as { stage: string }[]).map((e) => e.stage)).toEqual([
      'duplicate',
      'written',
    ]);
    const bad = await lookup(id, 'bad-1');
    expect(bad.body).toMatchObject({ stage: 'dead-lettered', deadLetterStage: 'transform' });
    expect(String(bad.body.reason)).toContain('user_id');
    expect((await lookup(id, 'test-1')).body).toMatchObject({ stage: 'filtered' });
    expect((await lookup(id, 'never-sent')).status).toBe(404);
    expect((await lookup(joinId, `o1?topic=${orders}`)).body).toMatchObject({
      stage: 'written',
      traceId: traceId(JOIN_TRACE),
    });
  });

  it('exposes every metric family, and each moves as events flow', async () => {
    const after = { consumer: await scrape(consumer!), owner: await scrape(owner!) };
    const w = await scrape(writer!);
    const moved = (side: 'consumer' | 'owner', family: string, match = m) =>
      total(after[side], family, match) - total(before[side], family, match);
    const sent = FILLER + 9;

    expect(moved('consumer', 'sluice_events_consumed_total')).toBe(sent);
    expect(moved('consumer', 'sluice_events_consumed_total', mj)).toBe(2);
    expect(peak.lag).toBeGreaterThan(0);
    expect(total(after.consumer, 'sluice_consumer_lag', m)).toBe(0);
    expect(moved('owner', 'sluice_events_filtered_total')).toBe(1);
    expect(moved('owner', 'sluice_events_duplicates_total')).toBe(1);
    expect(moved('owner', 'sluice_events_dead_lettered_total', 'stage="transform"')).toBe(1);
    expect(moved('owner', 'sluice_events_joined_total', mj)).toBe(1);
    expect(moved('owner', 'sluice_batch_rows_sum')).toBe(FILLER + 6);
    expect(moved('owner', 'sluice_batch_bytes_count')).toBeGreaterThan(0);
    expect(total(after.owner, 'sluice_actors_held', m)).toBe(1);
    // The actor's in-memory dedup table holds the written events' keys (a few bytes each).
    expect(total(after.owner, 'sluice_dedup_keys', m)).toBeGreaterThan(0);
    expect(total(after.owner, 'sluice_dedup_memory_bytes', m)).toBeGreaterThan(0);
    // The mailbox keeps the entry the actor's cursor points at; before any event it was empty.
    expect(peak.depth).toBeGreaterThan(0);
    expect(peak.outbox).toBeGreaterThan(0);
    expect(total(after.owner, 'sluice_outbox_batches', m)).toBe(0);
    expect(total(w, 'sluice_events_written_total', m)).toBe(FILLER + 6);
    expect(total(w, 'sluice_events_written_total', mj)).toBe(1);
    expect(total(w, 'sluice_insert_duration_seconds_count', m)).toBeGreaterThan(0);
    expect(total(w, 'sluice_end_to_end_latency_seconds_count', m)).toBe(FILLER + 6);
    expect(total(w, 'sluice_end_to_end_latency_seconds_count', mj)).toBe(1);
    expect(String((await owner!.get('/metrics')).body)).toContain(
      '# HELP process_cpu_seconds_total',
    );

    // Lease renew failures: another owner takes the lease over; the actor counts it as lost.
    await redis.set(keys.lease(id, 0), 'intruder:999999', 'PX', 2_000);
    await owner!.waitFor(
      async () =>
        total(await scrape(owner!), 'sluice_lease_renew_failures_total', `${m},reason="lost"`) >= 1,
      20_000,
      'a lost lease counted',
    );
    // A stopped pipeline's consumer lag series are removed.
    await setPipelineRunning(consumer!, id, false);
    await consumer!.waitFor(
      async () =>
        ![...(await scrape(consumer!)).keys()].some((k) =>
          k.startsWith(`sluice_consumer_lag{${m}`),
        ),
      20_000,
      'lag series removed',
    );
  }, 60_000);
});
