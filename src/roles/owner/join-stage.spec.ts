import {
  loadHasher,
  type MailboxEntry,
  type MailboxEvent,
  parsePipelineDefinition,
  RowBuilder,
} from '@sluice/pipeline';
import { EntryProcessor } from './entry-processor';

// The join path of the entry processor: dedup before the join, the join stage, marks, late events.
const T0 = Date.parse('2026-03-01T00:00:00Z');
// Processing time: a day after the events (a replay), so no event time is in the future.
const NOW = T0 + 86_400_000;
const MIN = 60_000;

async function processor(dedup: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const parsed = parsePipelineDefinition({
    id: 'j',
    source: {
      kafka: { brokers: ['127.0.0.1:9092'] },
      topics: [
        { name: 'orders', eventTime: 'ts' },
        { name: 'customers', eventTime: 'ts' },
      ],
    },
    dedup,
    join: {
      type: 'left',
      window: '5m',
      left: { topic: 'orders', key: 'customer_id' },
      right: { topic: 'customers', key: 'cid' },
    },
    transform: { columns: { customer_name: 'right.name' } },
    sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'x' } },
    ...extra,
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const rows = RowBuilder.compile(
    [
      { name: 'id', type: 'String', defaultKind: '' },
      // Neither Nullable nor DEFAULT: an unmatched left row leaves it to the type's default.
      { name: 'customer_name', type: 'String', defaultKind: '' },
    ],
    ['customer_name'],
  );
  return new EntryProcessor(parsed.definition, rows, await loadHasher(), new Map(), '0-0');
}

let offset = 0;
const order = (id: string, customer: string, dt: number): MailboxEvent => ({
  offset: offset++,
  timestamp: T0,
  value: { id, customer_id: customer, ts: T0 + dt },
});
const customer = (id: string, cid: string, dt: number): MailboxEvent => ({
  offset: offset++,
  timestamp: T0,
  value: { id, cid, name: `${cid}-name`, ts: T0 + dt },
});

let stream = 0;
function apply(
  p: EntryProcessor,
  topic: string,
  events: MailboxEvent[],
  marks: Partial<MailboxEntry> = {},
  now = NOW,
) {
  const to = events.length > 0 ? Math.max(...events.map((e) => e.offset)) : offset;
  stream += 1;
  const entry = { topic, partition: 0, generation: 1, from: 0, to, events, partitions: 1 };
  return p.apply(`${stream}-0`, { ...entry, ...marks }, now);
}

