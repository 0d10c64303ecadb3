/**
 * Redis memory per live dedup key, written the way the actor writes it: real 96-bit key hashes
 * (`Hasher.hash96`) through the dedup state, each batch's new keys handed to the checkpoint script
 * (`writeCheckpoint`: APPEND of 12-byte records to one string per time bucket, bucket expiry,
 * the bucket index). Reports MEMORY USAGE of the bucket strings and the index over the keys held.
 * Usage: `npm run build && REDIS_URL=redis://127.0.0.1:PORT node dist/tools/dedup-memory.js`
 * against a scratch Redis (it writes and deletes `{sl:dedup-memory-*}` keys).
 */
import { Redis } from 'ioredis';
import { loadHasher } from '@sluice/pipeline';
import { DedupState } from '@sluice/pipeline/dedup';
import { keys } from '@sluice/redis';
import { writeCheckpoint } from '@sluice/redis/scripts';

/**
 * Keys spread evenly over one window: its buckets (16, or 17 with the edge) fill alike. APPEND
 * grows a string below 1 MB to twice what it holds, above by 1 MB more: a bucket string holds
 * 12 bytes per key plus up to as much again unused while small, up to 1 MB unused once large.
 * The cases cover a small state, buckets just under 1 MB (near the worst) and just over.
 */
const CASES: readonly { keys: number }[] = [
  { keys: 20_000 },
  { keys: 1_000_000 },
  { keys: 4_000_000 },
];
/** New keys per checkpoint. */
const PER_BATCH = 1_000;
const WINDOW_MS = 16 * 3_600_000;
const T0 = 1_700_000_000_000;
const LEASE = 'dedup-memory:1';

async function measure(redis: Redis, count: number): Promise<{ perKey: number; buckets: number }> {
  const hasher = await loadHasher();
  const pipeline = `dedup-memory-${count}`;
  await redis.set(keys.lease(pipeline, 0), LEASE);
  const state = new DedupState(WINDOW_MS);
  let gen = 0;
  for (let done = 0; done < count; done += PER_BATCH) {
    for (let i = done; i < Math.min(count, done + PER_BATCH); i++) {
      // Processing time barely moves: nothing expires during the run.
      state.add(hasher.hash96(`event-${i}`), T0 + (i / count) * WINDOW_MS, 'events/0', T0 + i);
    }
    const changes = state.changes();
    gen += 1;
    await writeCheckpoint(redis, {
      pipeline,
      partition: 0,
      leaseValue: LEASE,
      cursor: '0-0',
      next: new Map(),
      seq: 0,
      gen,
      counters: {},
      deadLetters: [],
      dedup: { ...changes, expireAt: () => Date.now() + 3_600_000 },
    });
    state.commit();
  }
  const starts = await redis.zrange(keys.dedupIndex(pipeline, 0), 0, -1);
  let bytes = Number(await redis.memory('USAGE', keys.dedupIndex(pipeline, 0), 'SAMPLES', '0'));
  let records = 0;
  for (const start of starts) {
    const key = keys.dedupBucket(pipeline, 0, Number(start));
    bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
    records += (await redis.strlen(key)) / 12;
  }
  if (records !== count) throw new Error(`${records} records written for ${count} keys`);
  const found = await redis.keys(`{sl:${pipeline}:*`);
  if (found.length > 0) await redis.del(...found);
  return { perKey: bytes / count, buckets: starts.length };
}

async function main(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    for (const { keys: count } of CASES) {
      const { perKey, buckets } = await measure(redis, count);
      process.stdout.write(
        `redis ${version}, 12-byte hashes, ${count} keys in ${buckets} buckets: ${perKey.toFixed(2)} bytes/key\n`,
      );
    }
  } finally {
    await redis.quit();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
