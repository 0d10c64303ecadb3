import { joinMarks, PartitionSession } from './partition-session';

describe('PartitionSession', () => {
  it('asks for coverage only in mailboxes that are behind the offset to commit', () => {
    const session = new PartitionSession('t', 0, 100, 4);
    expect(session.pending).toBeUndefined();
    session.appended([1], 149);
    session.appended([1, 2], 199);
    expect(session.pending).toBe(200);
    expect(session.coverageFor(200)).toEqual([0, 3]);
    session.covered([0, 3], 199);
    expect(session.coverageFor(200)).toEqual([]);
  });

  it('keeps a pending offset that moved on while a commit was in flight', () => {
    const session = new PartitionSession('t', 0, 0, 2);
    session.appended([0, 1], 9);
    session.appended([0], 19);
    session.committed(10);
    expect(session.pending).toBe(20);
    expect(session.coverageFor(20)).toEqual([1]);
    session.committed(20);
    expect(session.pending).toBeUndefined();
  });

  it('stamps join marks: the highest event time, caught up, the partition count', () => {
    const session = new PartitionSession('orders', 2, 100, 4, 8);
    expect(session.coverageMarks()).toEqual({});
    const first = session.progressWith(5_000, false);
    expect(first).toEqual({ maxTime: 5_000, caughtUp: false });
    expect(joinMarks(first, session.topicPartitions)).toEqual({
      maxTime: 5_000,
      caughtUp: false,
      partitions: 8,
    });
    session.appended([1], 149, first);
    // A later batch with older events keeps the session's highest; one without events too.
    expect(session.progressWith(4_000, true)).toEqual({ maxTime: 5_000, caughtUp: true });
    session.appended([2], 199, session.progressWith(undefined, true));
    expect(session.coverageMarks()).toEqual({ maxTime: 5_000, caughtUp: true, partitions: 8 });
    expect(session.lastTo).toBe(199);
  });

  it('says at session start whether the partition is caught up, then repeats its marks', () => {
    const session = new PartitionSession('customers', 0, 40, 2, 4);
    expect(session.lastTo).toBe(39);
    expect(session.marksDue(0, 2_500)).toBe(false);
    session.startMarks(true);
    expect(session.coverageMarks()).toEqual({ caughtUp: true, partitions: 4 });
    expect(session.marksDue(0, 2_500)).toBe(true);
    session.marksSent(0);
    expect(session.marksDue(2_499, 2_500)).toBe(false);
    expect(session.marksDue(2_500, 2_500)).toBe(true);
    // A batch already read says more than the session start.
    const read = new PartitionSession('customers', 1, 0, 2, 4);
    read.appended([0], 9, { maxTime: 1, caughtUp: false });
    read.startMarks(true);
    expect(read.caughtUp).toBe(false);
  });
});
