import type { ClickHouseClient } from '@clickhouse/client';
import {
  concatStreams,
  connectProducer,
  generateEvents,
  type GeneratedStream,
} from './support/events';
import {
  clickhouse,
  countersOf,
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
import {
  SHORT_GROUP_SESSION,
  SHORT_SESSION_TIMEOUT_MS,
  testStackEnv,
} from './support/stack-env';

const KAFKA_PARTITIONS = 8;
const PIPELINE_PARTITIONS = 4;
const CHUNK = 100;
const CHUNK_EVERY_MS = 150;
// The consumers' session timeout is 4 s here (SHORT_GROUP_SESSION; the mock ignores LeaveGroup):
// a member stopped this long is expired and its partitions go to the other one. The frozen one
// stays stopped 4 s past that.
const FROZEN_MS = SHORT_SESSION_TIMEOUT_MS + 4_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const began = Date.now();
const log = (line: string) =>
  process.stdout.write(`[rebalance +${((Date.now() - began) / 1000).toFixed(1)} s] ${line}\n`);

/** How many times this process's consumer of the pipeline joined its group (one per generation). */
function joins(proc: SluiceProcess, id: string): number {
  return proc.text().split(`joined group sluice.${id}`).length - 1;
}

/**
 * Two consumer processes and one owner/writer process: the group rebalances when the second
 * consumer arrives, when the first is frozen (SIGSTOP) past its session with fetched data in
 * hand and then thawed to append it late, and when one is SIGKILLed and restarted. The
 * out-of-order rule (docs/architecture.md) must keep the table exact through all of it.
 */
describe('consumer rebalancing across processes', () => {
  const env = testStackEnv();
  let owner: SluiceProcess | undefined;
  const consumers: SluiceProcess[] = [];
  const frozen = new Set<SluiceProcess>();
  let ch: ClickHouseClient;
  let pipelineId: string | undefined;

  const startConsumer = async () => {
    const proc = await SluiceProcess.start({
      env: { ...env, ...SHORT_GROUP_SESSION, ROLES: 'consumer' },
    });
    consumers.push(proc);
    return proc;
  };
  const freeze = (proc: SluiceProcess) => {
    process.kill(proc.pid, 'SIGSTOP');
    frozen.add(proc);
  };
  const thaw = (proc: SluiceProcess) => {
    if (frozen.delete(proc) && proc.running) process.kill(proc.pid, 'SIGCONT');
  };

  beforeAll(() => {
    ch = clickhouse();
  });
  afterAll(async () => {
    for (const proc of [...frozen]) thaw(proc);
    if (owner?.running && pipelineId) await deletePipeline(owner, pipelineId);
    await Promise.all(consumers.map((proc) => proc.stop()));
    await owner?.stop();
    await ch.close();
  });

  it('keeps the table exact through joins, a frozen stale consumer and a SIGKILL', async () => {
    const topic = uniqueName('rebal');
    const table = uniqueName('rebal_events');
    const id = uniquePipelineId('rebal');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);

    owner = await SluiceProcess.start({ env: { ...env, ROLES: 'owner,writer' } });
    const api = owner;
    await postPipeline(api, dedupPipeline(id, topic, table, PIPELINE_PARTITIONS));
    const c1 = await startConsumer();

    // A steady stream until the last phase is over, so every membership change hits data in
    // flight: fetched, appended but not yet committed.
    const streams: GeneratedStream[] = [];
    let producing = true;
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const production = (async () => {
      for (let n = 0; producing; n += 1) {
        const chunk = generateEvents(CHUNK, {
          duplicateRatio: 0.1,
          malformedRatio: 0.005,
          seed: 1000 + n,
          idPrefix: `r${n}`,
        });
        await producer.send({
          topic,
          messages: chunk.messages.map((value, i) => ({
            value,
            partition: (n * CHUNK + i) % KAFKA_PARTITIONS,
          })),
        });
        streams.push(chunk);
        await sleep(CHUNK_EVERY_MS);
      }
    })();

    try {
      await api.waitFor(
        async () => (await countersOf(api, id)).consumed > 0,
        60_000,
        'the first consumer to deliver',
      );

      log('c1 delivers');

      // 1. A second member: the group splits the partitions between the two (c2 gets its share
      //    only once c1 has rejoined too).
      const c2 = await startConsumer();
      await c2.waitFor(() => Promise.resolve(joins(c2, id) >= 1), 60_000, 'c2 joined');
      log(`c2 joined (c1 joins ${joins(c1, id)})`);
      await sleep(2_000);

      // 2. c1 frozen past its session: c2 takes every partition from the committed offsets while
      //    c1 still holds what it fetched and appended but did not commit.
      const c2Joins = joins(c2, id);
      freeze(c1);
      log('c1 frozen (SIGSTOP)');
      await c2.waitFor(
        () => Promise.resolve(joins(c2, id) > c2Joins),
        60_000,
        'c2 to take over from the frozen c1',
      );
      await sleep(Math.max(0, FROZEN_MS - SHORT_SESSION_TIMEOUT_MS));
      const c1Joins = joins(c1, id);
      thaw(c1);
      log('c1 thawed (SIGCONT): it appends its stale batches, then rejoins');
      await c1.waitFor(
        () => Promise.resolve(joins(c1, id) > c1Joins),
        60_000,
        'c1 to rejoin after the thaw',
      );
      await sleep(2_000);

      // 3. c2 SIGKILLed mid-stream (its partitions wait for its session to expire), restarted.
      await c2.kill();
      log('c2 SIGKILLed');
      await sleep(3_000);
      const c3 = await startConsumer();
      await c3.waitFor(() => Promise.resolve(joins(c3, id) >= 1), 60_000, 'c2 restarted');
      log('c2 restarted and joined');
      await sleep(3_000);
    } finally {
      producing = false;
      await production;
      await close();
    }

    const expected = concatStreams(streams);
    log(`produced ${expected.messages.length} messages`);
    await waitForSettled(api, id, expected.messages.length, 120_000, log);
    await expectExactlyOnce(api, ch, id, table, expected);

    const { otherCounters } = await pipelineView(api, id);
    log(`other counters: ${JSON.stringify(otherCounters)}`);
    log(`joins: ${consumers.map((c) => joins(c, id)).join(', ')}`);
    // Membership changes made new sessions re-read offsets already appended: the actors saw
    // them again and skipped them (the table above proves they skipped nothing else).
    expect(otherCounters.staleSkipped ?? 0).toBeGreaterThan(0);
  });
});
