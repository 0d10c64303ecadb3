import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { keys, parseReset } from '@sluice/redis';
import { connectProducer, concatStreams, generateEvents, produceAll } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  expectExactlyOnce,
  pipelineView,
  postPipeline,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

// A reset (PUT /pipelines/:id?reset=true, README "Editing a pipeline") with the process SIGKILLed
// at a random moment of it, then the same PUT sent again to the restarted process (what the
// README tells the operator): every event is written once, none lost, and the counters and the
// DLQ account for every message. Events are in flight while the reset starts: the old definition
// must write what was read, the new one what was not.

const KAFKA_PARTITIONS = 4;
const LEASE_TTL_MS = 2_000;
/**
 * Where the kill falls, picked at random (RESET_CHAOS_POINT=drain|drop|end replays one): in the
 * drain (the old actors applying what was read; most of a reset's seconds), just after the
 * offsets were committed (the state being dropped), or once the reset is stored but before the
 * client has its answer.
 */
const KILL_POINTS = ['drain', 'drop', 'end'] as const;
type KillPoint = (typeof KILL_POINTS)[number];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const t0 = Date.now();
const log = (line: string) =>
  process.stdout.write(`[reset-chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);

describe('a reset killed at a random moment and sent again', () => {
  // The killed process's group member holds its partitions for a session (the mock ignores
  // LeaveGroup); a short one keeps the retried reset's 409s short (SHORT_GROUP_SESSION).
  const env = { ...testStackEnv(), ...SHORT_GROUP_SESSION, LEASE_TTL_MS: String(LEASE_TTL_MS) };
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  const id = uniquePipelineId('reset-chaos');
  const topic = uniqueName('reset_chaos');
  const table = uniqueName('reset_chaos');

  beforeAll(() => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
  });
  afterAll(async () => {
    if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await ch.close();
    redis.disconnect();
  });

  async function put(body: unknown, etag: string) {
    const response = await fetch(
      `http://127.0.0.1:${app!.port}/api/v1/pipelines/${id}?reset=true`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'if-match': etag },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      },
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** Kills the process at `point` of the reset running now. */
  async function killAt(point: KillPoint): Promise<string> {
    const phase = async () => parseReset(await redis.hget(keys.resets(), id))?.phase ?? 'none';
    if (point === 'drain') {
      const ms = 200 + Math.floor(Math.random() * 3_000);
      await sleep(ms);
      await app!.kill();
      return `${ms} ms into the reset`;
    }
    // Polled tightly: the drop takes milliseconds.
    const deadline = Date.now() + 60_000;
    let seen = await phase();
    while (Date.now() < deadline) {
      if (point === 'drop' && seen === 'drop') break;
      if (point === 'end' && (await redis.hget(keys.pipelineVersions(), id)) === '2') break;
      await sleep(2);
      seen = await phase();
    }
    await app!.kill();
    return `at phase ${seen}`;
  }

  it('every event once, counters and DLQ exact', async () => {
    const seed = Math.floor(Math.random() * 1e9);
    const forced = process.env.RESET_CHAOS_POINT as KillPoint | undefined;
    const point = forced ?? KILL_POINTS[seed % KILL_POINTS.length]!;
    log(`seed ${seed}, kill point ${point}`);
    // Before the reset (settled), in flight while it starts (no copies: a copy read after the
    // reset of an event written before it is written again, as documented), after it.
    const before = generateEvents(3_000, {
      duplicateRatio: 0.1,
      malformedRatio: 0.01,
      seed,
      idPrefix: 'a',
    });
    const during = generateEvents(3_000, {
      duplicateRatio: 0,
      malformedRatio: 0.01,
      seed: seed + 1,
      idPrefix: 'b',
    });
    const after = generateEvents(3_000, {
      duplicateRatio: 0.1,
      malformedRatio: 0.01,
      seed: seed + 2,
      idPrefix: 'c',
    });
    const all = concatStreams([before, during, after]);

    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    app = await SluiceProcess.start({ env });
    await postPipeline(app, dedupPipeline(id, topic, table, 2));
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    try {
      await produceAll(producer, topic, KAFKA_PARTITIONS, before.messages);
      await waitForSettled(app, id, before.messages.length, 60_000, log);
      log('first events settled; reset');

      // The reset starts with events still arriving; the process dies somewhere in it.
      const wider = dedupPipeline(id, topic, table, 4);
      // A stream in motion: the consumers are reading when the reset stops them.
      const producing = (async () => {
        for (let k = 0; k < during.messages.length; k += 100) {
          await produceAll(producer, topic, KAFKA_PARTITIONS, during.messages.slice(k, k + 100));
          await sleep(50);
        }
      })();
      await sleep(700);
      const first = put(wider, '"1"').catch((err: unknown) => ({ status: 0, body: { err } }));
      const when = await killAt(point);
      await producing;
      const answer = await first;
      const record = parseReset(await redis.hget(keys.resets(), id));
      const version = await redis.hget(keys.pipelineVersions(), id);
      log(
        `SIGKILL ${when}: answer ${answer.status}, ` +
          `record ${record ? record.phase : 'none'}, stored version ${version ?? '1'}`,
      );

      // README: the same PUT (same body, same If-Match) sent again finishes it; 412 when it
      // was already finished (the version moved on).
      app = await SluiceProcess.start({ env });
      const started = Date.now();
      for (;;) {
        const retried = await put(wider, '"1"');
        if (retried.status === 200 || retried.status === 412) {
          log(`retried reset: ${retried.status} after ${Date.now() - started} ms`);
          break;
        }
        expect({ status: retried.status, body: retried.body }).toMatchObject({ status: 409 });
        if (Date.now() - started > 60_000)
          throw new Error(`reset not finished: ${JSON.stringify(retried.body)}`);
        await sleep(1_000);
      }
      expect(await redis.hexists(keys.resets(), id)).toBe(0);
      expect(await pipelineView(app, id)).toMatchObject({
        version: 2,
        status: 'running',
        definition: { partitions: 4 },
      });

      // Applied by the old definition (the new consumers wait out the old group members).
      log(`reset done; consumed so far ${(await pipelineView(app, id)).counters.consumed}`);
      await produceAll(producer, topic, KAFKA_PARTITIONS, after.messages);
      await waitForSettled(app, id, all.messages.length, 60_000, log);
      // Late batches that would double something have time to land.
      await sleep(1_000);
      await expectExactlyOnce(app, ch, id, table, all);
    } finally {
      await close();
    }
  }, 150_000);
});
