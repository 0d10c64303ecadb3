import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { encodeMailboxEntry, MAILBOX_FIELD, parsePipelineDefinition } from '@sluice/pipeline';
import { keys } from '@sluice/redis';
import { clickhouse, uniqueName, uniquePipelineId } from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// A partition never goes back to an older definition version (docs/architecture.md "Definition
// versions and live edits"): an owner whose process has not loaded the version that made the
// partition's checkpoint applies nothing until it has, then runs the new version.

const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('definition versions in the owner', () => {
  const env = testStackEnv();
  let redis: Redis;
  let ch: ClickHouseClient;
  let owner: SluiceProcess | undefined;
  const id = uniquePipelineId('ver');
  const table = uniqueName('ver');

  beforeAll(async () => {
    redis = new Redis(env.REDIS_URL);
    ch = clickhouse();
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), marker UInt8)
              ENGINE = MergeTree ORDER BY event_id SETTINGS non_replicated_deduplication_window = 100`,
    });
  });

  afterAll(async () => {
    await owner?.stop();
    // The pipeline's partition state (this process has no writer: its batch stays in the outbox).
    const [, left] = await redis.scan('0', 'MATCH', `{sl:${id}:*`, 'COUNT', 10_000);
    if (left.length > 0) await redis.del(...left);
    await redis
      .multi()
      .hdel(keys.pipelines(), id)
      .hdel(keys.pipelineStatus(), id)
      .hdel(keys.pipelineVersions(), id)
      .incr(keys.pipelinesVersion())
      .exec();
    redis.disconnect();
    await ch.command({ query: `DROP TABLE IF EXISTS ${table}` }).catch(() => undefined);
    await ch.close();
  });

  it('waits while the checkpoint was made by a newer version, then runs that one', async () => {
    const definition = (marker: number) => {
      const parsed = parsePipelineDefinition({
        id,
        source: { kafka: { brokers: env.KAFKA_BROKERS.split(',') }, topics: [{ name: 't' }] },
        partitions: 1,
        transform: { columns: { marker: String(marker) } },
        sink: { clickhouse: { url: env.CLICKHOUSE_URL, table, batch: { maxDelay: '50ms' } } },
      });
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
      return JSON.stringify(parsed.definition.definition);
    };
    // As if another process had run version 5 here while this one still has version 4.
    await redis
      .multi()
      .hset(keys.checkpoint(id, 0), { cursor: '0-0', next: '{}', seq: 0, gen: 0, version: 5 })
      .hset(keys.pipelines(), id, definition(4))
      .hset(keys.pipelineVersions(), id, 4)
      .hset(keys.pipelineStatus(), id, 'running')
      .incr(keys.pipelinesVersion())
      .exec();
    owner = await SluiceProcess.start({
      env: { REDIS_URL: env.REDIS_URL, ROLES: 'owner', LEASE_TTL_MS: '3000' },
    });
    const entry = encodeMailboxEntry({
      topic: 't',
      partition: 0,
      generation: 1,
      from: 0,
      to: 0,
      events: [{ offset: 0, timestamp: T0, value: { event_id: 'a', ts: T0 } }],
    });
    const streamId = (await redis.xadd(keys.mailbox(id, 0), '*', MAILBOX_FIELD, entry)) as string;
    await owner.waitFor(
      async () => (await redis.get(keys.lease(id, 0))) !== null,
      20_000,
      'the actor started (its lease taken)',
    );
    // Version 4 would have applied the entry by now (batches close after 50 ms).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await redis.hgetall(keys.checkpoint(id, 0))).toMatchObject({ cursor: '0-0', gen: '0' });
    expect(await redis.smembers(keys.outboxIndex(id, 0))).toEqual([]);
    expect(owner.text()).toContain('made by definition version 5, this process runs 4');

    // The edit reaches this process: the actor of version 5 takes over and applies the entry.
    await redis
      .multi()
      .hset(keys.pipelines(), id, definition(5))
      .hset(keys.pipelineVersions(), id, 5)
      .incr(keys.pipelinesVersion())
      .exec();
    await owner.waitFor(
      async () => (await redis.hget(keys.checkpoint(id, 0), 'cursor')) === streamId,
      20_000,
      'the entry applied by version 5',
    );
    expect(await redis.hget(keys.checkpoint(id, 0), 'version')).toBe('5');
    const [batch] = await redis.smembers(keys.outboxIndex(id, 0));
    expect(batch).toBeDefined();
    const payload = await redis.getBuffer(keys.outboxBatch(id, 0, batch!));
    expect(payload?.toString('latin1')).toContain('"marker":5');
  });
});
