import {
  exampleJoinPipeline,
  loadHasher,
  parsePipelineDefinition,
  RowBuilder,
} from '@sluice/pipeline';
import {
  decodeOutboxBatch,
  encodeOutboxBatch,
  insertDeadLetters,
  type ReplayLetter,
  rowSource,
} from '@sluice/redis';
import { EntryProcessor } from './entry-processor';
import { replayOf } from './replay-letters';

const T0 = Date.parse('2024-05-01T12:00:00Z');

async function processor(next = new Map<string, number>()) {
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
      { name: 'n', type: 'UInt16', defaultKind: '' },
    ],
    ['n'],
  );
  return new EntryProcessor(parsed.definition, rows, await loadHasher(), next, '0-0');
}

let seq = 0;
function letter(fields: Partial<Omit<ReplayLetter, 'message'>> & { message: string | Buffer }) {
  seq += 1;
  const { message, ...rest } = fields;
  return {
    dlqId: `${seq}-0`,
    stage: 'transform',
    error: '300 is out of range for UInt8',
    topic: 't',
    partition: 0,
    offset: seq,
    at: T0,
    ...rest,
    message: typeof message === 'string' ? Buffer.from(message) : message,
  };
}

const event = (id: string, amount: number) =>
  JSON.stringify({ id, amount, ts: new Date(T0).toISOString() });

