import {
  exampleJoinPipeline,
  loadHasher,
  type MailboxEntry,
  type MailboxEvent,
  parsePipelineDefinition,
  RowBuilder,
} from '@sluice/pipeline';
import { BATCH_FLUSH_BYTES } from '@sluice/pipeline/mailbox/input-rules';
import { decodeOutboxBatch, encodeOutboxBatch, insertDeadLetters, rowSource } from '@sluice/redis';
import { EntryProcessor } from './entry-processor';

const T0 = Date.parse('2024-05-01T12:00:00Z');

async function processor() {
  const parsed = parsePipelineDefinition({
    id: 'p',
    source: { kafka: { brokers: ['127.0.0.1:9092'] }, topics: [{ name: 't', eventTime: 'ts' }] },
    filter: 'amount >= 0.0',
    dedup: { key: 'id', window: '1h' },
    transform: { columns: { n: 'int(amount)' } },
    sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'x' } },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const rows = RowBuilder.compile(
    [
      { name: 'id', type: 'String', defaultKind: '' },
      { name: 'n', type: 'UInt8', defaultKind: '' },
    ],
    ['n'],
  );
  return new EntryProcessor(parsed.definition, rows, await loadHasher(), new Map(), '0-0');
}

const ev = (offset: number, id: string, amount = 1, ts = T0) => ({
  offset,
  timestamp: ts,
  value: { id, amount, ts: new Date(ts).toISOString() },
});

