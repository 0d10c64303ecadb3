import { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import { type CheckpointWrite, readCheckpoint, writeCheckpoint } from '@sluice/redis/scripts';
import { indexField, packIndexRecords } from '@sluice/telemetry';
import { uniqueName } from './support/pipeline-fixture';
import { testStackEnv } from './support/stack-env';

const LEASE = 'owner-1:1';
const BUCKET = 1_700_000_100_000;
const VALUE = Buffer.alloc(15, 1);

/** `n` index records: alternating 8-byte hash field and value (packed in one argument when sent). */
function indexFields(n: number, offset = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(indexField(BigInt(offset + i)), VALUE);
  return out;
}

describe('checkpoint script with the find-my-event index', () => {
  let redis: Redis;
  const pipeline = uniqueName('ckidx');

  const write = (seq: number, fields: Buffer[], maxRecords: number): Promise<unknown> => {
    const w: CheckpointWrite = {
      pipeline,
      partition: 0,
      leaseValue: LEASE,
      cursor: `${seq}-0`,
      next: new Map([['t/0', seq * 1000]]),
      seq,
      gen: seq,
      counters: { consumed: fields.length / 2 },
      deadLetters: [],
      deadLetterMaxLen: 100,
      eventIndex: {
        bucketStart: BUCKET,
        expireAt: Date.now() + 600_000,
        maxRecords,
        count: fields.length / 2,
        records: packIndexRecords(fields),
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

  it('commits a flush of 160k index records without a stack overflow', async () => {
    await write(1, indexFields(160_000), 1_000_000);
    expect(await redis.hlen(keys.eventIndex(pipeline, 0, BUCKET))).toBe(160_000);
    expect((await readCheckpoint(redis, pipeline, 0))?.cursor).toBe('1-0');
  }, 120_000);

  it('splits the packed records whatever their lengths (duplicate fields, traces, reasons)', async () => {
    const bucket = keys.eventIndex(pipeline, 0, BUCKET);
    await redis.del(bucket);
    const fields: Buffer[] = [];
    for (let i = 0; i < 450; i++) {
      const value = Buffer.alloc(15 + (i % 3) * 16 + (i % 7 === 0 ? 200 : 0), i % 256);
      fields.push(indexField(BigInt(i) * 977n - 5n, i % 2 === 1), value);
    }
    await write(2, fields, 1_000_000);
    expect(await redis.hlen(bucket)).toBe(450);
    for (let i = 0; i < fields.length; i += 2) {
      expect(await redis.hgetBuffer(bucket, fields[i]!)).toEqual(fields[i + 1]);
    }
  }, 60_000);

  it('stops indexing a full bucket and still commits the checkpoint', async () => {
    const bucket = keys.eventIndex(pipeline, 0, BUCKET);
    await redis.del(bucket);
    const cap = 1_000;
    await write(3, indexFields(700), cap);
    expect(await redis.hlen(bucket)).toBe(700);
    // Checked per chunk of 200 records: at most one chunk past the cap.
    await write(4, indexFields(700, 700), cap);
    const afterSecond = await redis.hlen(bucket);
    expect(afterSecond).toBeGreaterThanOrEqual(cap);
    expect(afterSecond).toBeLessThanOrEqual(cap + 200);
    await write(5, indexFields(700, 1_400), cap);
    expect(await redis.hlen(bucket)).toBe(afterSecond);
    const checkpoint = await readCheckpoint(redis, pipeline, 0);
    expect(checkpoint?.cursor).toBe('5-0');
    expect(checkpoint?.seq).toBe(5);
    expect(await redis.pttl(bucket)).toBeGreaterThan(0);
  }, 60_000);
});
