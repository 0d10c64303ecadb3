import {
  decodeIndexRecord,
  encodeIndexRecord,
  EVENT_INDEX_BUCKET_MS,
  indexBucketOf,
  indexBucketsToRead,
  indexExpireAt,
  indexField,
  type IndexRecord,
  IndexRecordWriter,
  packIndexRecords,
  unpackIndexRecords,
} from './event-index';
import { reportOutcomes } from './event-report';

describe('event index records', () => {
  it('round-trips every stage, with and without trace id and reason', () => {
    const records: IndexRecord[] = [
      {
        stage: 'written',
        epoch: 3,
        seq: 77,
        at: 1_700_000_000_000,
        traceId: 'ab'.repeat(16),
        sampled: true,
      },
      { stage: 'filtered', epoch: 1, seq: 1, at: 1_700_000_001_000 },
      {
        stage: 'duplicate',
        epoch: 2,
        seq: 9,
        at: 1_700_000_002_000,
        traceId: 'cd'.repeat(16),
        sampled: false,
      },
      {
        stage: 'dead-lettered',
        deadLetterStage: 'transform',
        reason: 'column amount: not a number',
        epoch: 2,
        seq: 10,
        at: 1_700_000_003_000,
      },
    ];
    for (const record of records)
      expect(decodeIndexRecord(encodeIndexRecord(record))).toEqual(record);
  });

  it('is compact: 15 bytes, 31 with a trace id; reasons are cut at 200 bytes on a character boundary', () => {
    expect(encodeIndexRecord({ stage: 'written', epoch: 1, seq: 1, at: 0 })).toHaveLength(15);
    expect(
      encodeIndexRecord({ stage: 'written', epoch: 1, seq: 1, at: 0, traceId: 'ab'.repeat(16) }),
    ).toHaveLength(31);
    const long = encodeIndexRecord({
      stage: 'dead-lettered',
      deadLetterStage: 'parse',
      epoch: 1,
      seq: 1,
      at: 0,
      reason: 'é'.repeat(500),
    });
    expect(long.length).toBeLessThanOrEqual(215);
    expect(decodeIndexRecord(long)?.reason).toBe('é'.repeat(100));
  });

  it('uses 8-byte fields, 9 for the duplicate of a key', () => {
    expect(indexField(5n)).toEqual(Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]));
    expect(indexField(2n ** 64n - 1n, true)).toEqual(
      Buffer.from([255, 255, 255, 255, 255, 255, 255, 255, 0x64]),
    );
  });

  it('reads every bucket that can hold a record younger than the retention', () => {
    const now = 10 * EVENT_INDEX_BUCKET_MS + 5;
    const starts = indexBucketsToRead(now, 2 * EVENT_INDEX_BUCKET_MS);
    expect(starts[0]).toBe(indexBucketOf(now));
    // a record written at the end of the oldest listed bucket is still within retention
    const oldest = starts[starts.length - 1]!;
    expect(indexExpireAt(oldest, 2 * EVENT_INDEX_BUCKET_MS)).toBeGreaterThan(now);
    expect(
      indexExpireAt(oldest - EVENT_INDEX_BUCKET_MS, 2 * EVENT_INDEX_BUCKET_MS),
    ).toBeLessThanOrEqual(now);
  });
});

describe('reportOutcomes', () => {
  const idOf = (p: number, e: number, s: number) => `p.${p}.${e}.${s}`;

  it('reports newest first, pending batches, and names the batch a duplicate repeats', () => {
    const reports = reportOutcomes(
      [
        {
          partition: 2,
          record: {
            stage: 'written',
            epoch: 1,
            seq: 4,
            at: 1000,
            traceId: 'ab'.repeat(16),
            sampled: true,
          },
        },
        { partition: 2, record: { stage: 'duplicate', epoch: 1, seq: 5, at: 1000 } },
      ],
      idOf,
      new Set(['p.2.1.4']),
    );
    expect(reports.map((r) => r.stage)).toEqual(['duplicate', 'pending']);
    expect(reports[0]?.reason).toContain('p.2.1.4');
    expect(reports[1]).toMatchObject({
      batchId: 'p.2.1.4',
      traceId: 'ab'.repeat(16),
      sampled: true,
    });
  });

  it('gives the stage and error of a dead letter', () => {
    const [report] = reportOutcomes(
      [
        {
          partition: 0,
          record: {
            stage: 'dead-lettered',
            deadLetterStage: 'transform',
            reason: 'bad',
            epoch: 1,
            seq: 1,
            at: 5000,
          },
        },
      ],
      idOf,
      new Set(),
    );
    expect(report).toMatchObject({
      stage: 'dead-lettered',
      deadLetterStage: 'transform',
      reason: 'transform: bad',
    });
  });
});

describe('IndexRecordWriter', () => {
  it('writes the same records as encodeIndexRecord, stamped at flush, in one buffer', () => {
    const writer = new IndexRecordWriter();
    const tp = `00-${'ab'.repeat(16)}-00f067aa0ba902b7-03`;
    writer.add(7n, 'written', undefined, tp);
    writer.add(-1n, 'duplicate', undefined, `00-${'cd'.repeat(16)}-00f067aa0ba902b7-00`);
    writer.add(9n, 'dead-lettered', 'transform', 'not a traceparent', 'é'.repeat(300));
    for (let i = 0; i < 5_000; i++) writer.add(BigInt(i), 'filtered');
    expect(writer.count).toBe(5_003);
    const fields = writer.fields(4, 12, 1_700_000_000_999);
    expect(fields).toHaveLength(2 * 5_003);
    const base = { epoch: 4, seq: 12, at: 1_700_000_000_000 };
    expect(fields[0]).toEqual(indexField(7n));
    expect(fields[1]).toEqual(
      encodeIndexRecord({ ...base, stage: 'written', traceId: 'ab'.repeat(16), sampled: true }),
    );
    expect(fields[2]).toEqual(indexField(-1n, true));
    expect(decodeIndexRecord(fields[3]!)).toEqual({
      ...base,
      stage: 'duplicate',
      traceId: 'cd'.repeat(16),
      sampled: false,
    });
    expect(fields[5]).toEqual(
      encodeIndexRecord({
        ...base,
        stage: 'dead-lettered',
        deadLetterStage: 'transform',
        reason: 'é'.repeat(300),
      }),
    );
    expect(fields.at(-2)).toEqual(indexField(4_999n));
    expect(decodeIndexRecord(fields.at(-1)!)).toEqual({ ...base, stage: 'filtered' });
    // The packed argument holds the same records, length-prefixed, in order.
    const packed = writer.packed(4, 12, 1_700_000_000_999);
    expect(unpackIndexRecords(packed)).toEqual(fields);
    expect(packIndexRecords(fields)).toEqual(packed);
    expect(packed[0]).toBe(8);
    expect(packed[1]).toBe(fields[1]!.length);
    writer.reset();
    expect(writer.count).toBe(0);
    // Views handed out before the reset are not overwritten by the next batch.
    writer.add(1n, 'filtered');
    expect(fields[0]).toEqual(indexField(7n));
  });
});
