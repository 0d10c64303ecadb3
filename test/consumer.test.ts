import { Redis } from 'ioredis';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import {
  decodeMailboxEntry,
  loadHasher,
  MAILBOX_FIELD,
  MAILBOX_PARTS_FIELD,
  parsePipelineDefinition,
  type MailboxEntry,
} from '@sluice/pipeline';
import { keys } from '@sluice/redis';
import { createTopic, produceMessages, type KafkaCodec, type ProduceMessage } from '@sluice/stack';
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

function definition(id: string, topics: string[], partitions: number) {
  const env = testStackEnv();
  return {
    id,
    source: {
      kafka: { brokers: env.KAFKA_BROKERS.split(',') },
      topics: topics.map((name) => ({ name, startFrom: 'earliest' })),
    },
    partitions,
    dedup: { key: 'event_id', window: '1h' },
    sink: { clickhouse: { url: env.CLICKHOUSE_URL, database: 'default', table: `t_${id}` } },
  };
}

const created: { id: string; partitions: number }[] = [];

/** Stores a pipeline the way PipelineStore does (normalized definition, status, version bump). */
async function storePipeline(redis: Redis, raw: Record<string, unknown>): Promise<void> {
  const parsed = parsePipelineDefinition(raw);
  if (parsed.ok)
    created.push({ id: parsed.definition.id, partitions: parsed.definition.partitions });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const def = parsed.definition.definition;
  await redis
    .multi()
    .hset(keys.pipelines(), def.id, JSON.stringify(def))
    .hset(keys.pipelineStatus(), def.id, 'running')
    .incr(keys.pipelinesVersion())
    .exec();
}

async function setStatus(redis: Redis, id: string, status: 'running' | 'stopped') {
  await redis.multi().hset(keys.pipelineStatus(), id, status).incr(keys.pipelinesVersion()).exec();
}

/** Each stream entry's entries: one, or several merged by a linger flush (MAILBOX_PARTS_FIELD). */
async function readStream(redis: Redis, id: string, partition: number): Promise<MailboxEntry[][]> {
  const rows = await redis.xrangeBuffer(keys.mailbox(id, partition), '-', '+');
  return rows.map(([, fields]) =>
    fields.flatMap((f, i) =>
      i % 2 === 0 && [MAILBOX_FIELD, MAILBOX_PARTS_FIELD].includes(f.toString())
        ? [decodeMailboxEntry(fields[i + 1]!)]
        : [],
    ),
  );
}

async function readMailbox(redis: Redis, id: string, partition: number): Promise<MailboxEntry[]> {
  return (await readStream(redis, id, partition)).flat();
}

/**
 * Entries holding events per mailbox: join and dedup pipelines also get small marks heartbeat
 * entries (no events) every few seconds, whatever the bound, which carry no batch.
 */
async function batchEntries(redis: Redis, id: string, partitions: number): Promise<number[]> {
  return Promise.all(
    Array.from(
      { length: partitions },
      async (_, p) =>
        (await readStream(redis, id, p)).filter((parts) => parts.some((e) => e.events.length > 0))
          .length,
    ),
  );
}

async function mailboxLengths(redis: Redis, id: string, partitions: number): Promise<number[]> {
  return Promise.all(Array.from({ length: partitions }, (_, p) => redis.xlen(keys.mailbox(id, p))));
}

/** True when the group has committed every topic-partition up to its end. */
async function caughtUp(admin: Admin, groupId: string, topics: string[]): Promise<boolean> {
  const lag = await groupLag(admin, groupId, topics);
  return lag === 0;
}

async function groupLag(admin: Admin, groupId: string, topics: string[]): Promise<number> {
  let lag = 0;
  for (const topic of topics) {
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({ groupId, topics: [topic] }),
    ]);
    for (const { partition, high } of ends) {
      const done = committed[0]?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      lag += Number(high) - Math.max(0, Number(done));
    }
  }
  return lag;
}

