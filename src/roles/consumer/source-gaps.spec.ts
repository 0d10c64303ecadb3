import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Admin, Consumer, EachBatchPayload } from 'kafkajs';
import { loadHasher, parsePipelineDefinition, type CompiledPipeline } from '@sluice/pipeline';
import { exampleOrdersPipeline } from '@sluice/pipeline/definition/examples';
import { BatchIntake } from './batch-intake';
import { GroupSession } from './group-session';
import { LagSeries } from './lag-series';
import { SourceGapMonitor } from './source-gaps';

function compiled(): CompiledPipeline {
  const parsed = parsePipelineDefinition(exampleOrdersPipeline());
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.definition;
}

/** Redis whose mailbox appends wait until `release` (the in-flight window); records are kept. */
function fakeRedis() {
  const records: string[][] = [];
  let release: () => void = () => undefined;
  const appended = new Promise<void>((resolve) => (release = resolve));
  const pipeline = () => {
    const replies: [null, unknown][] = [];
    const p = {
      xadd: () => (replies.push([null, '1-0']), p),
      xlen: () => (replies.push([null, 1]), p),
      exec: () => appended.then(() => replies),
    };
    return p;
  };
  const multi = () => {
    const m = {
      xadd: (...args: string[]) => (records.push(args), m),
      hincrby: () => m,
      exec: () => Promise.resolve([]),
    };
    return m;
  };
  return { redis: { pipeline, multi } as unknown as Redis, records, release: () => release() };
}

