import { mergeAppends } from './mailbox-appender';

const entry = (bytes: number, tag: number) => Buffer.alloc(bytes, tag);

describe('mergeAppends', () => {
  it('without a merge size: one stream entry per entry, in order', () => {
    const appends = [
      { mailbox: 0, entry: entry(10, 1) },
      { mailbox: 1, entry: entry(10, 2) },
      { mailbox: 0, entry: entry(10, 3) },
    ];
    expect(mergeAppends(appends, 0)).toEqual([
      { mailbox: 0, entries: [entry(10, 1)] },
      { mailbox: 1, entries: [entry(10, 2)] },
      { mailbox: 0, entries: [entry(10, 3)] },
    ]);
  });

  it('merges the entries of each mailbox in their order, up to the size, then starts another', () => {
    const appends = [
      { mailbox: 0, entry: entry(40, 1) },
      { mailbox: 1, entry: entry(40, 2) },
      { mailbox: 0, entry: entry(40, 3) },
      { mailbox: 1, entry: entry(70, 4) },
      { mailbox: 0, entry: entry(40, 5) },
      { mailbox: 0, entry: entry(10, 6) },
      // Larger than the size on its own: a stream entry of its own, as before merging.
      { mailbox: 0, entry: entry(200, 7) },
    ];
    expect(mergeAppends(appends, 100)).toEqual([
      { mailbox: 0, entries: [entry(40, 1), entry(40, 3)] },
      { mailbox: 1, entries: [entry(40, 2)] },
      { mailbox: 1, entries: [entry(70, 4)] },
      { mailbox: 0, entries: [entry(40, 5), entry(10, 6)] },
      { mailbox: 0, entries: [entry(200, 7)] },
    ]);
  });
});
