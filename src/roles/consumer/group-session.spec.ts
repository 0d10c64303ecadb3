import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import { parsePipelineDefinition, type CompiledPipeline } from '@sluice/pipeline';
import { exampleJoinPipeline } from '@sluice/pipeline/definition/examples';
import { GroupSession } from './group-session';

function joinPipeline(startFrom: 'earliest' | 'latest' = 'earliest'): CompiledPipeline {
  const definition = exampleJoinPipeline() as { source: { topics: Record<string, unknown>[] } };
  for (const topic of definition.source.topics) topic.startFrom = startFrom;
  const parsed = parsePipelineDefinition(definition);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.definition;
}

/**
 * An admin with Kafka's numbers: `ends` the [log start, log end] of every partition of a topic,
 * `committed` the group's offsets (-1: nothing committed). `fail` makes the log end query throw.
 */
function fakeAdmin(
  ends: Record<string, [number, number][]>,
  committed: Record<string, number[]>,
  fail = { now: false },
) {
  const admin = {
    fetchTopicOffsets: (topic: string) =>
      fail.now
        ? Promise.reject(new Error('broker down'))
        : Promise.resolve(
            (ends[topic] ?? []).map(([low, high], partition) => ({
              partition,
              offset: String(high),
              low: String(low),
              high: String(high),
            })),
          ),
    fetchOffsets: ({ topics }: { topics: string[] }) =>
      Promise.resolve(
        topics.map((topic) => ({
          topic,
          partitions: (committed[topic] ?? []).map((offset, partition) => ({
            partition,
            offset: String(offset),
          })),
        })),
      ),
  };
  return admin as unknown as Admin;
}

function session(
  pipeline: CompiledPipeline,
  admin: Admin,
  assignment: Record<string, number[]>,
): GroupSession {
  const quiet = () => undefined;
  return new GroupSession(
    7,
    {
      pipeline,
      redis: {} as Redis,
      coalesce: { maxEvents: 1_000, lingerMs: 0 },
      entryVersion: 3,
      logger: { debug: quiet, warn: quiet } as unknown as Logger,
      admin: () => admin,
      flushed: quiet,
    },
    assignment,
  );
}

describe('GroupSession.refreshLogEnds', () => {
  it('tells every assigned partition, fetched or not, whether it is read to the log end', async () => {
    const admin = fakeAdmin(
      {
        orders: [
          [0, 500],
          [0, 0],
          [0, 40],
        ],
        customers: [[0, 9]],
      },
      { orders: [120, -1, 40], customers: [-1] },
    );
    const s = session(joinPipeline(), admin, { orders: [0, 1, 2], customers: [0] });
    expect(await s.refreshLogEnds(1_000, 2_500)).toBe(true);
    const marks = (tp: string) => s.partitions.get(tp)?.coverageMarks();
    // Not fetched yet, 380 messages unread: holds the watermark.
    expect(marks('orders/0')).toEqual({ caughtUp: false, partitions: 3 });
    // Empty, or everything committed: nothing unread.
    expect(marks('orders/1')).toEqual({ caughtUp: true, partitions: 3 });
    expect(marks('orders/2')).toEqual({ caughtUp: true, partitions: 3 });
    expect(marks('customers/0')).toEqual({ caughtUp: false, partitions: 1 });
    // Not due again before the heartbeat interval.
    expect(await s.refreshLogEnds(2_000, 2_500)).toBe(false);
    // Appended up to the end since: caught up at the next heartbeat.
    s.partitions.get('orders/0')!.appended([0], 499, { maxTime: 5, caughtUp: false });
    expect(await s.refreshLogEnds(3_500, 2_500)).toBe(true);
    expect(marks('orders/0')).toEqual({ maxTime: 5, caughtUp: true, partitions: 3 });
  });

  it('sends no heartbeat when Kafka does not answer (the last words then go stale)', async () => {
    const fail = { now: true };
    const admin = fakeAdmin({ orders: [[0, 5]] }, { orders: [5] }, fail);
    const s = session(joinPipeline(), admin, { orders: [0] });
    expect(await s.refreshLogEnds(0, 2_500)).toBe(false);
    fail.now = false;
    expect(await s.refreshLogEnds(1, 2_500)).toBe(true);
    expect(s.partitions.get('orders/0')?.caughtUp).toBe(true);
  });

  it('startFrom latest with nothing committed: caught up from the log end of its first look', async () => {
    const ends: Record<string, [number, number][]> = { orders: [[0, 800]] };
    const s = session(joinPipeline('latest'), fakeAdmin(ends, { orders: [-1] }), {
      orders: [0],
    });
    await s.refreshLogEnds(0, 2_500);
    expect(s.partitions.get('orders/0')?.caughtUp).toBe(true);
    ends.orders = [[0, 801]];
    await s.refreshLogEnds(3_000, 2_500);
    expect(s.partitions.get('orders/0')?.caughtUp).toBe(false);
  });
});