describe('EntryProcessor on a join pipeline', () => {
  it('scopes a single dedup key by topic and dedups each source before the join', async () => {
    const p = await processor({ key: 'id', window: '1h' });
    // Order 7 and customer 7 are different things.
    apply(p, 'customers', [customer('7', 'c1', 0)]);
    apply(p, 'orders', [order('7', 'c1', MIN), order('7', 'c1', MIN)]);
    expect(p.counters.duplicates).toBe(1);
    expect(p.rows).toEqual([{ id: '7', customer_name: 'c1-name' }]);
    expect(p.join?.state.counters.joined).toBe(1);
  });

  it('checks each source against its own dedup window', async () => {
    const p = await processor({
      orders: { key: 'id', window: '1h' },
      customers: { key: 'id', window: '1m' },
    });
    apply(p, 'orders', [order('o', 'c9', 0), order('o', 'c9', 10 * MIN)]);
    apply(p, 'customers', [customer('c', 'c8', 0), customer('c', 'c8', 10 * MIN)]);
    expect(p.counters.duplicates).toBe(1);
  });

  it('takes marks after the entry own events, dead-letters late events, fills an unmatched right side with defaults', async () => {
    const p = await processor({ key: 'id', window: '1h' });
    // Both sources far ahead in the same entries as their own older events: not late.
    const marks = { maxTime: T0 + 60 * MIN, caughtUp: false };
    apply(p, 'customers', [customer('c', 'c2', 0)], marks);
    apply(p, 'orders', [order('a', 'c2', MIN), order('b', 'c3', 2 * MIN)], marks);
    expect(p.join?.state.watermark.value).toBe(T0 + 60 * MIN);
    expect(p.counters.deadLettered).toBe(0);
    // `b` found no partner: written once the watermark passed its window, right side left out.
    expect(p.rows).toEqual([{ id: 'a', customer_name: 'c2-name' }, { id: 'b' }]);
    // An event behind the watermark now: dead letter, stage join, reason late.
    apply(p, 'orders', [order('c', 'c2', 3 * MIN)]);
    expect(p.deadLetters).toEqual([
      expect.objectContaining({
        stage: 'join',
        topic: 'orders',
        error: expect.stringMatching(/^late/),
      }),
    ]);
    expect(p.allCounters()).toMatchObject({
      late: 1,
      deadLettered: 1,
      joined: 1,
      unmatchedLeft: 1,
    });
    // A late event is not marked seen: a retry with a corrected time is not a duplicate.
    apply(p, 'orders', [order('c', 'c2', 61 * MIN)]);
    expect(p.counters.duplicates).toBe(0);
    expect(p.counters.deadLettered).toBe(1);
  });

  it('dead-letters an event time more than maxFutureEventTime ahead: no watermark jump, nothing buffered', async () => {
    const p = await processor({ key: 'id', window: '1h' });
    // Two hours ahead of the processing time, on both sides: a jump of every source's mark.
    const ahead = NOW - T0 + 2 * 60 * MIN;
    apply(p, 'customers', [customer('c', 'c2', 0), customer('far-c', 'c9', ahead)]);
    apply(p, 'orders', [order('a', 'c2', 0), order('far-o', 'c9', ahead)]);
    expect(p.deadLetters).toEqual([
      expect.objectContaining({ stage: 'join', topic: 'customers', offset: offset - 3 }),
      expect.objectContaining({ stage: 'join', topic: 'orders', offset: offset - 1 }),
    ]);
    expect(p.deadLetters[0]?.error).toMatch(
      /^event time 2026-03-02T02:00:00\.000Z is more than 1h ahead of the clock \(2026-03-02T00:00:00\.000Z; source\.maxFutureEventTime\)$/,
    );
    expect(p.join?.state.watermark.value).toBe(T0);
    // The events around it: joined, and one a minute later is not late.
    apply(p, 'orders', [order('b', 'c2', MIN)]);
    expect(p.counters.deadLettered).toBe(2);
    expect(p.allCounters()).toMatchObject({ late: 0, joined: 2 });
  });

  it('dead-letters a left row alone whose filter runs over budget, instead of reading it as filtered', async () => {
    const filter = "left.items.all(a, left.items.exists(b, b == a)) && right.name != 'x'";
    const p = await processor({ key: 'id', window: '1h' }, { filter });
    const items = Array.from({ length: 3_000 }, (_, i) => i);
    const lone: MailboxEvent = {
      offset: offset++,
      timestamp: T0,
      value: { id: 'lone', customer_id: 'c-none', ts: T0, items },
    };
    const marks = { maxTime: T0 + 60 * MIN, caughtUp: false };
    apply(p, 'customers', [], marks);
    apply(p, 'orders', [lone], marks);
    expect(p.counters.filtered).toBe(0);
    expect(p.deadLetters).toEqual([
      expect.objectContaining({
        stage: 'filter',
        error: expect.stringMatching(/^evaluation budget exceeded/),
      }),
    ]);
  });

  it('reads the marks of an empty entry that reaches what is applied, not of one behind it', async () => {
    const p = await processor({ key: 'id', window: '1h' });
    apply(p, 'customers', [customer('c', 'c2', 0)]);
    apply(p, 'orders', [order('a', 'c2', 0)]);
    const applied = p.next.get('orders/0') as number;
    // Behind: a stale re-append's word says nothing.
    p.apply(
      '100-0',
      {
        topic: 'orders',
        partition: 0,
        generation: 1,
        from: 0,
        to: applied - 2,
        events: [],
        maxTime: T0 + 30 * MIN,
        partitions: 1,
      },
      NOW,
    );
    p.apply(
      '101-0',
      {
        topic: 'customers',
        partition: 0,
        generation: 1,
        from: 0,
        to: (p.next.get('customers/0') as number) - 1,
        events: [],
        maxTime: T0 + 30 * MIN,
        partitions: 1,
      },
      NOW,
    );
    expect(p.join?.state.watermark.value).toBe(T0);
    p.apply(
      '102-0',
      {
        topic: 'orders',
        partition: 0,
        generation: 1,
        from: 0,
        to: applied - 1,
        events: [],
        maxTime: T0 + 30 * MIN,
        partitions: 1,
      },
      NOW,
    );
    expect(p.join?.state.watermark.value).toBe(T0 + 30 * MIN);
  });
});
