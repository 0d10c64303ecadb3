import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { stackKill, stackUp } from '@sluice/stack';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { scrape } from './support/metrics';
import { TEST_STACK_DIR } from './support/paths';
import {
  clickhouse,
  countersOf,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  pipelineView,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const PER_WAVE = 300;
const KAFKA_PARTITIONS = 2;
const PARTITIONS = 2;
const REDIS_DATA = join(TEST_STACK_DIR, 'redis');

interface Hold {
  partition: number | null;
  reason: string;
  detail: string;
  range?: { topic: string; partition: number; from: number; to: number };
}

const log = (line: string) => process.stdout.write(`[redis-rollback] ${line}\n`);

/** Redis SIGKILLed through the stack scripts (its AOF fsyncs every write), `change` run, restarted. */
async function withRedisDown(change: () => void): Promise<void> {
  await stackKill('redis', { dir: TEST_STACK_DIR });
  change();
  await stackUp({ dir: TEST_STACK_DIR, services: ['redis'] });
}

describe('Redis restored from an older copy of its AOF', () => {
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let pipelineId: string | undefined;
  const backup = mkdtempSync(join(tmpdir(), 'sluice-aof-'));

  beforeAll(() => {
    ch = clickhouse();
  });
  afterAll(async () => {
    await stackUp({ dir: TEST_STACK_DIR, services: ['redis'] });
    if (app?.running && pipelineId) await deletePipeline(app, pipelineId);
    await app?.stop();
    await ch.close();
    rmSync(backup, { recursive: true, force: true });
  });

  it('holds every actor at the gap, reports it, goes on only once accepted; the table matches the counters', async () => {
    const topic = uniqueName('rollback');
    const table = uniqueName('rollback_events');
    const id = uniquePipelineId('rollback');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const wave = (prefix: string, seed: number) =>
      generateEvents(PER_WAVE, { duplicateRatio: 0, malformedRatio: 0, idPrefix: prefix, seed });
    const [a, b, d] = [wave('a', 1), wave('b', 2), wave('d', 3)];
    const env = testStackEnv();
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);

    // 1. A written; then the copy of Redis's AOF, taken with nothing running against it.
    app = await SluiceProcess.start({ env: { ...env } });
    await postPipeline(app, dedupPipeline(id, topic, table, PARTITIONS));
    await produceAll(producer, topic, KAFKA_PARTITIONS, a.messages);
    await waitForSettled(app, id, PER_WAVE, 60_000, log);
    await app.stop();
    await withRedisDown(() =>
      cpSync(join(REDIS_DATA, 'appendonlydir'), backup, { recursive: true }),
    );

    // 2. B appended to the mailboxes and committed in Kafka by a consumer alone (not applied).
    // Each start reads the stack's addresses again: a restarted Redis may have had to move to
    // another port (its old one taken meanwhile; libs/stack reusePort says so in its log).
    app = await SluiceProcess.start({ env: { ...testStackEnv(), ROLES: 'consumer' } });
    await produceAll(producer, topic, KAFKA_PARTITIONS, b.messages);
    await app.waitFor(async () => (await pipelineView(app!, id)).lag === 0, 60_000, 'B committed');
    await app.stop();

    // 3. Redis goes back to the copy: B's mailbox entries are gone, Kafka's offsets are past them.
    await withRedisDown(() => {
      rmSync(join(REDIS_DATA, 'appendonlydir'), { recursive: true, force: true });
      cpSync(backup, join(REDIS_DATA, 'appendonlydir'), { recursive: true });
    });
    app = await SluiceProcess.start({ env: { ...testStackEnv() } });
    await produceAll(producer, topic, KAFKA_PARTITIONS, d.messages);
    await close();

    // 4. Every actor stops at the gap and says so; nothing of D is applied meanwhile.
    const gapHolds = async () =>
      ((await pipelineView(app!, id)) as unknown as { holds: Hold[] }).holds.filter(
        (h) => h.reason === 'gap',
      );
    await app.waitFor(async () => (await gapHolds()).length === PARTITIONS, 60_000, 'gap holds');
    const holds = await gapHolds();
    log(`holds: ${JSON.stringify(holds)}`);
    for (const h of holds) {
      // Each range runs from where A ended on that source partition to where B ended.
      expect(h.range).toEqual({
        topic,
        partition: expect.any(Number),
        from: PER_WAVE / KAFKA_PARTITIONS,
        to: PER_WAVE - 1,
      });
      expect(h.detail).toContain('accept-gap');
    }
    const ready = (await app.get('/health/ready')) as {
      status: number;
      body: { info: { holds: { holds: { pipeline: string; reason: string }[] } } };
    };
    if (ready.status !== 200) log(`not ready: ${JSON.stringify(ready.body)}`);
    expect(ready.status).toBe(200);
    expect(ready.body.info.holds.holds.filter((h) => h.pipeline === id)).toHaveLength(PARTITIONS);
    const metrics = await scrape(app);
    for (let p = 0; p < PARTITIONS; p += 1) {
      expect(
        metrics.get(`sluice_partition_held{pipeline="${id}",partition="${p}",reason="gap"}`),
      ).toBe(1);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await countersOf(app, id)).consumed).toBe(PER_WAVE);
    expect((await tableIds(ch, table)).size).toBe(PER_WAVE);

    // 5. Accepted, gap after gap (an actor meets one per source partition): then D flows.
    type Accepted = { partition: number; range: Hold['range']; recorded: boolean };
    const accepted: Accepted[] = [];
    await app.waitFor(
      async () => {
        for (const h of await gapHolds()) {
          const response = await fetch(
            `http://127.0.0.1:${app!.port}/api/v1/pipelines/${id}/partitions/${h.partition}/accept-gap`,
            { method: 'POST', headers: { 'content-type': 'application/json' } },
          );
          const body = (await response.json()) as Accepted;
          // A poll may see a hold its actor is about to clear: accepted again, not recorded.
          if (response.status === 200 && body.recorded) accepted.push(body);
        }
        const c = await countersOf(app!, id);
        return c.consumed === 2 * PER_WAVE && c.written === 2 * PER_WAVE;
      },
      60_000,
      'D written after the gaps were accepted',
    );
    log(`accepted: ${JSON.stringify(accepted)}`);
    // One per (actor, source partition), each the B range of that source partition.
    expect(accepted.length).toBe(PARTITIONS * KAFKA_PARTITIONS);
    const sourceGaps = (await pipelineView(app, id)) as unknown as {
      sourceGaps: { acceptedGaps: number; recent: { origin: string; skipped: number }[] };
    };
    expect(sourceGaps.sourceGaps.acceptedGaps).toBe(accepted.length);
    expect(sourceGaps.sourceGaps.recent.every((g) => g.origin === 'accepted-gap')).toBe(true);

    // 6. The counters say what the table holds: A and D once each, B (given up) absent.
    const counters = await waitForSettled(app, id, 2 * PER_WAVE, 30_000, log);
    expect(counters).toEqual({
      consumed: 2 * PER_WAVE,
      filtered: 0,
      duplicates: 0,
      written: 2 * PER_WAVE,
      deadLettered: 0,
    });
    const ids = await tableIds(ch, table);
    const expected = new Set([...a.uniqueIds, ...d.uniqueIds]);
    const missing = [...expected].filter((e) => !ids.has(e));
    const unexpected = [...ids.keys()].filter((e) => !expected.has(e));
    const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
    expect({ missing, unexpected, doubled }).toEqual({ missing: [], unexpected: [], doubled: [] });
    expect((await pipelineView(app, id)) as unknown as { holds: Hold[] }).toMatchObject({
      holds: [],
    });
  });
});
