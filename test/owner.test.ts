import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Packr, unpack } from 'msgpackr';
import {
  encodeMailboxEntry,
  MAILBOX_FIELD,
  MAILBOX_PARTS_FIELD,
  type MailboxEntry,
  type MailboxEvent,
  loadHasher,
  parsePipelineDefinition,
} from '@sluice/pipeline';
import { BATCH_QUEUE, BATCH_QUEUE_PREFIX, type BatchJob, keys, readHolds } from '@sluice/redis';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const T0 = Date.parse('2024-05-01T12:00:00Z');
const MIN = 60_000;

function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

function ev(offset: number, eventId: string, tsMs: number, amount = 1): MailboxEvent {
  return {
    offset,
    timestamp: tsMs,
    value: { event_id: eventId, ts: new Date(tsMs).toISOString(), amount, user: 'u1' },
  };
}

describe('owner role', () => {
  const env = testStackEnv();
  // Its own Redis database: its pipelines are stored as running and never deleted, and owners
  // without a writer leave batches announced; in db 0 every later test's processes would run
  // their actors and consumers and write those batches (skewing metric totals).
  const redisUrl = `${env.REDIS_URL}/15`;
  let redis: Redis;
  let ch: ClickHouseClient;
  let queue: Queue<BatchJob>;
  let queueConnection: Redis;
  const started: SluiceProcess[] = [];

  beforeAll(() => {
    redis = new Redis(redisUrl);
    ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 60_000 });
    queueConnection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue<BatchJob>(BATCH_QUEUE, {
      connection: queueConnection,
      prefix: BATCH_QUEUE_PREFIX,
    });
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });

  afterAll(async () => {
    await queue.close();
    await queueConnection.quit();
    await redis.quit();
    await ch.close();
  });

  async function setup(leaseTtlMs: number) {
    const id = unique('own').replace(/_/g, '-');
    const table = unique('owner');
    const topic = unique('t');
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), amount Float64,
              doubled Float64, user String) ENGINE = MergeTree ORDER BY event_id
              SETTINGS non_replicated_deduplication_window = 1000`,
    });
    const parsed = parsePipelineDefinition({
      id,
      source: {
        kafka: { brokers: env.KAFKA_BROKERS.split(',') },
        topics: [{ name: topic, eventTime: 'ts' }],
      },
      partitions: 1,
      filter: 'amount >= 0.0',
      dedup: { key: 'event_id', window: '1h' },
      transform: { columns: { doubled: 'amount * 2.0' } },
      sink: {
        clickhouse: {
          url: env.CLICKHOUSE_URL,
          table,
          batch: { maxRows: 10_000, maxDelay: '100ms' },
        },
      },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    await redis
      .multi()
      .hset(keys.pipelines(), id, JSON.stringify(parsed.definition.definition))
      .hset(keys.pipelineStatus(), id, 'running')
      .incr(keys.pipelinesVersion())
      .exec();
    const startOwner = async (instance: string) => {
      const proc = await SluiceProcess.start({
        env: {
          REDIS_URL: redisUrl,
          ROLES: 'owner',
          INSTANCE_ID: instance,
          LEASE_TTL_MS: String(leaseTtlMs),
          LOG_LEVEL: 'debug',
        },
      });
      started.push(proc);
      await proc.waitFor(
        async () => (await redis.get(keys.lease(id, 0)))?.startsWith(`${instance}:`) === true,
        30_000,
        'lease taken',
      );
      return proc;
    };
    const append = async (entry: Omit<MailboxEntry, 'topic' | 'partition' | 'generation'>) =>
      (await redis.xadd(
        keys.mailbox(id, 0),
        '*',
        MAILBOX_FIELD,
        encodeMailboxEntry({ topic, partition: 0, generation: 1, ...entry }),
      )) as string;
    const counters = async () => {
      const raw = await redis.hgetall(keys.counters(id, 0));
      return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
    };
    const checkpointed = (proc: SluiceProcess, streamId: string) =>
      proc.waitFor(
        async () => (await redis.hget(keys.checkpoint(id, 0), 'cursor')) === streamId,
        15_000,
        `checkpoint at ${streamId}`,
      );
    const outbox = async () => (await redis.smembers(keys.outboxIndex(id, 0))).sort();
    const batchRows = async (batchId: string) => {
      const data = await redis.getBuffer(keys.outboxBatch(id, 0, batchId));
      // The outbox holds the rows as JSONEachRow text (the writer's insert body), as bytes.
      const { body } = unpack(data as Buffer) as { body: Uint8Array };
      return Buffer.from(body)
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    };
    return { id, topic, table, startOwner, append, counters, checkpointed, outbox, batchRows };
  }

  it('applies entries exactly once: batches, counters, dead letters, dedup window, restart, a held gap', async () => {
    const t = await setup(3_000);
    let owner = await t.startOwner('owner-a');
    const epoch = Number((await redis.get(keys.lease(t.id, 0)))?.split(':')[1]);

    const first = {
      from: 0,
      to: 3,
      events: [
        ev(0, 'a', T0),
        { offset: 1, timestamp: T0, raw: '{"broken', error: 'Unexpected end of JSON input' },
        ev(2, 'b', T0, -5),
        ev(3, 'a', T0 + 10 * MIN),
      ],
    };
    let id = await t.append(first);
    await t.checkpointed(owner, id);
    expect(await t.counters()).toEqual({
      consumed: 4,
      filtered: 1,
      duplicates: 1,
      deadLettered: 1,
    });
    // Batch ids: <pipeline>.<partition>.<epoch>.<run>.<seq>, the run drawn at the actor's start.
    const [batch1 = ''] = await t.outbox();
    expect(batch1).toMatch(new RegExp(`^${t.id}\\.0\\.${epoch}\\.[0-9a-f]{8}\\.1$`));
    const run = batch1.split('.')[3];
    expect(await t.batchRows(batch1)).toEqual([
      { event_id: 'a', ts: T0, amount: 1, doubled: 2, user: 'u1' },
    ]);
    // The announcement follows the checkpoint: wait for it.
    await owner.waitFor(
      async () => (await queue.getJob(batch1)) !== undefined,
      15_000,
      'batch announced',
    );
    const job = await queue.getJob(batch1);
    expect(job?.data).toEqual({ pipeline: t.id, partition: 0, batchId: batch1 });
    expect(job?.opts.attempts).toBe(1_000_000);
    const dlq = await redis.xrange(keys.deadLetters(t.id, 0), '-', '+');
    expect(dlq).toHaveLength(1);
    const fields = Object.fromEntries(
      (dlq[0]?.[1] ?? []).reduce<string[][]>((acc, v, i) => {
        if (i % 2 === 0) acc.push([v]);
        else acc[acc.length - 1]?.push(v);
        return acc;
      }, []),
    ) as Record<string, string>;
    expect(fields).toMatchObject({ stage: 'parse', topic: t.topic, partition: '0', offset: '1' });
    expect(fields.message).toBe('{"broken');

    // The same offsets appended again (a consumer re-read them): nothing changes but the count
    // of skipped re-reads.
    id = await t.append(first);
    await t.checkpointed(owner, id);
    expect(await t.counters()).toEqual({
      consumed: 4,
      filtered: 1,
      duplicates: 1,
      deadLettered: 1,
      staleSkipped: 4,
    });
    expect(await t.outbox()).toEqual([batch1]);

    // The consumer continues from 4: applied. `a` again two hours on: past the window.
    id = await t.append({ from: 0, to: 5, events: [ev(4, 'c', T0), ev(5, 'a', T0 + 120 * MIN)] });
    await t.checkpointed(owner, id);
    const batch2 = `${t.id}.0.${epoch}.${run}.2`;
    expect(await t.outbox()).toEqual([batch1, batch2]);
    expect((await t.batchRows(batch2)).map((r) => r.event_id)).toEqual(['c', 'a']);
    expect(await redis.hget(keys.checkpoint(t.id, 0), 'next')).toBe(
      JSON.stringify({ [`${t.topic}/0`]: 6 }),
    );
    // The mailbox is trimmed below the cursor.
    expect(await redis.xlen(keys.mailbox(t.id, 0))).toBeLessThanOrEqual(1);

    // Restart: a new process restores the checkpoint and the dedup state, re-announces the outbox.
    await owner.stop();
    expect(owner.text()).toMatch(/Active -> Revoking \(stopping\)/);
    expect(await redis.get(keys.lease(t.id, 0))).toBeNull();
    for (const batch of [batch1, batch2]) await (await queue.getJob(batch))?.remove();
    expect(await queue.getJob(batch1)).toBeUndefined();
    owner = await t.startOwner('owner-b');
    await owner.waitFor(
      async () =>
        (await queue.getJob(batch1)) !== undefined && (await queue.getJob(batch2)) !== undefined,
      15_000,
      'outbox re-announced',
    );
    id = await t.append({
      from: 0,
      to: 8,
      events: [ev(6, 'a', T0 + 125 * MIN), ev(7, 'c', T0 + 5 * MIN), ev(8, 'd', T0 + 126 * MIN)],
    });
    await t.checkpointed(owner, id);
    // `a` is a duplicate only through the restored state. So is `c`, five minutes of event time
    // after the first `c` although its partition is two hours further: its bucket was kept, as
    // expiry waits a minute of processing time after a start for every source to report.
    expect(await t.counters()).toMatchObject({ consumed: 9, duplicates: 3 });
    const outbox = await t.outbox();
    expect(outbox).toHaveLength(3);
    const batch3 = outbox.find((b) => b !== batch1 && b !== batch2) ?? '';
    // The restored actor runs anew: a new epoch here, and a run never issued before.
    expect(batch3).toMatch(new RegExp(`^${t.id}\\.0\\.${epoch + 1}\\.[0-9a-f]{8}\\.3$`));
    expect(batch3.split('.')[3]).not.toBe(run);
    expect((await t.batchRows(batch3)).map((r) => r.event_id)).toEqual(['d']);

    // A gap: `from` (20) beyond `next` (9), offsets 9..19 never applied (Redis lost writes). Not
    // dropped: the actor stops before it, says so, and goes on once an operator accepts it.
    const gapId = await t.append({
      from: 20,
      to: 21,
      events: [ev(20, 'x', T0 + 126 * MIN), ev(21, 'y', T0 + 126 * MIN)],
    });
    const range = { topic: t.topic, partition: 0, from: 9, to: 19 };
    await owner.waitFor(
      async () => (await readHolds(redis, t.id)).some((h) => h.reason === 'gap'),
      15_000,
      'gap hold',
    );
    expect(await readHolds(redis, t.id)).toEqual([
      expect.objectContaining({ reason: 'gap', partition: 0, range }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await redis.hget(keys.checkpoint(t.id, 0), 'cursor')).toBe(id);
    expect(await t.counters()).toMatchObject({ consumed: 9 });
    const accept = await fetch(
      `http://127.0.0.1:${owner.port}/api/v1/pipelines/${t.id}/partitions/0/accept-gap`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
    );
    expect(accept.status).toBe(200);
    expect(await accept.json()).toEqual({ id: t.id, partition: 0, range, recorded: true });
    await t.checkpointed(owner, gapId);
    expect(await t.counters()).toMatchObject({ consumed: 11 });
    expect(await redis.hget(keys.checkpoint(t.id, 0), 'next')).toBe(
      JSON.stringify({ [`${t.topic}/0`]: 22 }),
    );
    expect(await readHolds(redis, t.id)).toEqual([]);
    const [gap] = await redis.xrange(keys.sourceGaps(t.id), '-', '+');
    expect(gap?.[1].join(' ')).toContain('origin accepted-gap');
    // Accepting again (no gap now): refused.
    const again = await fetch(
      `http://127.0.0.1:${owner.port}/api/v1/pipelines/${t.id}/partitions/0/accept-gap`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
    );
    expect(again.status).toBe(409);
  }, 120_000);

  it('applies a stream entry of several entries (a merged linger flush) in order; a gap in one holds before the whole stream entry', async () => {
    const t = await setup(3_000);
    const owner = await t.startOwner('owner-m');
    // One stream entry per linger flush of a consumer: one entry per source partition in it.
    const appendParts = async (
      ...parts: { partition: number; from: number; to: number; events: MailboxEvent[] }[]
    ) =>
      (await redis.xadd(
        keys.mailbox(t.id, 0),
        '*',
        ...parts.flatMap((part) => [
          MAILBOX_PARTS_FIELD,
          encodeMailboxEntry({ topic: t.topic, generation: 1, ...part }),
        ]),
      )) as string;
    const first = await appendParts(
      { partition: 0, from: 0, to: 1, events: [ev(0, 'a', T0), ev(1, 'b', T0)] },
      { partition: 1, from: 0, to: 0, events: [ev(0, 'c', T0)] },
    );
    await t.checkpointed(owner, first);
    expect(await t.counters()).toEqual({ consumed: 3 });
    const next = async () =>
      JSON.parse((await redis.hget(keys.checkpoint(t.id, 0), 'next')) ?? '{}') as unknown;
    expect(await next()).toEqual({ [`${t.topic}/0`]: 2, [`${t.topic}/1`]: 1 });

    // The second part leaves a gap (partition 1 applied up to 0, the part starts at 5): the first
    // part is applied and checkpointed, but the cursor stays before the stream entry, so the
    // second part is read again once the gap is accepted (the first then counts as a re-read).
    const gapId = await appendParts(
      { partition: 0, from: 0, to: 2, events: [ev(2, 'd', T0)] },
      { partition: 1, from: 5, to: 5, events: [ev(5, 'e', T0)] },
    );
    await owner.waitFor(
      async () => (await readHolds(redis, t.id)).some((h) => h.reason === 'gap'),
      15_000,
      'gap hold',
    );
    await owner.waitFor(
      async () => (await t.counters()).consumed === 4,
      15_000,
      'first part checkpointed',
    );
    expect(await redis.hget(keys.checkpoint(t.id, 0), 'cursor')).toBe(first);
    expect(await next()).toEqual({ [`${t.topic}/0`]: 3, [`${t.topic}/1`]: 1 });
    const accept = await fetch(
      `http://127.0.0.1:${owner.port}/api/v1/pipelines/${t.id}/partitions/0/accept-gap`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
    );
    expect(accept.status).toBe(200);
    await t.checkpointed(owner, gapId);
    expect(await t.counters()).toEqual({ consumed: 5, staleSkipped: 1 });
    expect(await next()).toEqual({ [`${t.topic}/0`]: 3, [`${t.topic}/1`]: 6 });
    const rows = await Promise.all((await t.outbox()).map((b) => t.batchRows(b)));
    expect(
      rows
        .flat()
        .map((r) => r.event_id)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'd', 'e']);
  }, 120_000);

  it('applies entries carrying unparsed JSON (v2) and dead-letters entry versions it does not know', async () => {
    const t = await setup(3_000);
    const owner = await t.startOwner('owner-v');
    const epoch = Number((await redis.get(keys.lease(t.id, 0)))?.split(':')[1]);
    const json = (offset: number, eventId: string, amount = 1): MailboxEvent => {
      const { value, ...rest } = ev(offset, eventId, T0, amount);
      return { ...rest, json: Buffer.from(JSON.stringify(value)) };
    };
    let id = await t.append({
      from: 0,
      to: 4,
      events: [
        json(0, 'a'),
        { offset: 1, timestamp: T0, raw: '{"broken', error: 'invalid JSON: Unexpected end' },
        json(2, 'b', -5),
        ev(3, 'c', T0),
        json(4, 'a'),
      ],
    });
    await t.checkpointed(owner, id);
    expect(await t.counters()).toEqual({
      consumed: 5,
      filtered: 1,
      duplicates: 1,
      deadLettered: 1,
    });
    const [batch1 = ''] = await t.outbox();
    expect(batch1).toMatch(new RegExp(`^${t.id}\\.0\\.${epoch}\\.[0-9a-f]{8}\\.1$`));
    expect((await t.batchRows(batch1)).map((r) => r.event_id)).toEqual(['a', 'c']);

    // An entry of a later format: not applied, not silently skipped, but dead-lettered.
    id = (await redis.xadd(
      keys.mailbox(t.id, 0),
      '*',
      MAILBOX_FIELD,
      new Packr({ useRecords: true, moreTypes: false }).pack({
        v: 3,
        topic: t.topic,
        partition: 0,
        generation: 1,
        from: 0,
        to: 9,
      }),
    )) as string;
    await t.checkpointed(owner, id);
    expect(await t.counters()).toMatchObject({ consumed: 6, deadLettered: 2 });
    const dlq = await redis.xrange(keys.deadLetters(t.id, 0), '-', '+');
    expect(dlq.map(([, fields]) => fields.join(' '))).toEqual([
      expect.stringContaining('invalid JSON'),
      expect.stringContaining('mailbox entry version 3 is not supported'),
    ]);
    expect(await redis.hget(keys.checkpoint(t.id, 0), 'next')).toBe(
      JSON.stringify({ [`${t.topic}/0`]: 5 }),
    );
  }, 60_000);

  it('fences an actor whose lease was taken over: it cannot commit and closes', async () => {
    // A long lease: renewal (every TTL/3) must not notice first; the checkpoint must refuse.
    const t = await setup(60_000);
    const owner = await t.startOwner('owner-f');
    const epoch = Number((await redis.get(keys.lease(t.id, 0)))?.split(':')[1]);
    const id = await t.append({ from: 0, to: 0, events: [ev(0, 'a', T0)] });
    await t.checkpointed(owner, id);
    const committed = await t.outbox();
    expect(committed).toEqual([expect.stringMatching(new RegExp(`^${t.id}\\.0\\.${epoch}\\.`))]);

    const newEpoch = await redis.incr(keys.epoch(t.id, 0));
    await redis.set(keys.lease(t.id, 0), `intruder:${newEpoch}`, 'PX', 120_000);
    await t.append({ from: 0, to: 2, events: [ev(1, 'b', T0), ev(2, 'c', T0)] });
    await owner.waitFor(
      () => Promise.resolve(/Revoking -> Closed/.test(owner.text())),
      15_000,
      'actor closed',
    );
    expect(owner.text()).toMatch(
      new RegExp(`${t.id}/0 epoch ${epoch}: Active -> Revoking \\(fenced`),
    );
    expect(await t.outbox()).toEqual(committed);
    expect(await redis.hget(keys.checkpoint(t.id, 0), 'cursor')).toBe(id);
    expect((await t.counters()).consumed).toBe(1);
    // The process keeps trying the lease but never takes it from the live holder.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await redis.get(keys.lease(t.id, 0))).toBe(`intruder:${newEpoch}`);
    expect(await t.outbox()).toEqual(committed);
  }, 60_000);

  it('still finds the keys of dedup state an earlier version wrote as 64-bit hashes', async () => {
    const t = await setup(3_000);
    // Before 96-bit hashes: 8-byte xxhash64 records under <tag>:dedup:<bucket start>, in the
    // bucket index (a plain pipeline's key hash is that of the key itself).
    const hasher = await loadHasher();
    const bucketMs = Math.ceil(3_600_000 / 16);
    const start = Math.floor(T0 / bucketMs) * bucketMs;
    const old = Buffer.alloc(16);
    old.writeBigUInt64LE(hasher.hash64('old-1'), 0);
    old.writeBigUInt64LE(hasher.hash64('old-2'), 8);
    await redis
      .multi()
      .set(keys.dedupBucket64(t.id, 0, start), old)
      .zadd(keys.dedupIndex(t.id, 0), start, String(start))
      .exec();
    let owner = await t.startOwner('owner-u');
    let id = await t.append({
      from: 0,
      to: 2,
      events: [ev(0, 'old-1', T0), ev(1, 'new-1', T0 + 1), ev(2, 'old-2', T0 + 2)],
    });
    await t.checkpointed(owner, id);
    expect(await t.counters()).toEqual({ consumed: 3, duplicates: 2 });
    // New keys go to the bucket's string of 12-byte records; the old string is left as it was.
    expect(await redis.strlen(keys.dedupBucket(t.id, 0, start))).toBe(12);
    expect(await redis.getBuffer(keys.dedupBucket64(t.id, 0, start))).toEqual(old);

    // Restored from both formats after a restart.
    await owner.stop();
    owner = await t.startOwner('owner-u2');
    id = await t.append({
      from: 3,
      to: 5,
      events: [ev(3, 'new-1', T0 + 3), ev(4, 'old-2', T0 + 4), ev(5, 'new-2', T0 + 5)],
    });
    await t.checkpointed(owner, id);
    expect(await t.counters()).toEqual({ consumed: 6, duplicates: 4 });
  }, 60_000);

  it('keeps dedup state compact in Redis (bytes per live key)', async () => {
    const t = await setup(3_000);
    const owner = await t.startOwner('owner-m');
    const n = 20_000;
    let id = '';
    for (let chunk = 0; chunk < n / 2_000; chunk++) {
      const events = Array.from({ length: 2_000 }, (_, i) => {
        const offset = chunk * 2_000 + i;
        return ev(offset, `key-${offset}`, T0 + offset * 100);
      });
      id = await t.append({ from: 0, to: chunk * 2_000 + 1_999, events });
    }
    await t.checkpointed(owner, id);
    const starts = await redis.zrange(keys.dedupIndex(t.id, 0), 0, -1);
    let bytes = 0;
    let live = 0;
    for (const start of starts) {
      const key = keys.dedupBucket(t.id, 0, Number(start));
      bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      live += (await redis.strlen(key)) / 12;
    }
    expect(live).toBe(n);
    const perKey = bytes / live;
    process.stdout.write(
      `dedup Redis memory: ${bytes} bytes for ${live} keys in ${starts.length} buckets = ${perKey.toFixed(2)} bytes/key\n`,
    );
    expect(perKey).toBeLessThanOrEqual(32);
  }, 60_000);
});
