import { pack } from 'msgpackr';
import { decodeForgets } from './dedup-forgets';
import {
  batchRows,
  decodeOutboxBatch,
  encodeOutboxBatch,
  insertDeadLetters,
  MalformedBatchError,
  rowSource,
} from './outbox';
import { RowSourceWriter } from './row-sources';
import { checkBatchJob } from './queues';

const job = { pipeline: 'orders', partition: 3, batchId: 'orders.3.1.7' };

describe('decodeOutboxBatch', () => {
  const entry = {
    ...job,
    database: 'default',
    table: 'orders',
    rows: [{ id: 1, name: 'a\nb' }, { id: 2 }],
    createdAt: 1_700_000_000_000,
  };
  const expected = {
    batchId: job.batchId,
    database: 'default',
    table: 'orders',
    body: '{"id":1,"name":"a\\nb"}\n{"id":2}\n',
    count: 2,
  };

  it('reads the entry the owner packs: the rows as JSONEachRow text', () => {
    const batch = decodeOutboxBatch(encodeOutboxBatch(entry), job);
    expect(batch).toEqual(expected);
    expect(batchRows(batch)).toEqual(entry.rows);
  });

  it('reads the rows the owner encoded as they were built: the text as binary, as a Buffer', () => {
    const { rows, ...meta } = entry;
    const body = Buffer.from(expected.body);
    const batch = decodeOutboxBatch(encodeOutboxBatch({ ...meta, body, count: 2 }), job);
    expect(batch).toEqual({ ...expected, body });
    expect(Buffer.isBuffer(batch.body)).toBe(true);
    expect(batchRows(batch)).toEqual(rows);
  });

  it('carries each row’s source and dedup key to the insert-stage dead letters', () => {
    const { rows, ...meta } = entry;
    const sources = new RowSourceWriter(12);
    sources.add('orders', 2, 40, { low: 9n, high: 3 }, 1_000);
    sources.add('orders', 5, 41);
    const body = Buffer.from(expected.body);
    const stored = encodeOutboxBatch({ ...meta, body, count: 2, ...sources.encode() });
    const batch = decodeOutboxBatch(stored, job);
    expect(batchRows(batch)).toEqual(rows);
    expect(rowSource(batch, 1)).toEqual({ topic: 'orders', partition: 5, offset: 41 });
    const refused = insertDeadLetters(batch, [{ row: 0, error: 'CHECK failed' }], 'now');
    const hash = Buffer.alloc(12);
    hash.writeBigUInt64LE(9n);
    hash.writeUInt32LE(3, 8);
    expect(refused.letters).toEqual([
      {
        stage: 'insert',
        error: 'CHECK failed',
        topic: 'orders',
        partition: 2,
        offset: 40,
        message: '{"id":1,"name":"a\\nb"}',
        at: 'now',
        // Recorded again when the dead letter is replayed.
        dedupKey: { hash, time: 1_000 },
      },
    ]);
    expect(decodeForgets(refused.forgets)).toEqual([{ hash, time: 1_000 }]);
    // A row without a key: a dead letter without one.
    const keyless = insertDeadLetters(batch, [{ row: 1, error: 'x' }], 'now');
    expect(keyless.letters[0]).not.toHaveProperty('dedupKey');
    // Entries stored before rows carried sources: dead letters without a position.
    const old = decodeOutboxBatch(encodeOutboxBatch({ ...meta, body, count: 2 }), job);
    const letter = insertDeadLetters(old, [{ row: 1, error: 'x' }], 'now');
    expect(letter.letters[0]).toMatchObject({
      topic: '',
      partition: '',
      offset: '',
      message: '{"id":2}',
    });
    expect(letter.forgets).toHaveLength(0);
  });

  it('reads entries of the earlier shape, rows packed as objects', () => {
    expect(decodeOutboxBatch(pack(entry), job)).toEqual(expected);
  });

  it('refuses what is not a batch, or a batch stored under another id', () => {
    const bad = [
      Buffer.from([0xc1]),
      pack('rows'),
      pack({ database: 'default', table: 't' }),
      pack({ database: 'default', table: 't', rows: [], batchId: 'orders.3.1.8' }),
    ];
    for (const data of bad) {
      expect(() => decodeOutboxBatch(data, job)).toThrow(MalformedBatchError);
    }
  });
});

describe('checkBatchJob', () => {
  it('keeps exactly the three fields of a batch job', () => {
    expect(checkBatchJob({ ...job, extra: true })).toEqual(job);
  });

  it('refuses data that could point at the wrong keys', () => {
    for (const data of [null, 'x', { ...job, partition: '3' }, { ...job, partition: 1.5 }, {}]) {
      expect(() => checkBatchJob(data)).toThrow(MalformedBatchError);
    }
  });
});
