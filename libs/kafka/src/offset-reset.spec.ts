import { logLevel, type LogEntry } from 'kafkajs';
import { groupLogBridge } from './group-generation';
import {
  describeGap,
  OFFSET_RESET_MESSAGE,
  offsetResetOf,
  OffsetResetTracker,
} from './offset-reset';

function entry(level: logLevel, namespace: string, log: Record<string, unknown>): LogEntry {
  return {
    namespace,
    level,
    label: 'ERROR',
    log: { timestamp: '', message: '', ...log },
  };
}

const resetLog = (topic: string, partition: number) =>
  entry(logLevel.ERROR, 'ConsumerGroup', {
    message: OFFSET_RESET_MESSAGE,
    topic,
    partition,
    groupId: 'g',
    memberId: 'm',
  });

describe('offset reset detection', () => {
  it('recognises the line kafkajs logs and nothing else', () => {
    expect(offsetResetOf(resetLog('t', 3))).toEqual({ topic: 't', partition: 3 });
    expect(
      offsetResetOf(
        entry(logLevel.INFO, 'ConsumerGroup', {
          message: 'Offset out of range while fetching from follower, retrying with leader',
          topic: 't',
          partition: 3,
        }),
      ),
    ).toBeUndefined();
    expect(
      offsetResetOf(entry(logLevel.ERROR, 'Runner', { message: OFFSET_RESET_MESSAGE })),
    ).toBeUndefined();
  });

  it('the log bridge reports resets and still forwards the error', () => {
    const resets: string[] = [];
    const forwarded: string[] = [];
    const bridge = groupLogBridge(
      (level, message) => forwarded.push(`${level}:${message}`),
      (topic, partition) => resets.push(`${topic}/${partition}`),
    );
    const log = bridge.logCreator(logLevel.DEBUG);
    log(resetLog('orders', 1));
    log(entry(logLevel.ERROR, 'Connection', { message: 'Connection error' }));
    expect(resets).toEqual(['orders/1']);
    expect(forwarded).toEqual([`error:${OFFSET_RESET_MESSAGE}`, 'error:Connection error']);
  });

  it('pairs a reset with the first batch read after it: the skipped range', () => {
    const tracker = new OffsetResetTracker();
    expect(tracker.batch('t', 0, 10)).toBeUndefined();
    tracker.reset('t', 0, 1_000, 5);
    expect(tracker.pending).toBe(1);
    // Another partition's batch does not close it; nor does a batch filtering emptied.
    expect(tracker.batch('t', 1, 50)).toBeUndefined();
    expect(tracker.batch('t', 0, null)).toBeUndefined();
    const gap = tracker.batch('t', 0, 4_500);
    expect(gap).toEqual({
      topic: 't',
      partition: 0,
      expected: 1_000,
      resumedAt: 4_500,
      skipped: 3_500,
      resets: 1,
      at: 5,
    });
    expect(describeGap(gap!)).toBe('t/0 offsets 1000..4499 skipped (3500 offsets never read)');
    expect(tracker.pending).toBe(0);
    expect(tracker.batch('t', 0, 4_600)).toBeUndefined();
  });

  it('counts repeated resets once per range; a rewind skips nothing; unknown stays unknown', () => {
    const tracker = new OffsetResetTracker();
    tracker.reset('t', 0, undefined, 1);
    tracker.reset('t', 0, 700, 2);
    expect(tracker.batch('t', 0, 900)).toMatchObject({ expected: 700, skipped: 200, resets: 2 });

    tracker.reset('t', 1, 9_000, 3);
    const rewind = tracker.batch('t', 1, 0)!;
    expect(rewind.skipped).toBe(0);
    expect(describeGap(rewind)).toBe('t/1 reset from offset 9000 back to 0');

    tracker.reset('t', 2, undefined, 4);
    const unknown = tracker.batch('t', 2, 300)!;
    expect(unknown.skipped).toBeUndefined();
    expect(describeGap(unknown)).toBe(
      't/2 offsets ?..299 skipped (an unknown number of offsets never read)',
    );

    tracker.reset('t', 3, 5, 6);
    expect(tracker.drain().map((g) => describeGap(g))).toEqual([
      't/3 reset at offset 5, not read since',
    ]);
    expect(tracker.pending).toBe(0);
  });

  it('keeps the lowest expected offset: a second reset, a session ending with data dropped', () => {
    const tracker = new OffsetResetTracker();
    tracker.reset('t', 0, 900, 1);
    tracker.reset('t', 0, 700, 2);
    tracker.reset('t', 0, 800, 3);
    tracker.lower('t', 0, 750);
    tracker.lower('t', 5, 1); // no open reset: nothing to lower
    tracker.reset('t', 1, undefined, 4);
    tracker.lower('t', 1, 40);
    expect(tracker.batch('t', 0, 1_000)).toMatchObject({ expected: 700, skipped: 300, resets: 3 });
    expect(tracker.batch('t', 1, 100)).toMatchObject({ expected: 40, skipped: 60 });
  });

  it('revoke closes only the resets of partitions no longer kept', () => {
    const tracker = new OffsetResetTracker();
    tracker.reset('t', 0, 10, 1);
    tracker.reset('t', 1, 20, 2);
    const gone = tracker.revoke((_topic, partition) => partition === 1);
    expect(gone.map((g) => describeGap(g))).toEqual(['t/0 reset at offset 10, not read since']);
    expect(tracker.pending).toBe(1);
    expect(tracker.batch('t', 0, 99)).toBeUndefined();
    expect(tracker.batch('t', 1, 25)).toMatchObject({ skipped: 5 });
  });
});
