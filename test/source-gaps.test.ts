import { Redis } from 'ioredis';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { parsePipelineDefinition } from '@sluice/pipeline';
import { keys } from '@sluice/redis';
import { createTopic, produceMessages, type ProduceMessage } from '@sluice/stack';
import { scrape, total } from './support/metrics';
import { TEST_STACK_DIR } from './support/paths';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

const uid = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

// A logical database of its own: a consumer process starts a consumer for every running
// pipeline it finds, and the stack's Redis is shared by every test file.
const REDIS_DB = 12;
const MAILBOX_MAX_ENTRIES = 10;
// The librdkafka mock keeps about 5 MB per partition (libs/stack rdkafka.ts): 8 MB of 64 KB
// messages pushes the log start well past what the paused consumer had read.
const BIG_MESSAGES = 128;
const PAD = 'x'.repeat(64 * 1024);

interface GapRecord {
  topic: string;
  partition: number;
  expected: number | null;
  resumedAt: number | null;
  skipped: number | null;
  resets: number;
}
interface GapSummary {
  resets: number;
  skippedOffsets: number;
  recent: GapRecord[];
}

describe('source offset resets', () => {
  const env = testStackEnv();
  const redisUrl = `${env.REDIS_URL}/${REDIS_DB}`;
  let redis: Redis;
  let admin: Admin;
  let app: SluiceProcess | undefined;
  const ids: string[] = [];

  beforeAll(async () => {
    redis = new Redis(redisUrl);
    const kafka = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });

  afterEach(async () => {
    await app?.stop();
    app = undefined;
    for (const id of ids.splice(0)) {
      await redis.hdel(keys.pipelines(), id);
      await redis.hdel(keys.pipelineStatus(), id);
      await redis.incr(keys.pipelinesVersion());
      await redis.del(keys.mailbox(id, 0), keys.sourceGaps(id), keys.sourceGapTotals(id));
    }
  });

  afterAll(async () => {
    await admin.disconnect();
    redis.disconnect();
  });

  /** A one-partition topic and a pipeline over it with one mailbox, stored but not yet set. */
  async function pipeline(): Promise<{ id: string; topic: string; json: string }> {
    const id = `gap-${uid()}`;
    ids.push(id);
    const topic = `${id}.events`;
    await createTopic(topic, 1, { dir: TEST_STACK_DIR });
    const parsed = parsePipelineDefinition({
      id,
      source: {
        kafka: { brokers: env.KAFKA_BROKERS.split(',') },
        topics: [{ name: topic, startFrom: 'earliest' }],
      },
      partitions: 1,
      sink: { clickhouse: { url: env.CLICKHOUSE_URL, table: `t_${id.replace(/-/g, '_')}` } },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    return { id, topic, json: JSON.stringify(parsed.definition.definition) };
  }

  async function setStatus(id: string, status: 'running' | 'stopped', json?: string) {
    const multi = redis.multi();
    if (json !== undefined) multi.hset(keys.pipelines(), id, json);
    await multi.hset(keys.pipelineStatus(), id, status).incr(keys.pipelinesVersion()).exec();
  }

  async function produceSmall(topic: string): Promise<number> {
    const small: ProduceMessage[] = Array.from({ length: 5 }, (_, i) => ({
      value: JSON.stringify({ event_id: `small-${i}` }),
      partition: 0,
    }));
    expect((await produceMessages(topic, small, { dir: TEST_STACK_DIR })).errors).toEqual([]);
    return small.length;
  }

  /** Past the mock's retention: returns the partition's new log start offset. */
  async function produceBig(topic: string): Promise<number> {
    for (let i = 0; i < BIG_MESSAGES; i += 16) {
      const wave = Array.from({ length: 16 }, (_, n) => ({
        value: JSON.stringify({ event_id: `big-${i + n}`, pad: PAD }),
        partition: 0,
      }));
      expect((await produceMessages(topic, wave, { dir: TEST_STACK_DIR })).errors).toEqual([]);
    }
    const [offsets] = await admin.fetchTopicOffsets(topic);
    return Number(offsets?.low);
  }

  async function startConsumer(): Promise<SluiceProcess> {
    app = await SluiceProcess.start({
      env: {
        REDIS_URL: redisUrl,
        KAFKA_BROKERS: env.KAFKA_BROKERS,
        ROLES: 'consumer',
        MAILBOX_MAX_ENTRIES: String(MAILBOX_MAX_ENTRIES),
        // The resume rejoins the group, where the stopped consumer's member stays a session.
        ...SHORT_GROUP_SESSION,
      },
    });
    return app;
  }

  async function gapsOf(running: SluiceProcess, id: string): Promise<GapSummary> {
    let summary: GapSummary | undefined;
    await waitUntil(
      async () => {
        const { status, body } = await running.get(`/api/v1/pipelines/${id}/source-gaps`);
        summary = body as GapSummary;
        return status === 200 && summary.recent.length > 0;
      },
      30_000,
      'a source gap recorded',
    );
    return summary!;
  }

  it('counts, logs and records the offsets the broker dropped before the consumer read them', async () => {
    const { id, topic, json } = await pipeline();
    // The mailbox is already over its limit: the first append pauses the source partition, as
    // when the actors fall behind (no owner runs here to drain it).
    for (let i = 0; i < MAILBOX_MAX_ENTRIES + 5; i++) {
      await redis.xadd(keys.mailbox(id, 0), '*', 'filler', String(i));
    }
    await setStatus(id, 'running', json);
    const read = await produceSmall(topic);
    const running = await startConsumer();
    await running.waitFor(
      () => Promise.resolve(running.output.join('').includes(`pausing ${topic}/0`)),
      30_000,
      'the source partition paused by backpressure',
    );

    // While it is paused, the broker's retention passes the offset it is to read next (5).
    const low = await produceBig(topic);
    expect(low).toBeGreaterThan(read);

    // Drained: the partition resumes, its fetch at offset 5 is out of range, kafkajs resets.
    await redis.del(keys.mailbox(id, 0));
    const summary = await gapsOf(running, id);
    const skipped = low - read;
    expect(summary.recent[0]).toMatchObject({
      topic,
      partition: 0,
      expected: read,
      resumedAt: low,
      skipped,
      resets: 1,
    });
    expect(summary).toMatchObject({ resets: 1, skippedOffsets: skipped });

    const metrics = await scrape(running);
    const labels = `pipeline="${id}",topic="${topic}",partition="0"`;
    expect(total(metrics, 'sluice_source_offset_resets_total', labels)).toBe(1);
    expect(total(metrics, 'sluice_source_skipped_offsets_total', labels)).toBe(skipped);

    // Reported by readiness without failing it: restarting would not bring the events back.
    const ready = await running.get('/health/ready');
    expect(ready.status).toBe(200);
    expect((ready.body as { info: Record<string, unknown> }).info.sourceGaps).toMatchObject({
      status: 'up',
      resets: 1,
      skippedOffsets: skipped,
    });
    const got = await running.get(`/api/v1/pipelines/${id}`);
    expect((got.body as { sourceGaps: GapSummary }).sourceGaps.resets).toBe(1);
    expect(running.output.join('')).toContain(
      `source offset reset: ${topic}/0 offsets ${read}..${low - 1} skipped`,
    );
  }, 90_000);

  it('records a reset found when a stopped pipeline resumes past retention', async () => {
    const { id, topic, json } = await pipeline();
    await setStatus(id, 'running', json);
    const read = await produceSmall(topic);
    const running = await startConsumer();
    const groupId = `sluice.${id}`;
    const committed = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return Number(offsets?.partitions[0]?.offset ?? -1);
    };
    await waitUntil(async () => (await committed()) === read, 30_000, 'the small events committed');
    await setStatus(id, 'stopped');
    await running.waitFor(
      () => Promise.resolve(running.output.join('').includes(`consumer stopping -> stopped`)),
      30_000,
      'the consumer stopped',
    );
    const low = await produceBig(topic);
    expect(low).toBeGreaterThan(read);

    await setStatus(id, 'running');
    const summary = await gapsOf(running, id);
    // The offset it was to read comes from the group's offsets, read before kafkajs's first fetch
    // (whose reset then commits its logical default offset over them).
    expect(summary.recent[0]).toMatchObject({
      topic,
      partition: 0,
      expected: read,
      resumedAt: low,
      skipped: low - read,
      resets: 1,
    });
    expect(total(await scrape(running), 'sluice_source_offset_resets_total', id)).toBe(1);
  }, 90_000);
});