describe('EntryProcessor', () => {
  it('routes every event to exactly one outcome', async () => {
    const p = await processor();
    p.apply(
      '1-0',
      {
        topic: 't',
        partition: 0,
        generation: 1,
        from: 0,
        to: 5,
        events: [
          ev(0, 'a'),
          ev(1, 'a'),
          ev(2, 'b', -1),
          { offset: 3, timestamp: T0, raw: '{', error: 'bad json' },
          ev(4, 'c', 300),
          { offset: 5, timestamp: T0, value: [1, 2] },
        ],
      },
      T0,
    );
    expect(p.rows).toEqual([{ id: 'a', n: 1 }]);
    expect(p.counters).toEqual({
      consumed: 6,
      filtered: 1,
      duplicates: 1,
      deadLettered: 3,
      outOfOrderDropped: 0,
      staleSkipped: 0,
    });
    expect(p.deadLetters.map((d) => [d.stage, d.offset])).toEqual([
      ['parse', 3],
      ['transform', 4],
      ['parse', 5],
    ]);
    // A row that failed to convert does not mark its key seen.
    expect(p.dedup?.isDuplicate((await loadHasher()).hash96('c'), T0)).toBe(false);
  });

  it('is full at BATCH_FLUSH_BYTES of rows and dead letters, whatever the row count', async () => {
    const p = await processor();
    const mib = 1024 * 1024;
    const big = (offset: number) => ev(offset, `${offset}${'x'.repeat(9 * mib)}`);
    const entry = (offset: number, events: MailboxEvent[]): MailboxEntry => ({
      ...{ topic: 't', partition: 0, generation: 1, from: 0, to: offset },
      events,
    });
    p.apply('1-0', entry(1, [big(0), big(1)]), T0);
    p.apply(
      '2-0',
      entry(2, [{ offset: 2, timestamp: T0, raw: 'y'.repeat(9 * mib), error: 'e' }]),
      T0,
    );
    expect(p.rowCount).toBe(2);
    expect(p.isFull(10_000)).toBe(false);
    p.apply('3-0', entry(3, [big(3)]), T0);
    expect(BATCH_FLUSH_BYTES).toBe(32 * mib);
    expect(p.isFull(10_000)).toBe(true);
    p.reset();
    expect(p.isFull(10_000)).toBe(false);
  });

  it('hands each row’s source and key to the outbox, and forgets keys of rows refused at insert', async () => {
    const p = await processor();
    const entry = (from: number, events: MailboxEvent[]) => ({
      topic: 't',
      partition: 2,
      generation: 1,
      from,
      to: from + events.length - 1,
      events,
    });
    p.apply('1-0', entry(0, [ev(0, 'a'), ev(1, 'b'), ev(2, 'a')]), T0);
    const stored = encodeOutboxBatch({
      pipeline: 'p',
      partition: 0,
      batchId: 'p.0.1.1',
      database: 'default',
      table: 'x',
      createdAt: T0,
      body: p.lines.bytes(),
      count: p.rowCount,
      ...p.rowSources(),
    });
    const batch = decodeOutboxBatch(stored, { pipeline: 'p', partition: 0, batchId: 'p.0.1.1' });
    expect([0, 1].map((i) => rowSource(batch, i))).toMatchObject([
      { topic: 't', partition: 2, offset: 0, key: { time: T0 } },
      { topic: 't', partition: 2, offset: 1, key: { time: T0 } },
    ]);
    // The writer dead-letters row 1 ('b') at insert: its key is forgotten, 'a' stays seen.
    const { forgets } = insertDeadLetters(batch, [{ row: 1, error: 'CHECK' }], 'now');
    p.reset();
    p.applyForgets(forgets, T0);
    expect(p.forgetsApplied).toBe(forgets.length);
    expect(p.hasPending).toBe(true);
    expect(p.dedup?.changes().forgotten.size).toBe(1);
    p.apply('2-0', entry(3, [ev(3, 'b'), ev(4, 'a')]), T0);
    expect(p.rows).toEqual([{ id: 'b', n: 1 }]);
    expect(p.counters.duplicates).toBe(1);
  });

  it('dead-letters a message that is not UTF-8 with its bytes as they are', async () => {
    const p = await processor();
    const bytes = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const events: MailboxEvent[] = [
      { offset: 0, timestamp: T0, rawBytes: bytes, error: 'invalid UTF-8 at byte 2' },
      ev(1, 'a'),
    ];
    p.apply('1-0', { topic: 't', partition: 0, generation: 1, from: 0, to: 1, events }, T0);
    expect(p.rows).toEqual([{ id: 'a', n: 1 }]);
    const [letter] = p.deadLetters;
    expect(letter).toMatchObject({ stage: 'parse', error: 'invalid UTF-8 at byte 2', offset: 0 });
    expect(Buffer.isBuffer(letter?.message) && letter.message.equals(bytes)).toBe(true);
  });

  it('dead-letters a row that does not serialize, keeps the others, leaves its key unseen', async () => {
    // A stand-in builder: a BigInt cannot be JSON-encoded (real converters never return one).
    const build = (input: Record<string, unknown>) =>
      input.id === 'big' ? { id: 1n } : { id: input.id };
    const builder = {
      build,
      jsonLine: (input: Record<string, unknown>) => `${JSON.stringify(build(input))}\n`,
    } as unknown as RowBuilder;
    const parsed = parsePipelineDefinition({
      id: 'p',
      source: { kafka: { brokers: ['127.0.0.1:9092'] }, topics: [{ name: 't', eventTime: 'ts' }] },
      dedup: { key: 'id', window: '1h' },
      sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'x' } },
    });
    if (!parsed.ok) throw new Error('definition');
    const p = new EntryProcessor(parsed.definition, builder, await loadHasher(), new Map(), '0-0');
    const entry = (from: number, ids: string[]) => ({
      topic: 't',
      partition: 0,
      generation: 1,
      from,
      to: from + ids.length - 1,
      events: ids.map((id, i) => ev(from + i, id)),
    });
    p.apply('1-0', entry(0, ['a', 'big', 'b']), T0);
    expect(p.rows).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect(p.rowCount).toBe(2);
    expect(p.deadLetters.map((d) => [d.stage, d.offset])).toEqual([['transform', 1]]);
    p.apply('2-0', entry(3, ['big']), T0);
    expect(p.counters.duplicates).toBe(0);
  });

  it('skips applied offsets, stops at an entry that leaves a gap until it is accepted, never moves next back', async () => {
    const p = await processor();
    const entry = (from: number, to: number, offsets: number[]) => ({
      topic: 't',
      partition: 0,
      generation: 1,
      from,
      to,
      events: offsets.map((o) => ev(o, `k${o}`)),
    });
    expect(p.apply('1-0', entry(0, 1, [0, 1]), T0)).toBe('first');
    expect(p.apply('2-0', entry(0, 1, [0, 1]), T0)).toBe('stale');
    expect(p.apply('3-0', entry(5, 6, [5, 6]), T0)).toBe('gap');
    // Nothing of it applied, the cursor still before it: the actor reads it again.
    expect(p.next.get('t/0')).toBe(2);
    expect(p.cursor).toBe('2-0');
    expect(p.gap).toEqual({ streamId: '3-0', range: { topic: 't', partition: 0, from: 2, to: 4 } });
    expect(p.rows.map((r) => r.id)).toEqual(['k0', 'k1']);
    p.acceptGap({ topic: 't', partition: 0, from: 2, to: 4 });
    expect(p.gap).toBeUndefined();
    expect(p.apply('3-0', entry(5, 6, [5, 6]), T0)).toBe('applied');
    expect(p.apply('4-0', entry(0, 3, [1, 2, 3]), T0)).toBe('stale');
    expect(p.apply('5-0', entry(5, 5, []), T0)).toBe('stale');
    expect(p.next.get('t/0')).toBe(7);
    expect(p.rows.map((r) => r.id)).toEqual(['k0', 'k1', 'k5', 'k6']);
    expect(p.counters.outOfOrderDropped).toBe(0);
    // The re-appended [0, 1] and [1, 2, 3] behind next.
    expect(p.counters.staleSkipped).toBe(5);
    expect(p.cursor).toBe('5-0');
  });
});

