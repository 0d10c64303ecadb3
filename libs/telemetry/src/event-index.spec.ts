import {
  EVENT_INDEX_BUCKET_MS,
  findInLog,
  indexBucketOf,
  indexBucketsToRead,
  indexExpireAt,
  indexHashBytes,
  type IndexRecord,
  IndexRecordWriter,
  logSegments,
  SEGMENT_HEADER,
} from './event-index';
import { reportOutcomes } from './event-report';

const TP = (trace: string, flags: string) => `00-${trace}-00f067aa0ba902b7-${flags}`;
const AT = 1_700_000_000_999;

describe('find-my-event log segments', () => {
  it('reads version 2 segments, written before the run was part of the batch', () => {
    const writer = new IndexRecordWriter();
    writer.add(7n, 'written');
    writer.add(8n, 'dead-lettered', 'parse', undefined, 'bad');
    const v3 = writer.segment({ epoch: 4, run: 7, seq: 12 }, AT);
    // Version 2: the same without the run (bytes 37-40).
    const v2 = Buffer.concat([v3.subarray(0, 37), v3.subarray(41)]);
    v2[0] = 2;
    v2.writeUInt32LE(v2.length, 1);
    const base = { epoch: 4, seq: 12, at: 1_700_000_000_000 };
    const log = Buffer.concat([v2, v3]);
    expect(findInLog(v2, 7n)).toEqual([{ ...base, stage: 'written' }]);
    expect(findInLog(log, 8n)).toEqual([
      { ...base, run: 7, stage: 'dead-lettered', deadLetterStage: 'parse', reason: 'bad' },
    ]);
    expect(logSegments(log)).toEqual([
      { records: 2, bytes: v2.length },
      { records: 2, bytes: v3.length },
    ]);
  });

  it('indexes a 96-bit dedup key hash by its low 64 bits, as records of 64-bit hashes were', () => {
    const writer = new IndexRecordWriter();
    const hash = 0x0badf00d_0123456789abcdefn;
    writer.add(hash, 'written');
    writer.add(hash, 'dead-lettered', 'insert', undefined, 'refused');
    const log = writer.segment({ epoch: 1, run: 1, seq: 1 }, AT);
    const base = { epoch: 1, run: 1, seq: 1, at: 1_700_000_000_000 };
    const stages = (h: bigint) => findInLog(log, h).map((r) => r.stage);
    expect(stages(hash)).toEqual(['written', 'dead-lettered']);
    expect(findInLog(log, hash)[0]).toEqual({ ...base, stage: 'written' });
    // A record written by a version that indexed the 64-bit hash is the same record.
    expect(stages(0x0123456789abcdefn)).toEqual(['written', 'dead-lettered']);
    expect(stages(0x0123456789abcdeen)).toEqual([]);
  });

  it('finds every stage, with and without trace id and reason, stamped at flush', () => {
    const writer = new IndexRecordWriter();
    writer.add(7n, 'written', undefined, TP('ab'.repeat(16), '03'));
    writer.add(-1n, 'duplicate', undefined, TP('cd'.repeat(16), '00'));
    writer.add(9n, 'dead-lettered', 'transform', 'not a traceparent', 'é'.repeat(300));
    writer.add(10n, 'dead-lettered', 'dedup');
    for (let i = 0; i < 5_000; i++) writer.add(BigInt(1000 + i), i % 2 ? 'filtered' : 'written');
    writer.add(11n, 'duplicate');
    expect(writer.count).toBe(5_005);
    const log = writer.segment({ epoch: 4, run: 7, seq: 12 }, AT);
    const base = { epoch: 4, run: 7, seq: 12, at: 1_700_000_000_000 };
    expect(findInLog(log, 7n)).toEqual([
      { ...base, stage: 'written', traceId: 'ab'.repeat(16), sampled: true },
    ]);
    expect(findInLog(log, -1n)).toEqual([
      { ...base, stage: 'duplicate', traceId: 'cd'.repeat(16), sampled: false },
    ]);
    expect(findInLog(log, 2n ** 64n - 1n)).toEqual(findInLog(log, -1n));
    expect(findInLog(log, 9n)).toEqual([
      {
        ...base,
        stage: 'dead-lettered',
        deadLetterStage: 'transform',
        reason: 'é'.repeat(100), // cut at 200 bytes on a character boundary
      },
    ]);
    expect(findInLog(log, 10n)).toEqual([
      { ...base, stage: 'dead-lettered', deadLetterStage: 'dedup' },
    ]);
    expect(findInLog(log, 1001n)).toEqual([{ ...base, stage: 'filtered' }]);
    expect(findInLog(log, 5998n)).toEqual([{ ...base, stage: 'written' }]);
    expect(findInLog(log, 11n)).toEqual([{ ...base, stage: 'duplicate' }]);
    expect(findInLog(log, 6000n)).toEqual([]);
    expect(logSegments(log)).toEqual([{ records: 5_005, bytes: log.length }]);
  });

  it('is compact: 8 bytes per plain outcome plus one header per checkpoint', () => {
    const writer = new IndexRecordWriter();
    for (let i = 0; i < 10_000; i++) writer.add(BigInt(i), 'written');
    expect(writer.segment({ epoch: 1, run: 7, seq: 1 }, 0)).toHaveLength(SEGMENT_HEADER + 80_000);
  });

  it('matches a hash only at an 8-byte boundary of its group', () => {
    const writer = new IndexRecordWriter();
    // Two hashes whose bytes, side by side, contain a third one shifted by 4 bytes.
    writer.add(0x0000000200000001n, 'written');
    writer.add(0x0000000400000003n, 'filtered');
    const log = writer.segment({ epoch: 1, run: 7, seq: 1 }, 0);
    expect(findInLog(log, 0x0000000300000002n)).toEqual([]);
    expect(findInLog(log, 0x0000000400000003n).map((r) => r.stage)).toEqual(['filtered']);
  });

  it('keeps the latest duplicate apart from the latest other outcome across segments', () => {
    const writer = new IndexRecordWriter();
    const segments: Buffer[] = [];
    const flush = (seq: number) => {
      segments.push(writer.segment({ epoch: 1, run: 7, seq }, seq * 1000));
      writer.reset();
    };
    writer.add(5n, 'written');
    flush(1);
    writer.add(5n, 'duplicate');
    flush(2);
    writer.add(5n, 'duplicate', undefined, TP('ef'.repeat(16), '01'));
    writer.add(6n, 'filtered');
    flush(3);
    const log = Buffer.concat(segments);
    expect(logSegments(log).map((s) => s.records)).toEqual([1, 1, 2]);
    expect(findInLog(log, 5n)).toEqual([
      { stage: 'written', epoch: 1, run: 7, seq: 1, at: 1000 },
      {
        stage: 'duplicate',
        epoch: 1,
        run: 7,
        seq: 3,
        at: 3000,
        traceId: 'ef'.repeat(16),
        sampled: true,
      },
    ]);
    // A later non-duplicate outcome replaces the earlier one, as the per-key fields did.
    writer.add(6n, 'written');
    flush(4);
    expect(findInLog(Buffer.concat(segments), 6n)).toEqual([
      { stage: 'written', epoch: 1, run: 7, seq: 4, at: 4000 },
    ]);
    // A torn or foreign tail is ignored, what comes before it is read.
    const torn = Buffer.concat([log, Buffer.from([3, 200, 0, 0, 0])]);
    expect(findInLog(torn, 5n)).toHaveLength(2);
  });

  it('hands out segments that the next batch does not overwrite', () => {
    const writer = new IndexRecordWriter();
    writer.add(1n, 'written');
    const first = writer.segment({ epoch: 1, run: 7, seq: 1 }, 0);
    writer.reset();
    writer.add(2n, 'written');
    writer.segment({ epoch: 1, run: 7, seq: 2 }, 0);
    expect(findInLog(first, 1n)).toHaveLength(1);
    expect(indexHashBytes(5n)).toEqual(Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]));
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
  const idOf = (p: number, r: IndexRecord) => `p.${p}.${r.epoch}.${r.seq}`;

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
