import { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import { type CheckpointWrite, readCheckpoint, writeCheckpoint } from '@sluice/redis/scripts';
import { findInLog, IndexRecordWriter, logSegments, SEGMENT_HEADER } from '@sluice/telemetry';
import { uniqueName } from './support/pipeline-fixture';
import { testStackEnv } from './support/stack-env';

const LEASE = 'owner-1:1';
const BUCKET = 1_700_000_100_000;
const AT = 1_700_000_200_000;

/** A writer holding `n` plain written outcomes, hashes offset .. offset + n - 1. */
function written(n: number, offset = 0): IndexRecordWriter {
  const writer = new IndexRecordWriter();
  for (let i = 0; i < n; i++) writer.add(BigInt(offset + i), 'written');
  return writer;
}

describe('checkpoint script with the find-my-event log', () => {
  let redis: Redis;
  const pipeline = uniqueName('ckidx');
  const log = keys.eventIndex(pipeline, 0, BUCKET);

  const write = (seq: number, writer: IndexRecordWriter, maxBytes: number): Promise<unknown> => {
    const w: CheckpointWrite = {
      pipeline,
      partition: 0,
      leaseValue: LEASE,
      cursor: `${seq}-0`,
      next: new Map([['t/0', seq * 1000]]),
      seq,
      gen: seq,
      counters: { consumed: writer.count },
      deadLetters: [],
      eventIndex: {
        bucketStart: BUCKET,
        expireAt: Date.now() + 600_000,
        maxBytes,
        count: writer.count,
        segment: writer.segment({ epoch: 1, run: 7, seq }, AT),
      },
    };
    return writeCheckpoint(redis, w);
  };

  beforeAll(async () => {
    redis = new Redis(testStackEnv().REDIS_URL);
    await redis.set(keys.lease(pipeline, 0), LEASE, 'PX', 600_000);
  });

  afterAll(async () => {
    const found = await redis.keys(`*${pipeline}*`);
    if (found.length > 0) await redis.del(...found);
    await redis.quit();
  });

  it('commits a flush of 160k records as one segment of 8 bytes per outcome', async () => {
    await write(1, written(160_000), 1 << 30);
    const stored = (await redis.getBuffer(log))!;
    expect(logSegments(stored)).toEqual([
      { records: 160_000, bytes: SEGMENT_HEADER + 8 * 160_000 },
    ]);
    expect(findInLog(stored, 159_999n)).toEqual([
      { stage: 'written', epoch: 1, run: 7, seq: 1, at: AT },
    ]);
    expect((await readCheckpoint(redis, pipeline, 0))?.cursor).toBe('1-0');
    expect(await redis.pttl(log)).toBeGreaterThan(0);
  }, 120_000);

  it('appends one segment per checkpoint; lookups see every outcome and its extras', async () => {
    await redis.del(log);
    const writer = new IndexRecordWriter();
    for (let i = 0; i < 450; i++) {
      const trace = i % 3 === 0 ? `00-${'ab'.repeat(16)}-00f067aa0ba902b7-01` : undefined;
      const reason = i % 7 === 0 ? 'é'.repeat(150) : undefined;
      writer.add(
        BigInt(i) * 977n - 5n,
        i % 2 === 1 ? 'duplicate' : 'written',
        undefined,
        trace,
        reason,
      );
    }
    await write(2, writer, 1 << 30);
    const dup = new IndexRecordWriter();
    dup.add(-5n, 'duplicate');
    await write(3, dup, 1 << 30);
    const stored = (await redis.getBuffer(log))!;
    expect(logSegments(stored).map((s) => s.records)).toEqual([450, 1]);
    expect(findInLog(stored, -5n)).toEqual([
      {
        stage: 'written',
        epoch: 1,
        run: 7,
        seq: 2,
        at: AT,
        traceId: 'ab'.repeat(16),
        sampled: true,
        reason: 'é'.repeat(100),
      },
      { stage: 'duplicate', epoch: 1, run: 7, seq: 3, at: AT },
    ]);
    for (let i = 1; i < 450; i++) {
      const [record] = findInLog(stored, BigInt(i) * 977n - 5n);
      expect(record?.stage).toBe(i % 2 === 1 ? 'duplicate' : 'written');
      expect(record?.traceId !== undefined).toBe(i % 3 === 0);
    }
  }, 60_000);

  it('stops appending to a full log, never past its cap, and still commits the checkpoint', async () => {
    await redis.del(log);
    const cap = 20_000;
    await write(4, written(1_000), cap); // 8,041 bytes
    await write(5, written(1_000, 1_000), cap); // 16,082
    expect(await redis.strlen(log)).toBe(16_082);
    await write(6, written(1_000, 2_000), cap); // would be 24,123: skipped whole
    await write(7, written(400, 3_000), cap); // 19,323: fits
    expect(await redis.strlen(log)).toBe(19_323);
    const stored = (await redis.getBuffer(log))!;
    expect(findInLog(stored, 2_500n)).toEqual([]);
    expect(findInLog(stored, 3_399n)).toHaveLength(1);
    const checkpoint = await readCheckpoint(redis, pipeline, 0);
    expect(checkpoint?.cursor).toBe('7-0');
    expect(checkpoint?.seq).toBe(7);
    expect(await redis.pttl(log)).toBeGreaterThan(0);
  }, 60_000);
});
