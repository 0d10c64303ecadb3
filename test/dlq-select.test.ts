import type { ClickHouseClient } from '@clickhouse/client';
import { deadLetterEntry, keys } from '@sluice/redis';
import { Redis } from 'ioredis';
import { connectProducer, produceAll } from './support/events';
import {
  clickhouse,
  createSourceTopic,
  deadLettersOf,
  deletePipeline,
  pipelineView,
  postPipeline,
  uniqueName,
  uniquePipelineId,
  type DeadLetterView,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// Which dead letters POST /pipelines/:id/dlq/discard and /dlq/replay take (src/admin/
// dlq-selection.ts): the filters select exactly the dead letters of that stage and time, the same
// for both routes, and only those present when the request started.

const PARTITIONS = 2;
/** Per wave: events written, dead-lettered at transform (v > 255) and at parse (not JSON). */
const GOOD = 4;
const TRANSFORM = 5;
const PARSE = 5;
/** Dead letters written directly for the end-bound test, per pipeline partition. */
const LARGE = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DLQ selection', () => {
  const env = { ...testStackEnv(), LOG_LEVEL: 'warn' };
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  const discarding = uniquePipelineId('dseld');
  const replaying = uniquePipelineId('dselr');

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    app = await SluiceProcess.start({ env });
  });
  afterAll(async () => {
    if (app.running) {
      await deletePipeline(app, discarding);
      await deletePipeline(app, replaying);
    }
    await app.stop();
    await redis.quit();
    await ch.close();
  });

  async function post(pipeline: string, action: 'discard' | 'replay', body: unknown) {
    const url = `http://127.0.0.1:${app.port}/api/v1/pipelines/${pipeline}/dlq/${action}`;
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await response.json()) as { discarded?: number; replayed?: number };
    if (response.status !== 200) throw new Error(`${action}: ${JSON.stringify(answer)}`);
    return answer.discarded ?? answer.replayed;
  }

  /** `w1-t` style label of a dead letter: its wave and stage, read from its message. */
  const label = (d: DeadLetterView) => /"(w\d-[pt])-\d+"/.exec(d.message)?.[1] ?? d.message;
  const key = (d: DeadLetterView) => `${d.pipelinePartition}/${d.id}`;

  function wave(w: number): string[] {
    const messages: string[] = [];
    for (let i = 0; i < GOOD; i++)
      messages.push(JSON.stringify({ event_id: `w${w}-g-${i}`, v: i }));
    for (let i = 0; i < TRANSFORM; i++) {
      messages.push(JSON.stringify({ event_id: `w${w}-t-${i}`, v: 300 + i }));
    }
    for (let i = 0; i < PARSE; i++) messages.push(`{"event_id": "w${w}-p-${i}", `);
    return messages;
  }

  async function deadLettered(expected: number): Promise<void> {
    for (const pipeline of [discarding, replaying]) {
      await app.waitFor(
        async () => (await deadLettersOf(app, pipeline)).length === expected,
        60_000,
        `${expected} dead letters in ${pipeline}`,
      );
    }
  }

  it('discard and replay by stage and time take exactly the matching dead letters, the same ones', async () => {
    const topic = uniqueName('dsel');
    const table = uniqueName('dsel');
    await createSourceTopic(topic, PARTITIONS);
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, v UInt8) ENGINE = MergeTree
              ORDER BY event_id SETTINGS non_replicated_deduplication_window = 10000`,
    });
    // Two pipelines over the same events: one to discard from, one to replay from.
    for (const id of [discarding, replaying]) {
      await postPipeline(app, {
        id,
        source: {
          kafka: { brokers: env.KAFKA_BROKERS.split(',') },
          topics: [{ name: topic, startFrom: 'earliest' }],
        },
        partitions: PARTITIONS,
        sink: { clickhouse: { url: env.CLICKHOUSE_URL, table, batch: { maxDelay: '100ms' } } },
      });
    }
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const perWave = TRANSFORM + PARSE;
    let split: string;
    let after: string;
    try {
      await produceAll(producer, topic, PARTITIONS, wave(1));
      await deadLettered(perWave);
      // Dead-letter times (the stream id's ms, this host's clock) of wave 1 are before `split`,
      // those of wave 2 after it, and all before `after`.
      await sleep(20);
      split = new Date().toISOString();
      await sleep(20);
      await produceAll(producer, topic, PARTITIONS, wave(2));
      await deadLettered(2 * perWave);
      await sleep(20);
      after = new Date().toISOString();
      await sleep(20);
    } finally {
      await close();
    }

    const labels = (letters: DeadLetterView[]) => letters.map(label).sort();
    const expectLabels = (counts: Record<string, number>) =>
      Object.entries(counts)
        .flatMap(([l, n]) => Array<string>(n).fill(l))
        .sort();
    const original = new Map<string, Set<string>>();
    for (const id of [discarding, replaying]) {
      const letters = await deadLettersOf(app, id);
      expect(labels(letters)).toEqual(
        expectLabels({ 'w1-t': TRANSFORM, 'w1-p': PARSE, 'w2-t': TRANSFORM, 'w2-p': PARSE }),
      );
      original.set(id, new Set(letters.map(key)));
    }
    // Replay's original entries still in its DLQ (a replayed one that fails again comes back
    // with a new id, and a later `since`: the filters below end at `after` to leave those out).
    const replayLeft = async () =>
      labels(
        (await deadLettersOf(app, replaying)).filter((d) => original.get(replaying)!.has(key(d))),
      );

    const steps: [unknown, Record<string, number>][] = [
      [
        { stage: 'transform', since: split, until: after },
        { 'w1-t': TRANSFORM, 'w1-p': PARSE, 'w2-p': PARSE },
      ],
      [{ until: split }, { 'w2-p': PARSE }],
      [{ stage: 'transform', until: after }, { 'w2-p': PARSE }],
      [{ stage: 'parse', since: split, until: after }, {}],
    ];
    const sizes = [TRANSFORM, TRANSFORM + PARSE, 0, PARSE];
    for (const [i, [filter, left]] of steps.entries()) {
      expect({ filter, discarded: await post(discarding, 'discard', filter) }).toEqual({
        filter,
        discarded: sizes[i],
      });
      expect(labels(await deadLettersOf(app, discarding))).toEqual(expectLabels(left));
      expect({ filter, replayed: await post(replaying, 'replay', filter) }).toEqual({
        filter,
        replayed: sizes[i],
      });
      expect(await replayLeft()).toEqual(expectLabels(left));
    }
    const total = 2 * perWave;
    expect((await pipelineView(app, discarding)).otherCounters.discarded).toBe(total);
    expect((await pipelineView(app, replaying)).otherCounters.replayed).toBe(total);
  }, 120_000);

  it('leaves a dead letter that arrives while a filtered discard runs', async () => {
    // The discarding pipeline's DLQ is empty now; fill both partitions, with stage parse.
    const letter = (message: string) =>
      deadLetterEntry({
        stage: 'parse',
        error: 'x',
        topic: 't',
        partition: 0,
        offset: 0,
        message,
        at: 1,
      });
    for (let p = 0; p < PARTITIONS; p++) {
      const tx = redis.pipeline();
      for (let i = 0; i < LARGE; i++)
        tx.xadd(keys.deadLetters(discarding, p), '*', ...letter(`old-${i}`));
      await tx.exec();
    }
    const counted = async () => Number(await redis.hget(keys.counters(discarding, 0), 'discarded'));
    const before = await counted();
    let done = false;
    const answer = post(discarding, 'discard', { stage: 'parse' }).finally(() => {
      done = true;
    });
    // Once partition 0 has lost entries, the request has fixed its end: from here on, each
    // dead letter added (to the partition it does last, and to the one it is on) must stay.
    while (!done && (await counted()) === before) {
      // Polled tightly, so that the additions below overlap the request.
    }
    const late: [number, string][] = [];
    while (!done) {
      for (let p = 0; p < PARTITIONS; p++) {
        late.push([
          p,
          (await redis.xadd(keys.deadLetters(discarding, p), '*', ...letter('late')))!,
        ]);
      }
    }
    expect(await answer).toBe(PARTITIONS * LARGE);
    process.stdout.write(`[dlq-select] ${late.length} dead letters added during the discard\n`);
    expect(late.length).toBeGreaterThan(0);
    const left = await deadLettersOf(app, discarding);
    expect(left.map((d) => `${d.pipelinePartition}/${d.id}`).sort()).toEqual(
      late.map(([p, id]) => `${p}/${id}`).sort(),
    );
  }, 60_000);
});