describe('EntryProcessor event-time plausibility', () => {
  it('dead-letters an event time more than maxFutureEventTime ahead at dedup, writes its neighbours', async () => {
    const p = await processor();
    const day = 86_400_000;
    const events = [ev(0, 'a'), ev(1, 'far', 1, T0 + 30 * day), ev(2, 'b', 1, T0 + 59 * 60_000)];
    p.apply('1-0', { topic: 't', partition: 0, generation: 1, from: 0, to: 2, events }, T0);
    expect(p.rows.map((r) => r.id)).toEqual(['a', 'b']);
    expect(p.deadLetters).toEqual([
      expect.objectContaining({
        stage: 'dedup',
        offset: 1,
        error:
          'event time 2024-05-31T12:00:00.000Z is more than 1h ahead of the clock ' +
          '(2024-05-01T12:00:00.000Z; source.maxFutureEventTime)',
      }),
    ]);
    // Not marked seen: once its time is plausible it is written.
    const again = [ev(3, 'far', 1, T0 + 60_000)];
    p.apply('2-0', { topic: 't', partition: 0, generation: 1, from: 3, to: 3, events: again }, T0);
    expect(p.rows.map((r) => r.id)).toEqual(['a', 'b', 'far']);
  });
});

describe('EntryProcessor batch bound', () => {
  it('is full at maxRows events of any outcome, not only at maxRows rows', async () => {
    const p = await processor();
    const events = Array.from({ length: 10 }, (_, i) => ev(i, `k${i}`, -1));
    p.apply('1-0', { topic: 't', partition: 0, generation: 1, from: 0, to: 9, events }, T0);
    expect(p.rows).toHaveLength(0);
    expect(p.counters.filtered).toBe(10);
    expect(p.isFull(11)).toBe(false);
    expect(p.isFull(10)).toBe(true);
  });
});

describe('EntryProcessor with a join', () => {
  it("reports each joined row as its left event's written outcome (timestamp, trace, key)", async () => {
    const parsed = parsePipelineDefinition(exampleJoinPipeline());
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const rows = RowBuilder.compile(
      [
        { name: 'order_id', type: 'String', defaultKind: '' },
        { name: 'customer_name', type: 'String', defaultKind: '' },
        { name: 'amount_cents', type: 'Int64', defaultKind: '' },
      ],
      ['order_id', 'customer_name', 'amount_cents'],
    );
    const hasher = await loadHasher();
    const p = new EntryProcessor(parsed.definition, rows, hasher, new Map(), '0-0');
    const outcomes: {
      topic: string;
      outcome: string;
      timestamp: number;
      tp?: string;
      key?: bigint;
    }[] = [];
    p.observer = {
      wantsKeys: true,
      entry: () => undefined,
      outcome: (topic, event, outcome, key) =>
        outcomes.push({ topic, outcome, timestamp: event.timestamp, tp: event.traceparent, key }),
    };
    const iso = new Date(T0).toISOString();
    const tp = `00-${'ab'.repeat(16)}-00f067aa0ba902b7-01`;
    // One event at offset 0 of partition 0 of `topic`.
    const first = (topic: string, event: Omit<MailboxEvent, 'offset'>): MailboxEntry => ({
      topic,
      partition: 0,
      generation: 1,
      from: 0,
      to: 0,
      events: [{ offset: 0, ...event }],
    });
    p.apply(
      '1-0',
      first('customers', {
        timestamp: T0 + 5,
        value: { id: 7, version: 1, name: 'Ann', updated_at: iso },
      }),
      T0,
    );
    p.apply(
      '2-0',
      first('orders', {
        timestamp: T0 + 9,
        traceparent: tp,
        value: { order_id: 'o1', customer_id: 7, amount: 2, ts: iso },
      }),
      T0,
    );
    expect(p.rows).toEqual([{ order_id: 'o1', customer_name: 'Ann', amount_cents: 200 }]);
    expect(outcomes).toEqual([
      {
        topic: 'orders',
        outcome: 'written',
        timestamp: T0 + 9,
        tp,
        key: hasher.hash64('orders\u0000o1'),
      },
    ]);
  });
});