/** A kafkajs consumer that only holds START_BATCH_PROCESS listeners; `batch` fires them. */
function fakeConsumer() {
  const listeners = new Set<(e: { payload: Record<string, unknown> }) => void>();
  const consumer = {
    events: { START_BATCH_PROCESS: 'start-batch' },
    on: (_event: string, listener: (e: { payload: Record<string, unknown> }) => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as unknown as Consumer;
  const batch = (topic: string, partition: number, firstOffset: number) => {
    for (const l of [...listeners]) {
      l({ payload: { topic, partition, firstOffset: String(firstOffset) } });
    }
  };
  return { consumer, batch, listening: () => listeners.size };
}

/** An admin answering fetchOffsets with `committed` (read at call time), per topic/partition. */
function fakeAdmin(committed: Map<string, number>) {
  const fetchOffsets = ({ topics }: { topics: string[] }) =>
    Promise.resolve(
      topics.map((topic) => ({
        topic,
        partitions: [0, 1, 2, 3]
          .filter((p) => committed.has(`${topic}/${p}`))
          .map((partition) => ({
            partition,
            offset: String(committed.get(`${topic}/${partition}`)),
          })),
      })),
    );
  return { fetchOffsets } as unknown as Admin;
}

function logger() {
  const lines: string[] = [];
  const log = (level: string) => (_fields: unknown, text: string) => lines.push(`${level} ${text}`);
  return { logger: { error: log('error'), warn: log('warn') } as unknown as Logger, lines };
}

function batchPayload(topic: string, partition: number, from: number, to: number) {
  const messages = [];
  for (let offset = from; offset <= to; offset += 1) {
    const value = JSON.stringify({ order_id: `o${offset}`, amount: 1, ts: 1_700_000_000_000 });
    messages.push({
      offset: String(offset),
      timestamp: '1700000000000',
      value: Buffer.from(value),
      key: null,
      headers: {},
    });
  }
  const resolved: string[] = [];
  const payload = {
    batch: {
      topic,
      partition,
      messages,
      highWatermark: String(to + 1),
      lastOffset: () => String(to),
      offsetLag: () => '0',
    },
    isRunning: () => true,
    isStale: () => false,
    resolveOffset: (offset: string) => resolved.push(offset),
    heartbeat: () => Promise.resolve(),
  } as unknown as EachBatchPayload;
  return { payload, resolved };
}

describe('SourceGapMonitor', () => {
  it('counts a range resolved to kafkajs but still being appended as read, not skipped', async () => {
    const pipeline = compiled();
    const topic = [...pipeline.sources.keys()][0]!;
    const { redis, records, release } = fakeRedis();
    const admin = fakeAdmin(new Map([[`${topic}/0`, 100]]));
    const session = new GroupSession(1, {
      pipeline,
      redis,
      coalesce: { maxEvents: 1_000, lingerMs: 0 }, // every batch is appended at once
      entryVersion: 3,
      logger: logger().logger,
      admin: () => admin,
      flushed: () => undefined,
    });
    const intake = new BatchIntake({
      pipeline,
      hasher: await loadHasher(),
      telemetry: undefined,
      lagSeries: new LagSeries(pipeline.id, undefined),
      session: () => session,
      isPaused: () => false,
    });
    const { consumer, batch } = fakeConsumer();
    const log = logger();
    const monitor = new SourceGapMonitor(pipeline.id, {
      redis,
      telemetry: undefined,
      logger: log.logger,
      expectedNext: (t, p) => session.nextToRead(t, p),
    });
    monitor.attach(consumer);

    const { payload, resolved } = batchPayload(topic, 0, 100, 149);
    const handling = intake.handleBatch(payload);
    // kafkajs has 100..149 (it fetches on from 150); the append of that range is still awaited.
    await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toEqual(['149']);
    monitor.resetLogged(topic, 0);
    release();
    await handling;
    batch(topic, 0, 400);
    expect(log.lines).toEqual([
      `error source offset reset: ${topic}/0 offsets 150..399 skipped (250 offsets never read); ` +
        'those events were not delivered (retention passed them before they were read)',
    ]);
    expect(monitor['totals']).toMatchObject({ resets: 1, skippedOffsets: 250, pendingResets: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(records[0]).toEqual(expect.arrayContaining(['expected', '150', 'skipped', '250']));
  });

  it('a revoked partition records its open reset at the join and stops the batch listener', () => {
    const { redis, records } = fakeRedis();
    const { consumer, batch, listening } = fakeConsumer();
    const log = logger();
    const monitor = new SourceGapMonitor('p', {
      redis,
      telemetry: undefined,
      logger: log.logger,
      expectedNext: (_t, partition) => (partition === 0 ? 500 : 70),
    });
    monitor.attach(consumer);
    monitor.resetLogged('t', 0);
    monitor.resetLogged('t', 1);
    expect(listening()).toBe(1);

    monitor.joined({ t: [1] });
    expect(log.lines).toEqual([
      'error source offset reset: t/0 reset at offset 500, not read since; events may not have ' +
        'been delivered (where reading was to resume or where it resumed is not known)',
    ]);
    expect(monitor['totals']).toMatchObject({ resets: 2, pendingResets: 1 });
    // The buffers of the ended session were dropped: its reset counts them (lower expected).
    monitor.sessionEnded([{ topic: 't', partition: 1, next: 60 }]);
    batch('t', 1, 90);
    expect(log.lines[1]).toContain('t/1 offsets 60..89 skipped (30 offsets never read)');
    expect(listening()).toBe(0);
    // Back at this member later, the revoked partition's first batch closes nothing.
    batch('t', 0, 9_000);
    expect(log.lines).toHaveLength(2);
    expect(records).toHaveLength(2);
  });

  it('uses committed offsets only from the snapshot since the last join', async () => {
    const { redis } = fakeRedis();
    const { consumer, batch } = fakeConsumer();
    const log = logger();
    const monitor = new SourceGapMonitor('p', {
      redis,
      telemetry: undefined,
      logger: log.logger,
      expectedNext: () => undefined, // the session read nothing of these partitions
    });
    const committed = new Map([
      ['t/0', 100],
      ['t/1', 200],
    ]);
    monitor.attach(consumer);
    await monitor.snapshotCommitted(fakeAdmin(committed), 'g', ['t'], true);
    // First join: the start snapshot still holds (nothing was fetched).
    monitor.joined({ t: [0, 1] });
    monitor.resetLogged('t', 0);
    batch('t', 0, 150);
    expect(log.lines[0]).toContain('t/0 offsets 100..149 skipped (50 offsets');

    // Another member read t/1 to 300; the next join's reset commit wins the race with the read.
    monitor.joined({ t: [1] });
    monitor.resetLogged('t', 1);
    batch('t', 1, 400);
    expect(log.lines[1]).toContain('t/1 offsets ?..399 skipped (an unknown number');

    // The reset's logical offset (-2) read after a join deletes what an older read knew.
    committed.set('t/1', 350);
    await monitor.snapshotCommitted(fakeAdmin(committed), 'g', ['t']);
    committed.set('t/1', -2);
    await monitor.snapshotCommitted(fakeAdmin(committed), 'g', ['t']);
    monitor.resetLogged('t', 1);
    batch('t', 1, 500);
    expect(log.lines[2]).toContain('t/1 offsets ?..499');

    // A snapshot whose answer arrives after a join is stale: dropped.
    committed.set('t/1', 600);
    const late = monitor.snapshotCommitted(fakeAdmin(committed), 'g', ['t']);
    monitor.joined({ t: [1] });
    await late;
    monitor.resetLogged('t', 1);
    batch('t', 1, 700);
    expect(log.lines[3]).toContain('t/1 offsets ?..699');
  });
});
