import { decodeMailboxEntry, type EntryBuilder, type MailboxEvent } from '@sluice/pipeline';
import { OutOfOrderBatchError, PartitionBuffer, releaseRange } from './partition-buffer';

const ev = (offset: number): MailboxEvent => ({ offset, timestamp: offset });
const routed = (entries: [number, number[]][]) =>
  new Map(entries.map(([mailbox, offsets]) => [mailbox, offsets.map(ev)]));
const offsets = (builder: EntryBuilder | undefined) => builder?.toEvents().map((e) => e.offset);

describe('PartitionBuffer', () => {
  it('coalesces consecutive batches into one range per mailbox, in offset order', () => {
    const buffer = new PartitionBuffer<string>({ maxEvents: 100, lingerMs: 50 });
    buffer.add(
      routed([
        [0, [10, 12]],
        [3, [11]],
      ]),
      12,
      1_000,
      undefined,
      'a',
    );
    buffer.add(
      routed([
        [3, [13]],
        [1, [14]],
      ]),
      14,
      1_010,
      undefined,
      'b',
    );
    expect(buffer.events).toBe(5);
    expect(buffer.lastOffset).toBe(14);
    const range = buffer.take();
    expect(range?.to).toBe(14);
    expect(range?.batches).toBe(2);
    expect(range?.since).toBe(1_000);
    expect(range?.attached).toEqual(['a', 'b']);
    expect(offsets(range?.byMailbox.get(0))).toEqual([10, 12]);
    expect(offsets(range?.byMailbox.get(3))).toEqual([11, 13]);
    expect(offsets(range?.byMailbox.get(1))).toEqual([14]);
    expect(buffer.empty).toBe(true);
    expect(buffer.take()).toBeUndefined();
  });

  it('is due after the linger or at the size limit, whichever comes first', () => {
    const buffer = new PartitionBuffer({ maxEvents: 3, lingerMs: 50 });
    expect(buffer.due(0)).toBe(false);
    expect(buffer.dueAt()).toBeUndefined();
    buffer.add(routed([[0, [-1]]]), -1, 900);
    // The session's first range goes at once.
    expect(buffer.due(900)).toBe(true);
    buffer.take();
    buffer.add(routed([[0, [0, 1]]]), 1, 1_000);
    expect(buffer.dueAt()).toBe(1_050);
    expect(buffer.due(1_049)).toBe(false);
    expect(buffer.due(1_050)).toBe(true);
    buffer.add(routed([[0, [2]]]), 2, 1_001);
    expect(buffer.full).toBe(true);
    expect(buffer.due(1_001)).toBe(true);
  });

  it('is full at the byte limit too, counting a put-back range', () => {
    const buffer = new PartitionBuffer({ maxEvents: 1_000, lingerMs: 50, maxBytes: 1_000 });
    buffer.add(routed([[0, [-1]]]), -1, 900);
    buffer.take();
    buffer.add(routed([[0, [0]]]), 0, 1_000, undefined, undefined, 600);
    expect(buffer.full).toBe(false);
    const range = buffer.take();
    buffer.add(routed([[0, [1]]]), 1, 1_001, undefined, undefined, 300);
    if (range) buffer.putBack(range);
    expect(buffer.bytes).toBe(900);
    expect(buffer.full).toBe(false);
    buffer.add(routed([[0, [2]]]), 2, 1_002, undefined, undefined, 100);
    expect(buffer.full).toBe(true);
    expect(buffer.due(1_002)).toBe(true);
  });

  it('with no linger every batch is due at once', () => {
    const buffer = new PartitionBuffer({ maxEvents: 1_000, lingerMs: 0 });
    buffer.add(routed([[0, [4]]]), 4, 1_000);
    buffer.take();
    buffer.add(routed([[0, [5]]]), 5, 1_000);
    expect(buffer.due(1_000)).toBe(true);
  });

  it('puts a failed range back in front of what was buffered since', () => {
    const buffer = new PartitionBuffer<string>({ maxEvents: 100, lingerMs: 50 });
    buffer.add(routed([[0, [0, 1]]]), 1, 1_000, undefined, 'a');
    const failed = buffer.take();
    buffer.add(
      routed([
        [0, [2]],
        [1, [3]],
      ]),
      3,
      1_020,
      undefined,
      'b',
    );
    if (failed === undefined) throw new Error('nothing buffered');
    buffer.putBack(failed);
    const range = buffer.take();
    expect(range?.to).toBe(3);
    expect(range?.since).toBe(1_000);
    expect(range?.events).toBe(4);
    expect(range?.batches).toBe(2);
    expect(range?.attached).toEqual(['a', 'b']);
    expect(offsets(range?.byMailbox.get(0))).toEqual([0, 1, 2]);
    expect(offsets(range?.byMailbox.get(1))).toEqual([3]);
  });

  it('refuses a batch that does not follow the buffered range', () => {
    const buffer = new PartitionBuffer({ maxEvents: 100, lingerMs: 50 });
    buffer.add(routed([[0, [7]]]), 7, 1_000);
    expect(() => buffer.add(routed([[0, [7]]]), 7, 1_001)).toThrow(OutOfOrderBatchError);
  });

  it('keeps the highest event time and the latest caught-up flag for join marks', () => {
    const buffer = new PartitionBuffer({ maxEvents: 100, lingerMs: 50 });
    buffer.add(routed([[0, [0]]]), 0, 1, { maxTime: 500, caughtUp: false });
    buffer.add(routed([[0, [1]]]), 1, 2, { maxTime: undefined, caughtUp: true });
    expect(buffer.take()?.progress).toEqual({ maxTime: 500, caughtUp: true });
    buffer.add(routed([[0, [2]]]), 2, 3, { maxTime: 400, caughtUp: false });
    buffer.add(routed([[0, [3]]]), 3, 4, { maxTime: 900, caughtUp: false });
    expect(buffer.take()?.progress).toEqual({ maxTime: 900, caughtUp: false });
  });

  it('does not share event arrays with the routed batch', () => {
    const buffer = new PartitionBuffer({ maxEvents: 100, lingerMs: 50 });
    const first = routed([[0, [0]]]);
    buffer.add(first, 0, 1);
    buffer.add(routed([[0, [1]]]), 1, 2);
    expect(first.get(0)?.map((e) => e.offset)).toEqual([0]);
  });

  it('copies the messages, so the routed batch and its bytes may be reused at once', () => {
    const buffer = new PartitionBuffer({ maxEvents: 100, lingerMs: 50 });
    const bytes = Buffer.from('{"a":1}{"b":"x,y"}');
    const json = (offset: number, from: number, to: number): MailboxEvent => ({
      offset,
      timestamp: 5,
      json: bytes.subarray(from, to),
      key: `k${offset}`,
    });
    buffer.add(new Map([[2, [json(0, 0, 7)]]]), 0, 1);
    buffer.add(
      new Map([[2, [json(1, 7, 18), { offset: 2, timestamp: 6, value: { c: 2 } }]]]),
      2,
      2,
    );
    bytes.fill(0x20);
    const range = buffer.take();
    const builder = range?.byMailbox.get(2);
    if (range === undefined || builder === undefined) throw new Error('nothing buffered');
    const head = { topic: 't', partition: 0, generation: 1, from: 0, to: range.to };
    expect(decodeMailboxEntry(builder.encode(head)).events).toEqual([
      { offset: 0, timestamp: 5, value: { a: 1 }, key: 'k0' },
      { offset: 1, timestamp: 5, value: { b: 'x,y' }, key: 'k1' },
      { offset: 2, timestamp: 6, value: { c: 2 } },
    ]);
    releaseRange(range);
    expect(range.byMailbox.size).toBe(0);
  });
});
