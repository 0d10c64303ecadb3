import { Redis } from 'ioredis';
import {
  deadLetterEntry,
  foldRemovedPartitions,
  keys,
  readDeadLetterBuffers,
  type DeadLetter,
} from '@sluice/redis';
import { testStackEnv } from './support/stack-env';

// A reset to fewer partitions moves the removed partitions' dead letters and counters
// (libs/redis/src/reset-fold.ts) on the real Redis, including after a crash between adding an
// entry to its new partition and deleting it from the old one: the reset sent again must move
// each dead letter once and add the counters once.
describe('folding removed partitions into the remaining ones', () => {
  let redis: Redis;
  const pipeline = `fold-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;

  beforeAll(() => {
    redis = new Redis(testStackEnv().REDIS_URL);
  });
  afterAll(async () => {
    const found = await redis.keys(`{sl:${pipeline}:*`);
    if (found.length > 0) for (const key of found) await redis.del(key);
    await redis.quit();
  });

  const letter = (n: number, i: number): DeadLetter => ({
    stage: 'parse',
    error: 'bad',
    topic: 't',
    partition: n,
    offset: i,
    // Not UTF-8 for one of them: the bytes must travel unaltered.
    message: i === 0 ? Buffer.from([0xff, 0xfe, n]) : `broken ${n}/${i}`,
    at: 1_000 + i,
  });

  async function listed(n: number) {
    const entries = await redis.xrangeBuffer(keys.deadLetters(pipeline, n), '-', '+');
    return entries.map(([id, fields]) => {
      const { message, offset, partition, at } = readDeadLetterBuffers(id.toString(), n, fields);
      return { message, offset, partition, at };
    });
  }

  it('moves each dead letter and the counters once, a crash mid-way included', async () => {
    await redis.xadd(keys.deadLetters(pipeline, 1), '*', ...deadLetterEntry(letter(1, 0)));
    for (const n of [2, 3]) {
      for (let i = 0; i < 3; i++)
        await redis.xadd(keys.deadLetters(pipeline, n), '*', ...deadLetterEntry(letter(n, i)));
      await redis.hset(keys.counters(pipeline, n), { consumed: 10 * n, deadLettered: 3 });
    }
    await redis.hset(keys.counters(pipeline, 1), { consumed: 5, deadLettered: 1 });
    const all = [...(await listed(1)), ...(await listed(2)), ...(await listed(3))];

    // The state a crash leaves after the first entry of 3 and 3's counters were added to 1 but
    // not yet removed from 3 (what the fold's scripts write, by hand).
    const oldest = await redis.xrangeBuffer(keys.deadLetters(pipeline, 3), '-', '+', 'COUNT', 1);
    const [firstId, firstFields] = oldest[0]!;
    await redis.xadd(keys.deadLetters(pipeline, 1), '*', ...firstFields);
    await redis.hset(keys.resetFold(pipeline, 1), `3/${firstId.toString()}`, '1');
    await redis.hincrby(keys.counters(pipeline, 1), 'consumed', 30);
    await redis.hincrby(keys.counters(pipeline, 1), 'deadLettered', 3);
    await redis.hset(keys.resetFold(pipeline, 1), '3/counters', '1');

    const folded = await foldRemovedPartitions(redis, pipeline, 2);
    expect(folded).toEqual([
      { from: 2, to: 0, letters: 3 },
      { from: 3, to: 1, letters: 2 },
    ]);
    // Sent again (a crash after the fold, before the drop): nothing more.
    expect(await foldRemovedPartitions(redis, pipeline, 2)).toEqual([]);

    const moved = [...(await listed(0)), ...(await listed(1))];
    const byOffset = (a: { partition: number | null; offset: number | null }, b: typeof a) =>
      (a.partition ?? 0) - (b.partition ?? 0) || (a.offset ?? 0) - (b.offset ?? 0);
    expect(moved.sort(byOffset)).toEqual(all.sort(byOffset));
    expect(await redis.exists(keys.deadLetters(pipeline, 2), keys.deadLetters(pipeline, 3))).toBe(
      0,
    );
    expect(await redis.exists(keys.counters(pipeline, 2), keys.counters(pipeline, 3))).toBe(0);
    expect(await redis.hgetall(keys.counters(pipeline, 0))).toEqual({
      consumed: '20',
      deadLettered: '3',
    });
    expect(await redis.hgetall(keys.counters(pipeline, 1))).toEqual({
      consumed: '35',
      deadLettered: '4',
    });
  });
});