function events(topic: string, count: number, partitions: number, first = 0): ProduceMessage[] {
  return Array.from({ length: count }, (_, n) => {
    const i = first + n;
    // Every fifth id repeats an earlier one: duplicates must meet in one mailbox.
    const id = i % 5 === 4 ? `${topic}-${i - 1}` : `${topic}-${i}`;
    return { value: JSON.stringify({ event_id: id, n: i }), partition: i % partitions };
  });
}

// A logical database of its own: the stack's Redis is shared by every test file, and a
// consumer process starts a consumer for every running pipeline it finds.
const REDIS_DB = 11;

describe('consumer role', () => {
  const env = testStackEnv();
  const redisUrl = `${env.REDIS_URL}/${REDIS_DB}`;
  let redis: Redis;
  let admin: Admin;
  const started: SluiceProcess[] = [];

  beforeAll(async () => {
    redis = new Redis(redisUrl);
    const kafka = new Kafka({ brokers: env.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
    for (const { id, partitions } of created.splice(0)) {
      const mailboxes = Array.from({ length: partitions }, (_, p) => keys.mailbox(id, p));
      await redis.hdel(keys.pipelines(), id);
      await redis.hdel(keys.pipelineStatus(), id);
      await redis.del(...mailboxes);
      await redis.incr(keys.pipelinesVersion());
    }
  });

  afterAll(async () => {
    await admin.disconnect();
    redis.disconnect();
  });

  async function startConsumer(extra: NodeJS.ProcessEnv = {}): Promise<SluiceProcess> {
    const proc = await SluiceProcess.start({
      env: {
        REDIS_URL: redisUrl,
        KAFKA_BROKERS: env.KAFKA_BROKERS,
        ROLES: 'consumer',
        // A stop and resume rejoins the group: the member that left holds it a session.
        ...SHORT_GROUP_SESSION,
        ...extra,
      },
    });
    started.push(proc);
    return proc;
  }

  it('appends every message once, routed by key, in all codecs; stops and resumes', async () => {
    const id = `cons-${uid()}`;
    const partitions = 8;
    const main = `${id}.main`;
    const codecs: KafkaCodec[] = ['gzip', 'snappy', 'lz4', 'zstd'];
    const codecTopics = codecs.map((codec) => `${id}.${codec}`);
    const topics = [main, ...codecTopics];
    await createTopic(main, 4, { dir: TEST_STACK_DIR });
    for (const topic of codecTopics) await createTopic(topic, 2, { dir: TEST_STACK_DIR });

    const produced = new Map<string, ProduceMessage[]>();
    const produce = async (topic: string, messages: ProduceMessage[], codec?: KafkaCodec) => {
      const result = await produceMessages(topic, messages, { dir: TEST_STACK_DIR, codec });
      expect(result.errors).toEqual([]);
      produced.set(topic, [...(produced.get(topic) ?? []), ...messages]);
    };
    const malformed: ProduceMessage[] = Array.from({ length: 10 }, (_, i) => ({
      value: i % 2 === 0 ? `{"event_id": "broken-${i}"` : `not json ${i}`,
      partition: i % 4,
    }));
    await produce(main, [...events(main, 400, 4), ...malformed], 'none');
    for (const [i, codec] of codecs.entries()) {
      await produce(codecTopics[i]!, events(codecTopics[i]!, 60, 2), codec);
    }

    await storePipeline(redis, definition(id, topics, partitions));
    const proc = await startConsumer();
    // A second wave while it runs: more than one batch per partition.
    await produce(main, events(main, 200, 4, 400), 'lz4');
    const groupId = `sluice.${id}`;
    await waitUntil(() => caughtUp(admin, groupId, topics), 90_000, 'all offsets committed');

    const hasher = await loadHasher();
    const check = async () => {
      const seen = new Map<string, number>();
      const mailboxOfId = new Map<string, number>();
      let malformedSeen = 0;
      for (let mailbox = 0; mailbox < partitions; mailbox += 1) {
        const lastTo = new Map<string, number>();
        for (const entry of await readMailbox(redis, id, mailbox)) {
          const tp = `${entry.topic}/${entry.partition}`;
          expect(entry.generation).toBeGreaterThanOrEqual(0);
          expect(entry.from).toBeGreaterThanOrEqual(0);
          // An empty marks heartbeat of a partition this session read nothing of yet ends
          // before it starts (to = from - 1).
          expect(entry.to).toBeGreaterThanOrEqual(entry.from - (entry.events.length > 0 ? 0 : 1));
          lastTo.set(tp, Math.max(entry.to, lastTo.get(tp) ?? -1));
          for (const event of entry.events) {
            expect(event.offset).toBeGreaterThanOrEqual(entry.from);
            expect(event.offset).toBeLessThanOrEqual(entry.to);
            const key = `${tp}/${event.offset}`;
            seen.set(key, (seen.get(key) ?? 0) + 1);
            if (event.error !== undefined) {
              malformedSeen += 1;
              expect(event.raw).toEqual(expect.any(String));
              continue;
            }
            const eventId = (event.value as { event_id: string }).event_id;
            expect(mailbox).toBe(hasher.partitionOf(eventId, partitions));
            expect(mailboxOfId.get(eventId) ?? mailbox).toBe(mailbox);
            mailboxOfId.set(eventId, mailbox);
          }
        }
        // Every mailbox hears of every source partition up to its end, events or not.
        for (const topic of topics) {
          for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
            expect(lastTo.get(`${topic}/${partition}`)).toBe(Number(high) - 1);
          }
        }
      }
      const total = [...produced.values()].reduce((sum, list) => sum + list.length, 0);
      expect(seen.size).toBe(total);
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
      expect(malformedSeen).toBe(malformed.length);
      for (const topic of codecTopics) {
        const ids = [...mailboxOfId.keys()].filter((k) => k.startsWith(`${topic}-`));
        expect(ids.length).toBe(48); // 60 events, every fifth a duplicate id
      }
    };
    await check();

    // Stop: no new entries while messages keep coming.
    await setStatus(redis, id, 'stopped');
    await proc.waitFor(
      () => Promise.resolve(proc.text().includes('consumer stopping -> stopped')),
      20_000,
      'consumer stopped',
    );
    const before = await mailboxLengths(redis, id, partitions);
    await produce(main, events(main, 100, 4, 600), 'none');
    await sleep(3_000);
    expect(await mailboxLengths(redis, id, partitions)).toEqual(before);
    expect(await groupLag(admin, groupId, topics)).toBe(100);

    // Resume: a new session picks up exactly the rest.
    await setStatus(redis, id, 'running');
    await waitUntil(() => caughtUp(admin, groupId, topics), 90_000, 'caught up after resume');
    await check();
  });

  it('coalesces consecutive Kafka batches of a partition into one entry per mailbox', async () => {
    const id = `co-${uid()}`;
    const topic = `${id}.src`;
    await createTopic(topic, 1, { dir: TEST_STACK_DIR });
    await storePipeline(redis, definition(id, [topic], 2));
    // Waves that arrive while the consumer lingers (a long linger keeps the test robust on a
    // loaded machine) are separate Kafka batches but must share entries.
    await startConsumer({ CONSUMER_LINGER_MS: '3000', CONSUMER_LINGER_MAX_EVENTS: '100000' });
    const waves = 8;
    for (let wave = 0; wave < waves; wave += 1) {
      await produceMessages(topic, events(topic, 10, 1, wave * 10), { dir: TEST_STACK_DIR });
      await sleep(100);
    }
    await waitUntil(() => caughtUp(admin, `sluice.${id}`, [topic]), 60_000, 'caught up');
    const entries = [...(await readMailbox(redis, id, 0)), ...(await readMailbox(redis, id, 1))];
    const withEvents = entries.filter((e) => e.events.length > 0);
    // Exactly once and in order per mailbox, whatever the grouping.
    const offsets = withEvents.flatMap((e) => e.events.map((ev) => ev.offset));
    expect([...offsets].sort((a, b) => a - b)).toEqual(
      Array.from({ length: waves * 10 }, (_, i) => i),
    );
    for (const entry of withEvents) {
      const own = entry.events.map((ev) => ev.offset);
      expect(own).toEqual([...own].sort((a, b) => a - b));
      expect(entry.from).toBe(0);
      expect(entry.to).toBeGreaterThanOrEqual(own[own.length - 1] ?? 0);
    }
    // Fewer entries than Kafka batches times mailboxes: batches were coalesced.
    expect(withEvents.length).toBeLessThan(waves);
  });

  it('dedup pipelines: every mailbox hears each source partition caught up or not, fetched or not (no maxTime)', async () => {
    const id = `dm-${uid()}`;
    const topic = `${id}.src`;
    await createTopic(topic, 2, { dir: TEST_STACK_DIR });
    // Only partition 0 has data: partition 1 is never fetched with events.
    await produceMessages(topic, events(topic, 20, 1), { dir: TEST_STACK_DIR });
    await storePipeline(redis, definition(id, [topic], 2));
    await startConsumer();
    await waitUntil(() => caughtUp(admin, `sluice.${id}`, [topic]), 60_000, 'caught up');
    // The marks heartbeat tells both mailboxes about both partitions from Kafka's log ends.
    const heard = async (mailbox: number, partition: number) =>
      (await readMailbox(redis, id, mailbox)).some(
        (e) => e.partition === partition && e.caughtUp === true && e.partitions === 2,
      );
    await waitUntil(
      async () =>
        (await heard(0, 0)) && (await heard(0, 1)) && (await heard(1, 0)) && (await heard(1, 1)),
      30_000,
      'caught-up marks of both partitions in both mailboxes',
    );
    const entries = [...(await readMailbox(redis, id, 0)), ...(await readMailbox(redis, id, 1))];
    // No event time is read on the consumer's hot path for dedup.
    expect(entries.every((e) => e.maxTime === undefined)).toBe(true);
    expect(entries.filter((e) => e.events.length > 0).every((e) => e.caughtUp !== undefined)).toBe(
      true,
    );
  });

  it('pauses a source partition while its mailboxes are over the bound', async () => {
    const id = `bp-${uid()}`;
    const topic = `${id}.src`;
    const maxEntries = 10;
    const kafkaPartitions = 2;
    await createTopic(topic, kafkaPartitions, { dir: TEST_STACK_DIR });
    await storePipeline(redis, definition(id, [topic], 2));
    // No linger: each wave must be its own entry for the bound to be crossed wave by wave.
    await startConsumer({ MAILBOX_MAX_ENTRIES: String(maxEntries), CONSUMER_LINGER_MS: '0' });
    const groupId = `sluice.${id}`;

    // Many small waves while it runs: each becomes its own Kafka batch and mailbox entry.
    let longest = 0;
    for (let wave = 0; wave < 40; wave += 1) {
      await produceMessages(topic, events(topic, 10, kafkaPartitions, wave * 10), {
        dir: TEST_STACK_DIR,
      });
      await sleep(100);
      longest = Math.max(longest, ...(await batchEntries(redis, id, 2)));
    }
    await sleep(2_000);
    longest = Math.max(longest, ...(await batchEntries(redis, id, 2)));
    // At most one batch per source partition lands after the bound is crossed.
    expect(longest).toBeGreaterThanOrEqual(maxEntries);
    expect(longest).toBeLessThanOrEqual(maxEntries + kafkaPartitions);
    expect(await groupLag(admin, groupId, [topic])).toBeGreaterThan(0);

    // Drain as an owner would: the partitions resume and the rest arrives, still bounded.
    await waitUntil(
      async () => {
        const lengths = await batchEntries(redis, id, 2);
        longest = Math.max(longest, ...lengths);
        await redis.del(keys.mailbox(id, 0), keys.mailbox(id, 1));
        return caughtUp(admin, groupId, [topic]);
      },
      60_000,
      'caught up after draining',
    );
    expect(longest).toBeLessThanOrEqual(maxEntries + kafkaPartitions);
  });
});
