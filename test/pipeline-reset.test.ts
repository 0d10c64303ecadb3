import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { clearHold, keys, readHolds, setHold } from '@sluice/redis';
import { connectProducer } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  deadLettersOf,
  dedupPipeline,
  deletePipeline,
  pipelineView,
  postPipeline,
  setPipelineRunning,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

// PUT /pipelines/:id?reset=true (README "Editing a pipeline"): a change that cannot apply live
// (here the partition count) resets the pipeline; every event read before it is written by the
// old definition, every later one by the new, none twice, and the dead letters stay.

const KAFKA_PARTITIONS = 2;
const BATCH = 400;
const idOf = (i: number) => `r-${i}`;

describe('resetting a pipeline to a definition that cannot apply live', () => {
  // Each reset waits for the stopped consumers to leave the group, and they for its member: a
  // short session (SHORT_GROUP_SESSION) shortens both waits.
  const env = { ...testStackEnv(), ...SHORT_GROUP_SESSION };
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  const others: SluiceProcess[] = [];
  const id = uniquePipelineId('reset');
  const topic = uniqueName('reset');
  const table = uniqueName('reset');

  async function produce(
    from: number,
    count: number,
    extra: string[] = [],
    into = topic,
  ): Promise<void> {
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    try {
      const messages = Array.from({ length: count }, (_, k) => {
        const i = from + k;
        const value = JSON.stringify({
          event_id: idOf(i),
          ts: new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString(),
          user_id: i,
          project: 'p',
          action: 'click',
          amount: 1,
        });
        return { value, partition: i % KAFKA_PARTITIONS };
      });
      for (const value of extra) messages.push({ value, partition: 0 });
      await producer.send({ topic: into, messages });
    } finally {
      await close();
    }
  }

  async function put(body: unknown, etag: string, query: string, to = app, pipeline = id) {
    const url = `http://127.0.0.1:${to.port}/api/v1/pipelines/${pipeline}${query}`;
    const response = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'if-match': etag },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(120_000),
    });
    return {
      status: response.status,
      etag: response.headers.get('etag'),
      body: (await response.json()) as Record<string, unknown>,
    };
  }

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    app = await SluiceProcess.start({ env: { ...env } });
  });
  afterAll(async () => {
    if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    for (const other of others) await other.stop();
    await ch.close();
    redis.disconnect();
  });

  it('409 without reset; with ?reset=true every event lands once and the DLQ stays', async () => {
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    await produce(0, BATCH, ['not json']);
    await postPipeline(app, dedupPipeline(id, topic, table, 2));
    await waitForSettled(app, id, BATCH + 1, 60_000);
    expect(await deadLettersOf(app, id)).toHaveLength(1);

    const wider = dedupPipeline(id, topic, table, 4);
    const refused = await put(wider, '"1"', '');
    expect(refused.status).toBe(409);
    expect(refused.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'partitions' })]),
    );

    // A dry run with reset validates only: nothing recorded, nothing stored.
    const dry = await put(wider, '"1"', '?reset=true&dryRun=true');
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dryRun: true, version: 1, changed: true });
    expect(await redis.hexists(keys.resets(), id)).toBe(0);
    expect(await pipelineView(app, id)).toMatchObject({ definition: { partitions: 2 } });

    // Events still in flight when the reset starts: the old definition must write them.
    await produce(BATCH, BATCH);
    const reset = await put(wider, '"1"', '?reset=true');
    expect({ status: reset.status, body: reset.body }).toMatchObject({
      status: 200,
      body: { status: 'running', version: 2, changed: true },
    });
    expect(reset.etag).toBe('"2"');
    expect(await redis.hexists(keys.resets(), id)).toBe(0);
    await produce(2 * BATCH, BATCH);

    const total = 3 * BATCH;
    await app.waitFor(
      async () => [...(await tableIds(ch, table)).values()].reduce((a, b) => a + b, 0) >= total,
      60_000,
      `${total} rows`,
    );
    // Late batches that would double something have time to land.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const ids = await tableIds(ch, table);
    const missing = Array.from({ length: total }, (_, i) => idOf(i)).filter((e) => !ids.has(e));
    const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
    expect({ missing, doubled, rows: [...ids.values()].reduce((a, b) => a + b, 0) }).toEqual({
      missing: [],
      doubled: [],
      rows: total,
    });

    const view = await pipelineView(app, id);
    expect(view).toMatchObject({ version: 2, status: 'running', definition: { partitions: 4 } });
    const letters = await deadLettersOf(app, id);
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ stage: 'parse' });

    // A crash after the offsets were committed (phase `drop`, pipeline stopped): a resume is
    // refused, the same PUT finishes the reset.
    await setPipelineRunning(app, id, false);
    const back = dedupPipeline(id, topic, table, 2);
    const normalized = await put(back, '"2"', '?reset=true&dryRun=true');
    expect(normalized.status).toBe(200);
    await redis.hset(
      keys.resets(),
      id,
      JSON.stringify({
        definition: JSON.stringify(normalized.body.definition),
        from: 2,
        resume: true,
        since: Date.now(),
        phase: 'drop',
      }),
    );
    const resume = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines/${id}/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(resume.status).toBe(409);
    // A replay too: the reset would drop the mailboxes it moves the dead letters into.
    const replay = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines/${id}/dlq/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(replay.status).toBe(409);
    expect(
      (await redis.xlen(keys.deadLetters(id, 0))) + (await redis.xlen(keys.deadLetters(id, 1))),
    ).toBe(1);
    const retried = await put(back, '"2"', '?reset=true');
    expect({ status: retried.status, body: retried.body }).toMatchObject({
      status: 200,
      body: { status: 'running', version: 3, definition: { partitions: 2 } },
    });
    await produce(total, BATCH);
    await app.waitFor(
      async () => (await tableIds(ch, table)).size >= total + BATCH,
      60_000,
      `${total + BATCH} rows`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const after = await tableIds(ch, table);
    expect({ ids: after.size, doubled: [...after].filter(([, n]) => n !== 1) }).toEqual({
      ids: total + BATCH,
      doubled: [],
    });
  }, 150_000);

  it('fewer partitions: the dead letters and counters of the removed ones move, none lost', async () => {
    const shrinkId = uniquePipelineId('reset-shrink');
    const shrinkTopic = uniqueName('reset_shrink');
    const shrinkTable = uniqueName('reset_shrink');
    await createSourceTopic(shrinkTopic, KAFKA_PARTITIONS);
    await createEventsTable(ch, shrinkTable);
    const bad = Array.from({ length: 40 }, (_, i) => `{"event_id": "shrink-bad-${i}", "ts": `);
    await produce(0, BATCH, bad, shrinkTopic);
    await postPipeline(app, dedupPipeline(shrinkId, shrinkTopic, shrinkTable, 4));
    const settledCounters = await waitForSettled(app, shrinkId, BATCH + bad.length, 60_000);
    const letters = await deadLettersOf(app, shrinkId);
    expect(letters).toHaveLength(bad.length);
    // The premise: partitions 2 and 3 hold dead letters (40 messages over 4 partitions).
    expect(letters.filter((l) => l.pipelinePartition >= 2).length).toBeGreaterThan(0);
    // A hold a removed partition's actor left (its DLQ at the bound while stopped): no actor of
    // partition 3 remains to clear it after the shrink.
    await setHold(redis, shrinkId, { reason: 'dlq-full', partition: 3, detail: 'at its bound' });
    await setHold(redis, shrinkId, { reason: 'stuck', partition: 1, detail: 'kept' });

    const reset = await put(
      dedupPipeline(shrinkId, shrinkTopic, shrinkTable, 2),
      '"1"',
      '?reset=true',
      app,
      shrinkId,
    );
    expect({ status: reset.status, body: reset.body }).toMatchObject({
      status: 200,
      body: { version: 2, definition: { partitions: 2 } },
    });

    // Every dead letter is listed, in a remaining partition, with its message and time.
    const after = await deadLettersOf(app, shrinkId);
    const seen = (list: typeof letters) =>
      list
        .map((l) => ({ message: l.message, at: l.at, stage: l.stage }))
        .sort((a, b) => a.message.localeCompare(b.message));
    expect(seen(after)).toEqual(seen(letters));
    expect(after.every((l) => l.pipelinePartition < 2)).toBe(true);
    // The totals still count the removed partitions' events.
    expect((await pipelineView(app, shrinkId)).counters).toEqual(settledCounters);
    // Nothing of partitions 2 and 3 is left but their fencing epochs, and no fold marker.
    const leftover = (await redis.keys(`{sl:${shrinkId}:*`)).filter(
      (k) => !/^\{sl:[^}]*:[01]\}:/.test(k) && !k.endsWith(':epoch'),
    );
    expect(leftover).toEqual([]);
    expect(await redis.keys(`{sl:${shrinkId}:*}:reset-fold`)).toEqual([]);
    // Holds of the removed partitions are gone; those of the remaining ones stay for their actors.
    expect((await readHolds(redis, shrinkId)).map((h) => `${h.reason}:${h.partition}`)).toEqual([
      'stuck:1',
    ]);
    await clearHold(redis, shrinkId, 'stuck', 1);

    // They are replayable (through the live partitions: still broken, they come back) and
    // discardable like any other.
    const post = async (action: string, body: unknown) => {
      const response = await fetch(
        `http://127.0.0.1:${app.port}/api/v1/pipelines/${shrinkId}/dlq/${action}`,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
      );
      return { status: response.status, body: (await response.json()) as object };
    };
    expect(await post('replay', {})).toEqual({ status: 200, body: { replayed: bad.length } });
    await app.waitFor(
      async () => (await deadLettersOf(app, shrinkId)).length === bad.length,
      30_000,
      'the replayed dead letters back in the DLQ',
    );
    expect(await post('discard', {})).toEqual({ status: 200, body: { discarded: bad.length } });
    expect(await deadLettersOf(app, shrinkId)).toEqual([]);
    await deletePipeline(app, shrinkId);
  }, 120_000);

  it('a stopped pipeline with read but unapplied events: the reset writes them first', async () => {
    await deletePipeline(app, id);
    await app.stop();
    const stoppedId = uniquePipelineId('reset-stopped');
    const stoppedTopic = uniqueName('reset_stopped');
    const stoppedTable = uniqueName('reset_stopped');
    await createSourceTopic(stoppedTopic, KAFKA_PARTITIONS);
    await createEventsTable(ch, stoppedTable);
    // No owner: the consumer fills the mailboxes and commits, nothing is applied.
    const reader = await SluiceProcess.start({ env: { ...env, ROLES: 'consumer,writer' } });
    others.push(reader);
    await postPipeline(reader, dedupPipeline(stoppedId, stoppedTopic, stoppedTable, 2));
    await produce(0, BATCH, [], stoppedTopic);
    await reader.waitFor(
      async () => (await pipelineView(reader, stoppedId)).lag === 0,
      30_000,
      'every event read and committed',
    );
    await setPipelineRunning(reader, stoppedId, false);
    expect(await tableIds(ch, stoppedTable)).toEqual(new Map());
    // The owner comes; the pipeline is stopped, so its actors wait for the reset to run them.
    others.push(await SluiceProcess.start({ env: { ...env, ROLES: 'owner,writer' } }));

    const wider = dedupPipeline(stoppedId, stoppedTopic, stoppedTable, 4);
    const reset = await put(wider, '"1"', '?reset=true', reader, stoppedId);
    expect({ status: reset.status, body: reset.body }).toMatchObject({
      status: 200,
      body: { status: 'stopped', version: 2 },
    });
    expect((await tableIds(ch, stoppedTable)).size).toBe(BATCH);
    await setPipelineRunning(reader, stoppedId, true);
    await produce(BATCH, BATCH, [], stoppedTopic);

    const total = 2 * BATCH;
    await reader.waitFor(
      async () => (await tableIds(ch, stoppedTable)).size >= total,
      60_000,
      `${total} rows`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const ids = await tableIds(ch, stoppedTable);
    const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
    expect({ ids: ids.size, doubled }).toEqual({ ids: total, doubled: [] });
    await deletePipeline(reader, stoppedId);
  }, 150_000);
});
