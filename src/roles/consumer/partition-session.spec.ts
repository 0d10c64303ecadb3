import { PartitionSession } from './partition-session';

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
});
