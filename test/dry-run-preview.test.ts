import type { ClickHouseClient } from '@clickhouse/client';
import Redis from 'ioredis';
import type { Producer } from 'kafkajs';
import { connectProducer } from './support/events';
import {
  clickhouse,
  countersOf,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  setPipelineRunning,
  tableCount,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// POST /pipelines?dryRun=true and POST /pipelines/:id/preview (README "Admin API"): both answer
// what would happen and change nothing, in Redis or in the table.

const T0 = '2026-01-01T00:00:00.000Z';

/** Every key of the pipelines (but leases, whose expiry moves) with its DUMP, and the
 * definitions' hashes: what a dry run or a preview must leave as it was. */
interface Answer {
  status: number;
  body: {
    errors?: { path: string }[];
    error?: string;
    definition?: { sink: { clickhouse: Record<string, unknown> } };
  } & Record<string, unknown>;
}

async function redisSnapshot(redis: Redis, ids: string[]): Promise<Map<string, string>> {
  const found: string[] = ['{sl}:pipelines', '{sl}:pipeline-status', '{sl}:pipelines-version'];
  for (const id of ids) {
    for (const pattern of [`{sl:${id}:*`, `{sl:${id}}*`]) {
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        found.push(...batch.filter((k) => !k.endsWith(':lease')));
      } while (cursor !== '0');
    }
  }
  const snapshot = new Map<string, string>();
  for (const key of found.sort()) {
    snapshot.set(key, (await redis.dumpBuffer(key))?.toString('base64') ?? '(none)');
  }
  return snapshot;
}

/**
 * The snapshot once it stops changing (two reads 1 s apart equal): the pipeline is stopped
 * first, as a running dedup pipeline's consumer keeps sending marks to the mailboxes, which the
 * owner applies, whatever a dry run or preview does.
 */
async function quietSnapshot(redis: Redis, ids: string[]): Promise<Map<string, string>> {
  let last = await redisSnapshot(redis, ids);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const now = await redisSnapshot(redis, ids);
    if (JSON.stringify([...now]) === JSON.stringify([...last])) return now;
    last = now;
  }
  throw new Error("the pipelines' Redis state kept changing for 30 s while stopped");
}

describe('dry run and preview', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let producer: Producer;
  let closeProducer: () => Promise<void>;
  const id = uniquePipelineId('preview');
  const dryId = uniquePipelineId('dryrun');
  const topic = uniqueName('preview');
  const table = uniqueName('preview');

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    ({ producer, close: closeProducer } = await connectProducer(env.KAFKA_BROKERS));
    app = await SluiceProcess.start({ env: { ...env } });
    await createSourceTopic(topic, 1);
    await createEventsTable(ch, table);
    await postPipeline(app, { ...dedupPipeline(id, topic, table, 2), filter: 'amount >= 0.0' });
    const event = (n: number) =>
      JSON.stringify({
        event_id: `e${n}`,
        ts: T0,
        user_id: n,
        project: 'p',
        action: 'a',
        amount: n,
      });
    await producer.send({ topic, messages: [0, 1, 2].map((n) => ({ value: event(n) })) });
    await waitForSettled(app, id, 3, 60_000);
    await setPipelineRunning(app, id, false);
  });
  afterAll(async () => {
    if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await closeProducer();
    redis.disconnect();
    await ch.close();
  });

  async function post(path: string, body: unknown): Promise<Answer> {
    const response = await fetch(`http://127.0.0.1:${app!.port}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  }

  it('validates a definition with ?dryRun=true, the table too, and stores nothing', async () => {
    const before = await quietSnapshot(redis, [id, dryId]);
    const rowsBefore = await tableCount(ch, table);
    const definition = dedupPipeline(dryId, topic, table, 3);

    const ok = await post('/pipelines?dryRun=true', definition);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      id: dryId,
      dryRun: true,
      definition: { id: dryId, partitions: 3 },
    });
    // Normalized: the defaults the stored definition would carry are filled in.
    expect(ok.body.definition?.sink.clickhouse).toMatchObject({ database: 'default', table });

    const noTable = await post('/pipelines?dryRun=true', {
      ...definition,
      sink: { clickhouse: { url: env.CLICKHOUSE_URL, table: uniqueName('missing') } },
    });
    expect(noTable.status).toBe(400);
    expect(noTable.body.errors?.map((e) => e.path)).toEqual(['sink.clickhouse.table']);
    // The answer the real request would give, for an id that exists.
    expect((await post('/pipelines?dryRun=true', { ...definition, id })).status).toBe(409);
    expect((await post('/pipelines?dryRun=maybe', definition)).status).toBe(400);

    expect((await app!.get(`/api/v1/pipelines/${dryId}`)).status).toBe(404);
    expect(await redisSnapshot(redis, [id, dryId])).toEqual(before);
    expect(await tableCount(ch, table)).toEqual(rowsBefore);
  });

  it('previews a good, a filtered and a bad event and writes nothing', async () => {
    const before = await quietSnapshot(redis, [id]);
    const rowsBefore = await tableCount(ch, table);
    const countersBefore = await countersOf(app!, id);
    const good = { event_id: 'x1', ts: T0, user_id: 7, project: 'p', action: 'buy', amount: 2.5 };

    const written = await post(`/pipelines/${id}/preview`, { message: good, topic });
    expect(written.status).toBe(200);
    expect(written.body).toEqual({
      outcome: 'written',
      pipelinePartition: expect.any(Number),
      row: {
        event_id: 'x1',
        // As the JSONEachRow line sent to ClickHouse carries it.
        ts: Date.parse(T0),
        user_id: 7,
        project: 'p',
        action: 'buy',
        amount: 2.5,
      },
    });
    // A key already written previews as written too: the dedup memory is not consulted.
    expect(
      (await post(`/pipelines/${id}/preview`, { message: { ...good, event_id: 'e1' } })).body,
    ).toMatchObject({ outcome: 'written' });

    const filtered = await post(`/pipelines/${id}/preview`, { message: { ...good, amount: -1 } });
    expect(filtered.body).toEqual({ outcome: 'filtered', pipelinePartition: expect.any(Number) });

    const notJson = await post(`/pipelines/${id}/preview`, { message: '{"event_id": "x2",' });
    expect(notJson.body).toMatchObject({ outcome: 'dead-lettered', stage: 'parse' });
    expect(notJson.body.error).toMatch(/invalid JSON/);

    const { event_id: _, ...noKey } = good;
    const dedup = await post(`/pipelines/${id}/preview`, { message: noKey });
    expect(dedup.body).toMatchObject({ outcome: 'dead-lettered', stage: 'dedup' });

    const tooBig = await post(`/pipelines/${id}/preview`, { message: { ...good, user_id: -1 } });
    expect(tooBig.body).toMatchObject({ outcome: 'dead-lettered', stage: 'transform' });

    expect((await post(`/pipelines/${id}/preview`, { topic })).status).toBe(400);
    expect((await post(`/pipelines/${id}/preview`, { message: good, topic: 'other' })).status).toBe(
      400,
    );
    expect(
      (await post(`/pipelines/${uniquePipelineId('ghost')}/preview`, { message: good })).status,
    ).toBe(404);

    expect(await redisSnapshot(redis, [id])).toEqual(before);
    expect(await tableCount(ch, table)).toEqual(rowsBefore);
    expect(await countersOf(app!, id)).toEqual(countersBefore);
  });
});
