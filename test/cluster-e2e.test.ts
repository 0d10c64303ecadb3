import type { ClickHouseClient } from '@clickhouse/client';
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { actorsOf, clusterState, settledCounts, type ClusterState } from './support/cluster';
import { connectProducer, generateEvents, produceAll } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  deadLettersOf,
  dedupPipeline,
  deletePipeline,
  expectSettledOnce,
  postPipeline,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVENTS = 200_000;
const KAFKA_PARTITIONS = 16;
const PARTITIONS = 16;
const LEASE_TTL_MS = 6_000;
const WAVES = 40;
/** This suite's own Redis database: its membership and assignment see only its processes. */
const REDIS_DB = 12;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[cluster] ${line}\n`);

/**
 * Five real Sluice processes with different roles on one 200k-event dedup pipeline: one joins, one
 * leaves with SIGTERM, one dies with SIGKILL, one is paused past its leases, while events flow.
 * The cases run in order on the same cluster and the last one checks the table is exact.
 */
describe('horizontally scaled cluster', () => {
  const env = testStackEnv();
  const run = uniqueName('c').replace(/_/g, '-');
  const base = {
    REDIS_URL: `${env.REDIS_URL}/${REDIS_DB}`,
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    CLICKHOUSE_URL: env.CLICKHOUSE_URL,
    LEASE_TTL_MS: String(LEASE_TTL_MS),
    // Shorter than the lease: a dead owner's actors are re-placed before its leases expire, so the
    // takeover happens right at expiry.
    MEMBER_TIMEOUT_MS: '4000',
    HEARTBEAT_INTERVAL_MS: '1000',
  };
  const id = (name: string) => `${run}-${name}`;
  const procs = new Map<string, SluiceProcess>();
  const stream = generateEvents(EVENTS, { duplicateRatio: 0.1, malformedRatio: 0.005, seed: 5 });
  const pipeline = uniquePipelineId('cl');
  const topic = uniqueName('cluster');
  const table = uniqueName('cluster_events');
  let ch: ClickHouseClient;
  let producing: Promise<void> = Promise.resolve();
  let stopProducing = false;

  const start = async (name: string, roles: string, logLevel = 'info') => {
    const proc = await SluiceProcess.start({
      env: { ...base, ROLES: roles, INSTANCE_ID: id(name), LOG_LEVEL: logLevel },
    });
    procs.set(name, proc);
    return proc;
  };
  /** The writer-only process is never disturbed: every observation goes through it. */
  const observer = () => procs.get('C')!;

  async function waitSettled(owners: string[], what: string, timeoutMs = 60_000) {
    let counts: Map<string, number> | undefined;
    let state: ClusterState | undefined;
    await observer().waitFor(
      async () => {
        state = await clusterState(observer());
        counts = settledCounts(state, pipeline, owners.map(id));
        return counts !== undefined;
      },
      timeoutMs,
      what,
    );
    return { counts: counts!, state: state! };
  }

  /** Polls until every given actor is Active on a live process other than `from`. */
  async function waitMoved(names: number[], from: string, timeoutMs: number): Promise<number> {
    const started = Date.now();
    await observer().waitFor(
      async () => {
        const state = await clusterState(observer());
        const actors = actorsOf(state, pipeline);
        return names.every((p) => {
          const a = actors[p];
          return a?.state === 'Active' && a.leaseHolder !== null && a.leaseHolder !== id(from);
        });
      },
      timeoutMs,
      `actors of ${from} active elsewhere`,
    );
    return Date.now() - started;
  }

  const heldBy = (state: ClusterState, name: string) =>
    actorsOf(state, pipeline).filter((a) => a.leaseHolder === id(name));

  const spread = (counts: Map<string, number>) =>
    Math.max(...counts.values()) - Math.min(...counts.values());

  beforeAll(async () => {
    const redis = new Redis(base.REDIS_URL);
    await redis.flushdb();
    await redis.quit();
    ch = clickhouse();
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    await Promise.all([
      start('A', 'consumer,owner'),
      start('B', 'owner'),
      start('C', 'writer'),
      start('D', 'consumer,owner,writer'),
    ]);
    await postPipeline(observer(), dedupPipeline(pipeline, topic, table, PARTITIONS));
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const wave = Math.ceil(EVENTS / WAVES);
    // Paced, so every membership change below happens with events in flight.
    producing = (async () => {
      try {
        for (let w = 0; w < WAVES; w += 1) {
          if (stopProducing) return;
          await produceAll(
            producer,
            topic,
            KAFKA_PARTITIONS,
            stream.messages.slice(w * wave, (w + 1) * wave),
          );
          await sleep(700);
        }
        log(`all ${EVENTS} events produced`);
      } finally {
        await close();
      }
    })();
  }, 180_000);

  afterAll(async () => {
    stopProducing = true;
    if (process.env.SLUICE_TEST_LOGS) {
      for (const [name, proc] of procs)
        writeFileSync(`${process.env.SLUICE_TEST_LOGS}-${name}.log`, proc.text());
    }
    await producing.catch(() => undefined);
    for (const proc of procs.values()) if (proc.running) process.kill(proc.pid, 'SIGCONT');
    const alive = [...procs.values()].find((p) => p.running);
    if (alive) await deletePipeline(alive, pipeline);
    await Promise.all([...procs.values()].map((p) => p.stop()));
    await ch?.close();
  }, 60_000);

  it('balances the actors within ±1 per owner, and a join moves only the newcomer share', async () => {
    const three = await waitSettled(['A', 'B', 'D'], 'three owners settled');
    log(`3 owners: ${JSON.stringify(Object.fromEntries(three.counts))}`);
    expect(spread(three.counts)).toBeLessThanOrEqual(1);

    // Debug logs name every committed batch (`<pipeline>.<partition>.<epoch>.<seq>`).
    await start('E', 'owner', 'debug');
    const four = await waitSettled(['A', 'B', 'D', 'E'], 'four owners settled');
    log(`4 owners: ${JSON.stringify(Object.fromEntries(four.counts))}`);
    expect(spread(four.counts)).toBeLessThanOrEqual(1);
    const before = actorsOf(three.state, pipeline);
    const moved = actorsOf(four.state, pipeline).filter(
      (a) => a.leaseHolder !== before[a.partition]?.leaseHolder,
    );
    expect(moved.length).toBe(four.counts.get(id('E')));
    // Every member heartbeats and reports its actors; the coordinator is one of them.
    expect(
      four.state.members
        .filter((m) => m.alive)
        .map((m) => m.id)
        .sort(),
    ).toEqual(['A', 'B', 'C', 'D', 'E'].map(id));
    expect(four.state.coordinator?.id).toMatch(new RegExp(`^${run}-`));
  });

  it('a SIGTERM hands its actors over at once, without waiting for lease expiry', async () => {
    const b = procs.get('B')!;
    const held = heldBy(await clusterState(observer()), 'B').map((a) => a.partition);
    expect(held.length).toBeGreaterThan(0);
    const exiting = b.stop();
    const ms = await waitMoved(held, 'B', 30_000);
    log(
      `SIGTERM: ${held.length} actors active elsewhere after ${ms} ms (lease TTL ${LEASE_TTL_MS} ms)`,
    );
    const exit = await exiting;
    // Nest re-raises the signal after a clean close.
    expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
    expect(ms).toBeLessThan(LEASE_TTL_MS);
    expect(b.text()).toMatch(/left the cluster/);
    await waitSettled(['A', 'D', 'E'], 'three owners settled after SIGTERM');
  });

  it('after a SIGKILL the dead process actors are active elsewhere within lease TTL + 2 s', async () => {
    const held = heldBy(await clusterState(observer()), 'A').map((a) => a.partition);
    expect(held.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    await procs.get('A')!.kill();
    const ms = await waitMoved(held, 'A', 60_000);
    const state = await clusterState(observer());
    const noticed = Date.now() - killedAt;
    log(
      `SIGKILL: ${held.length} actors active elsewhere after ${ms} ms (lease TTL ${LEASE_TTL_MS} ms)`,
    );
    expect(ms).toBeLessThanOrEqual(LEASE_TTL_MS + 2_000);
    // Membership noticed the death too (within MEMBER_TIMEOUT_MS, here equal to the TTL).
    expect(state.members.find((m) => m.id === id('A'))?.alive ?? false).toBe(false);
    expect(noticed).toBeLessThanOrEqual(LEASE_TTL_MS + 3_000);
    const { counts } = await waitSettled(['D', 'E'], 'two owners settled after SIGKILL');
    expect(spread(counts)).toBeLessThanOrEqual(1);
  });

  it('a paused owner (SIGSTOP past its leases, SIGCONT) cannot write after it resumes', async () => {
    const e = procs.get('E')!;
    // E must have been writing before the pause, or "nothing written after it" proves nothing.
    await e.waitFor(
      () => Promise.resolve(/batch \S+ committed/.test(e.text())),
      30_000,
      'E committed a batch before the pause',
    );
    const held = heldBy(await clusterState(observer()), 'E');
    expect(held.length).toBeGreaterThan(0);
    process.kill(e.pid, 'SIGSTOP');
    const pausedAt = Date.now();
    await waitMoved(
      held.map((a) => a.partition),
      'E',
      60_000,
    );
    await sleep(Math.max(0, 2 * LEASE_TTL_MS - (Date.now() - pausedAt)));
    const resumedAt = e.text().length;
    process.kill(e.pid, 'SIGCONT');
    log(`SIGSTOP: paused for ${Date.now() - pausedAt} ms holding ${held.length} actors`);
    const after = await waitSettled(['D', 'E'], 'E rejoined and settled', 60_000);
    expect(spread(after.counts)).toBeLessThanOrEqual(1);

    // Every actor E held before the pause ended without a write: its checkpoint was fenced, its
    // renewal found the lease taken first, or its renewal failed past the TTL (a connection that
    // errors right after SIGCONT on a loaded machine). The actor runs on under a newer epoch.
    await e.waitFor(
      () =>
        Promise.resolve(
          held.every((a) =>
            new RegExp(
              `actor ${pipeline}/${a.partition} epoch ${a.epoch}: \\w+ -> Revoking \\((fenced|lease lost|lease expired)`,
            ).test(e.text()),
          ),
        ),
      30_000,
      'every paused actor revoked',
    );
    const fenced = held.filter((a) =>
      new RegExp(
        `actor ${pipeline}/${a.partition} epoch ${a.epoch}: \\w+ -> Revoking \\(fenced`,
      ).test(e.text()),
    ).length;
    log(
      `after SIGCONT: ${fenced} checkpoints fenced, ${held.length - fenced} lease renewals refused`,
    );
    // A commit logged after SIGCONT may only be one whose checkpoint was already under way before
    // the pause (the reply read late); none may have started after it.
    const stale = new Set(held.map((a) => `${pipeline}.${a.partition}.${a.epoch}.`));
    const lateCommits = e
      .text()
      .slice(resumedAt)
      .split('\n')
      .filter((line) => line.includes('committed'))
      .map((line) => JSON.parse(line) as { batchId?: string; time: number; ms: number })
      .filter((c) => c.batchId !== undefined && stale.has(c.batchId.replace(/[0-9a-f]{8}\.\d+$/, '')));
    for (const c of lateCommits) expect(c.time - c.ms).toBeLessThan(pausedAt);
    log(
      `after SIGCONT: ${lateCommits.length} commits begun before the pause were acknowledged late`,
    );
    expect(e.text()).toMatch(/batch \S+ committed/);
    const now = actorsOf(after.state, pipeline);
    for (const a of held) expect(now[a.partition]!.epoch!).toBeGreaterThan(a.epoch!);
  });

  it('the table is exact: every unique event once, dead letters exactly the malformed', async () => {
    await producing;
    const d = procs.get('D')!;
    await expectSettledOnce(d, ch, pipeline, table, stream, 150_000, log);
    const entries = await deadLettersOf(d, pipeline);
    expect(entries).toHaveLength(stream.malformed);
    expect(entries.every((e) => e.stage === 'parse')).toBe(true);
    // Lag through the cluster view, from Kafka: nothing left uncommitted.
    const withLag = await clusterState(observer(), true);
    expect(withLag.pipelines.find((p) => p.id === pipeline)?.lag).toBe(0);
  });
});
