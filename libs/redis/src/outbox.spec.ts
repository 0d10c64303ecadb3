import { pack } from 'msgpackr';
import { batchRows, decodeOutboxBatch, encodeOutboxBatch, MalformedBatchError } from './outbox';
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
