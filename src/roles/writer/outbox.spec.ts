import { pack } from 'msgpackr';
import { checkBatchJob, decodeOutboxBatch, MalformedBatchError } from './outbox';

const job = { pipeline: 'orders', partition: 3, batchId: 'orders.3.1.7' };

describe('decodeOutboxBatch', () => {
  it('reads the entry the owner packs', () => {
    const entry = {
      ...job,
      database: 'default',
      table: 'orders',
      rows: [{ id: 1, name: 'a' }, { id: 2 }],
      createdAt: 1_700_000_000_000,
    };
    expect(decodeOutboxBatch(pack(entry), job)).toEqual(entry);
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
