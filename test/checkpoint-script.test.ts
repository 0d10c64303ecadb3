import { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import {
  type CheckpointWrite,
  readCheckpoint,
  StaleCheckpointError,
  writeCheckpoint,
} from '@sluice/redis/scripts';
import { testStackEnv } from './support/stack-env';

// The checkpoint script on the real Redis: a step sent twice (a reply lost to a connection reset,
// the command re-sent) must change nothing the second time.
describe('checkpoint script', () => {
  let redis: Redis;
  const pipeline = `ckpt-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;
  const lease = 'owner-a:1';

  beforeAll(async () => {
    redis = new Redis(testStackEnv().REDIS_URL);
    await redis.set(keys.lease(pipeline, 0), lease);
  });
  afterAll(async () => {
    const found = await redis.keys(`{sl:${pipeline}:0}*`);
    if (found.length > 0) await redis.del(...found);
    await redis.quit();
  });

  const step = (gen: number, seq: number): CheckpointWrite => ({
    pipeline,
    partition: 0,
    leaseValue: lease,
    batch: { id: `${pipeline}.0.1.${seq}`, payload: Buffer.from(`rows ${seq}`) },
    cursor: '0-0',
    next: new Map([['t/0', 10 * gen]]),
    seq,
    gen,
    counters: { consumed: 5, joined: 2 },
    deadLetters: [
      { stage: 'join', error: 'late', topic: 't', partition: 0, offset: 3, message: '{}', at: 1 },
    ],
    dedup: {
      appends: new Map([[1_000, Buffer.alloc(12, gen)]]),
      expired: [],
      expireAt: () => Date.now() + 60_000,
    },
    join: {
      appends: [{ side: 'left', start: 0, data: Buffer.from('rec') }],
      matched: [{ side: 'right', start: 0, data: Buffer.alloc(4) }],
      released: [],
      meta: '{"wm":null,"src":{},"parts":{}}',
    },
  });

  it('applies a step once even when it is sent twice, and refuses a generation out of order', async () => {
    expect((await writeCheckpoint(redis, step(1, 1))).outcome).toBe('applied');
    expect((await writeCheckpoint(redis, step(1, 1))).outcome).toBe('already-applied');

    expect(await redis.hgetall(keys.counters(pipeline, 0))).toEqual({ consumed: '5', joined: '2' });
    expect(await redis.xlen(keys.deadLetters(pipeline, 0))).toBe(1);
    expect(await redis.strlen(keys.dedupBucket(pipeline, 0, 1_000))).toBe(12);
    expect(await redis.get(keys.joinBucket(pipeline, 0, 'left', 0))).toBe('rec');
    expect(await redis.strlen(keys.joinMatched(pipeline, 0, 'right', 0))).toBe(4);
    expect((await readCheckpoint(redis, pipeline, 0))?.gen).toBe(1);

    // A generation that does not follow the stored one: nothing written.
    await expect(writeCheckpoint(redis, step(3, 2))).rejects.toBeInstanceOf(StaleCheckpointError);
    expect(await redis.xlen(keys.deadLetters(pipeline, 0))).toBe(1);

    expect((await writeCheckpoint(redis, step(2, 2))).outcome).toBe('applied');
    expect(await redis.hget(keys.counters(pipeline, 0), 'consumed')).toBe('10');
    expect(await redis.strlen(keys.dedupBucket(pipeline, 0, 1_000))).toBe(24);
    expect(await redis.get(keys.joinBucket(pipeline, 0, 'left', 0))).toBe('recrec');
  });

  it('writes the join index anew once releases left it small, so it is compact again', async () => {
    const starts = Array.from({ length: 200 }, (_, i) => 10_000 + i * 1_000);
    const base = {
      ...step(3, 2),
      batch: undefined,
      counters: {},
      deadLetters: [],
      dedup: undefined,
    };
    await writeCheckpoint(redis, {
      ...base,
      join: {
        appends: starts.map((start) => ({ side: 'left', start, data: Buffer.from('r') })),
        matched: [],
        released: [],
        meta: '',
      },
    });
    const index = keys.joinIndex(pipeline, 0);
    expect(await redis.object('ENCODING', index)).toBe('skiplist');
    await writeCheckpoint(redis, {
      ...base,
      gen: 4,
      join: {
        appends: [],
        matched: [],
        released: starts.slice(0, 199).map((start) => ({ side: 'left', start })),
        meta: '',
      },
    });
    expect(await redis.zrange(index, 0, -1)).toEqual(['L:0', `L:${starts[199]}`]);
    expect(await redis.object('ENCODING', index)).toBe('listpack');
  });

  it('zeroes forgotten dedup keys where they stand, before appends, and consumes the forget list', async () => {
    const hash = (n: number) => Buffer.alloc(12, n);
    // 64-bit records in the string of a version before 96-bit hashes.
    const hash64 = (n: number) => Buffer.alloc(8, n);
    const bucket = keys.dedupBucket(pipeline, 0, 50_000);
    const bucket64 = keys.dedupBucket64(pipeline, 0, 50_000);
    const list = keys.dedupForgets(pipeline, 0);
    const base = {
      ...step(5, 2),
      batch: undefined,
      counters: {},
      deadLetters: [],
      join: undefined,
    };
    // An unaligned match (bytes 18-29 read as 0x0303... across two entries) must stay.
    const stored = Buffer.concat([
      hash(1),
      Buffer.from([9, 9, 9, 9, 9, 9, 3, 3, 3, 3, 3, 3]),
      hash(3),
      hash(2),
    ]);
    await redis.set(bucket, stored);
    await redis.set(bucket64, Buffer.concat([hash64(1), hash64(4), hash64(2)]));
    await redis.zadd(keys.dedupIndex(pipeline, 0), 50_000, '50000');
    await redis.set(list, 'AAAA');
    const first = await writeCheckpoint(redis, {
      ...base,
      dedup: {
        appends: new Map(),
        expired: [],
        expireAt: () => Date.now() + 60_000,
      },
    });
    // The list as it stands is handed to the actor; nothing consumed yet.
    expect(first.forgets.toString()).toBe('AAAA');
    await redis.append(list, 'BB');
    const second = await writeCheckpoint(redis, {
      ...base,
      gen: 6,
      forgetsConsumed: 4,
      dedup: {
        appends: new Map([[50_000, hash(3)]]),
        forgotten: new Map([[50_000, Buffer.concat([hash(3), hash(1), hash(7)])]]),
        forgottenLegacy: new Map([[50_000, Buffer.concat([hash64(4), hash64(9)])]]),
        expired: [],
        expireAt: () => Date.now() + 60_000,
      },
    });
    expect(second.forgets.toString()).toBe('BB');
    expect(await redis.getBuffer(bucket)).toEqual(
      Buffer.concat([
        Buffer.alloc(12),
        Buffer.from([9, 9, 9, 9, 9, 9, 3, 3, 3, 3, 3, 3]),
        Buffer.alloc(12),
        hash(2),
        hash(3),
      ]),
    );
    // The old string: zeroed by 8-byte records, never appended to.
    expect(await redis.getBuffer(bucket64)).toEqual(
      Buffer.concat([hash64(1), Buffer.alloc(8), hash64(2)]),
    );
    // Expiry deletes the bucket's strings of both formats and its index member.
    await writeCheckpoint(redis, {
      ...base,
      gen: 7,
      forgetsConsumed: 2,
      dedup: { appends: new Map(), expired: [50_000], expireAt: () => Date.now() + 60_000 },
    });
    expect(await redis.exists(list)).toBe(0);
    expect(await redis.exists(bucket, bucket64)).toBe(0);
    expect(await redis.zrange(keys.dedupIndex(pipeline, 0), 0, -1)).not.toContain('50000');
  });
});