describe('replayed dead letters', () => {
  it('go through every stage of the current definition, counted by outcome, not consumed', async () => {
    // Offsets far below `next`: a replay is not Kafka-sequenced, nothing is stale, no gap.
    const p = await processor(new Map([['t/0', 1_000]]));
    p.applyReplay(
      '5-0',
      [
        letter({ message: event('a', 300) }),
        letter({ message: event('a', 301) }),
        letter({ message: event('b', -1) }),
        letter({ stage: 'parse', error: 'invalid JSON', message: '{"id":' }),
      ],
      T0,
    );
    expect(p.cursor).toBe('5-0');
    expect(p.gap).toBeUndefined();
    expect(p.next.get('t/0')).toBe(1_000);
    expect(p.rows).toEqual([{ id: 'a', n: 300 }]);
    expect(p.counters).toMatchObject({
      consumed: 0,
      filtered: 1,
      duplicates: 1,
      deadLettered: 1,
      staleSkipped: 0,
    });
    // A failure again is a new dead letter with the new reason, at its source position.
    expect(p.deadLetters).toEqual([
      expect.objectContaining({ stage: 'parse', topic: 't', partition: 0, offset: seq }),
    ]);
    expect(p.deadLetters[0]?.error).toMatch(/^invalid JSON: /);
    expect(p.dedup?.isDuplicate((await loadHasher()).hash96('a'), T0)).toBe(true);
    expect(p.hasPending).toBe(true);
  });

  it('move no dedup expiry clock of a source, whatever their time', async () => {
    const p = await processor();
    const ts = (t: number) => new Date(t).toISOString();
    p.apply(
      '1-0',
      {
        topic: 't',
        partition: 0,
        generation: 1,
        from: 0,
        to: 0,
        partitions: 1,
        caughtUp: false,
        events: [{ offset: 0, timestamp: T0, value: { id: 'old', amount: 1, ts: ts(T0) } }],
      },
      T0 + 2 * 3_600_000,
    );
    p.reset();
    // Dead-lettered two hours (of event time) later, replayed a minute on: were it taken for
    // partition t/0's progress, the key `old` would expire while t/0 may still send its copy.
    const late = JSON.stringify({ id: 'new', amount: 1, ts: ts(T0 + 2 * 3_600_000) });
    p.applyReplay('2-0', [letter({ message: late })], T0 + 2 * 3_600_000 + 60_000);
    expect(p.rows).toEqual([{ id: 'new', n: 1 }]);
    expect(p.dedup?.changes().expired).toEqual([]);
  });

  it('are not observed (latency, find-my-event): their timestamp is a stand-in', async () => {
    const p = await processor();
    const outcomes: string[] = [];
    const observer = {
      wantsKeys: true,
      entry: () => outcomes.push('entry'),
      outcome: (_topic: string, _event: unknown, outcome: string) => outcomes.push(outcome),
    };
    p.observer = observer;
    p.applyReplay('3-0', [letter({ message: event('o', 1) })], T0);
    expect(p.rows).toHaveLength(1);
    expect(outcomes).toEqual([]);
    expect(p.observer).toBe(observer);
  });

  it('of stage insert send the stored row again as it is', async () => {
    const p = await processor();
    const row = '{"id":"x","n":70000}';
    p.applyReplay('7-0', [letter({ stage: 'insert', message: row })], T0);
    expect(p.rows).toEqual([{ id: 'x', n: 70000 }]);
    expect(p.rowSources().sources).toBeDefined();
    expect(p.counters).toMatchObject({ consumed: 0, deadLettered: 0 });
  });

  /**
   * Event `id` applied and checkpointed, then its row refused at insert: the writer's dead letter
   * (with the row's key) as a replayed letter, the actor having applied the forget list.
   */
  async function refusedAtInsert(id: string) {
    const p = await processor();
    const entry = { topic: 't', partition: 0, generation: 1, from: 0, to: 0 };
    p.apply('1-0', { ...entry, events: [{ offset: 0, timestamp: T0, value: JSON.parse(event(id, 300)) }] }, T0);
    const job = { pipeline: 'p', partition: 0, batchId: 'p.0.1.1' };
    const stored = encodeOutboxBatch({
      ...job,
      database: 'default',
      table: 'x',
      createdAt: T0,
      body: p.lines.bytes(),
      count: p.rowCount,
      ...p.rowSources(),
    });
    p.reset();
    const refused = insertDeadLetters(decodeOutboxBatch(stored, job), [{ row: 0, error: 'CHECK' }], 'now');
    p.applyForgets(refused.forgets, T0);
    const { message, ...fields } = refused.letters[0]!;
    const dead = letter({ ...fields, at: T0, partition: 0, offset: 0, message });
    const resend = (streamId: string, offset: number) =>
      p.apply(streamId, { ...entry, from: offset, to: offset, events: [{ offset, timestamp: T0, value: JSON.parse(event(id, 300)) }] }, T0);
    return { p, dead, resend };
  }

  it('of stage insert record the row’s dedup key again: a copy re-sent after it is a duplicate', async () => {
    const { p, dead, resend } = await refusedAtInsert('k');
    const hash = (await loadHasher()).hash96('k');
    expect(dead.dedupKey?.time).toBe(T0);
    expect(p.dedup?.isDuplicate(hash, T0)).toBe(false);
    p.applyReplay('2-0', [dead], T0 + 1_000);
    expect(p.rows).toEqual([{ id: 'k', n: 300 }]);
    expect(p.dedup?.isDuplicate(hash, T0)).toBe(true);
    // Pending with the row: the checkpoint that writes the row records the key.
    expect(p.dedup?.changes().appends.size).toBe(1);
    // Refused again, the row takes its key to the forget list and its new dead letter.
    const job = { pipeline: 'p', partition: 0, batchId: 'p.0.1.2' };
    const batch = decodeOutboxBatch(
      encodeOutboxBatch({ ...job, database: 'd', table: 'x', createdAt: T0, body: p.lines.bytes(), count: 1, ...p.rowSources() }),
      job,
    );
    expect(rowSource(batch, 0)?.key).toEqual(dead.dedupKey);
    p.reset();
    resend('3-0', 1);
    expect(p.rows).toEqual([]);
    expect(p.counters.duplicates).toBe(1);
  });

  it('of stage insert are duplicates when a re-sent copy of their event was written first', async () => {
    const { p, dead, resend } = await refusedAtInsert('k');
    resend('2-0', 1);
    expect(p.rows).toEqual([{ id: 'k', n: 300 }]);
    p.reset();
    p.applyReplay('3-0', [dead], T0 + 1_000);
    expect(p.rows).toEqual([]);
    expect(p.counters).toMatchObject({ duplicates: 1, deadLettered: 0 });
  });

  it('of stage insert written before keys were kept replay without recording one', async () => {
    const { p, dead } = await refusedAtInsert('k');
    const { dedupKey: _, ...old } = dead;
    p.applyReplay('2-0', [old], T0 + 1_000);
    expect(p.rows).toEqual([{ id: 'k', n: 300 }]);
    expect(p.dedup?.isDuplicate((await loadHasher()).hash96('k'), T0)).toBe(false);
  });

  it('without anything to replay come back as they were', () => {
    const bytes = Buffer.from([0xff, 0xfe]);
    expect(replayOf(letter({ stage: 'parse', error: 'too large', message: '' }))).toEqual({
      kind: 'dead',
      error: 'too large',
      message: Buffer.alloc(0),
      at: { topic: 't', partition: 0, offset: seq },
    });
    const unreadable = letter({ topic: '', partition: null, offset: null, message: '' });
    expect(replayOf(unreadable)).toMatchObject({
      kind: 'dead',
      at: { topic: '', partition: '', offset: '' },
    });
    // Bytes that are not UTF-8 are parsed again as bytes and kept byte for byte.
    const binary = replayOf(letter({ stage: 'parse', message: bytes }));
    expect(binary).toMatchObject({ kind: 'event', event: { rawBytes: bytes } });
    expect(replayOf(letter({ stage: 'insert', message: '[1]' }))).toMatchObject({
      kind: 'dead',
    });
  });

  it('take the time they were dead-lettered for the missing Kafka timestamp', () => {
    const r = replayOf(letter({ message: event('a', 1), at: T0 + 5 }));
    expect(r).toMatchObject({ kind: 'event', event: { timestamp: T0 + 5 } });
  });

  it('meet the join as it is now: a replayed left event finds its buffered partner', async () => {
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
    const p = new EntryProcessor(parsed.definition, rows, await loadHasher(), new Map(), '0-0');
    const iso = new Date(T0).toISOString();
    p.apply(
      '1-0',
      {
        topic: 'customers',
        partition: 0,
        generation: 1,
        from: 0,
        to: 0,
        events: [
          { offset: 0, timestamp: T0, value: { id: 7, version: 1, name: 'Ann', updated_at: iso } },
        ],
      },
      T0,
    );
    const order = JSON.stringify({ order_id: 'o1', customer_id: 7, amount: 2, ts: iso });
    p.applyReplay('2-0', [letter({ topic: 'orders', message: order })], T0 + 1_000);
    expect(p.rows).toEqual([{ order_id: 'o1', customer_name: 'Ann', amount_cents: 200 }]);
  });
});
