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

  it('is caught up only once what it appended reaches the log end offset, fetched or not', () => {
    // Assigned, never fetched: committed 40, Kafka has up to 100.
    const session = new PartitionSession('customers', 0, 40, 2, 4);
    expect(session.lastTo).toBe(39);
    expect(session.coverageMarks()).toEqual({});
    session.logEnd(0, 100, 4);
    expect(session.coverageMarks()).toEqual({ caughtUp: false, partitions: 4 });
    // Read up to 99 but only appended up to 59 (paused, lingering): still not caught up.
    session.readTo = 99;
    session.appended([0], 59, { maxTime: 7, caughtUp: false });
    session.logEnd(0, 100, 4);
    expect(session.caughtUp).toBe(false);
    session.appended([1], 99, { maxTime: 9, caughtUp: true });
    session.logEnd(0, 100, 6);
    expect(session.coverageMarks()).toEqual({ maxTime: 9, caughtUp: true, partitions: 6 });
    // New data in Kafka: not caught up until it is appended, whatever the last batch said.
    session.logEnd(0, 101, 6);
    expect(session.caughtUp).toBe(false);
    // An empty partition (or one whose data is all below the log start) is caught up at once.
    const empty = new PartitionSession('customers', 1, 0, 2, 4);
    empty.logEnd(0, 0, 4);
    expect(empty.caughtUp).toBe(true);
    const trimmed = new PartitionSession('customers', 1, 0, 2, 4);
    trimmed.logEnd(30, 30, 4);
    expect(trimmed.caughtUp).toBe(true);
  });

  it('startFrom latest with nothing committed reads on from the log end of its first look', () => {
    const session = new PartitionSession('orders', 0, 0, 2, 1);
    session.logEnd(0, 500, 1, true);
    expect(session.caughtUp).toBe(true);
    session.logEnd(0, 502, 1, true);
    expect(session.caughtUp).toBe(false);
    session.appended([0], 501, { maxTime: 1, caughtUp: true });
    session.logEnd(0, 502, 1, true);
    expect(session.caughtUp).toBe(true);
  });
});
