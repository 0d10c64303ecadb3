/**
 * Redis memory per live dedup key for a given key-hash width, written the way the checkpoint
 * writes it: each batch's new keys APPENDed to one string per time bucket, plus the bucket index.
 * Usage: `npm run build && REDIS_URL=redis://127.0.0.1:PORT node dist/tools/dedup-memory.js`
 * against a scratch Redis (it writes and deletes `{dedup-memory-*}` keys).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

const CASES: readonly { hashBytes: number; keys: number; buckets: number }[] = [
  { hashBytes: 8, keys: 20_000, buckets: 9 },
  { hashBytes: 8, keys: 1_000_000, buckets: 16 },
  { hashBytes: 12, keys: 1_000_000, buckets: 16 },
  { hashBytes: 16, keys: 20_000, buckets: 9 },
  { hashBytes: 16, keys: 1_000_000, buckets: 16 },
];
/** New keys per checkpoint. */
const PER_BATCH = 1_000;

async function measure(redis: Redis, hashBytes: number, keys: number, buckets: number) {
  const prefix = `{dedup-memory-${hashBytes}-${keys}}`;
  for (let done = 0; done < keys; done += PER_BATCH) {
    const bucket = Math.floor((done / keys) * buckets);
    await redis.append(`${prefix}:dedup:${bucket}`, randomBytes(PER_BATCH * hashBytes));
    await redis.zadd(`${prefix}:dedup-index`, bucket, String(bucket));
  }
  let bytes = Number(await redis.memory('USAGE', `${prefix}:dedup-index`));
  for (let b = 0; b < buckets; b++) {
    bytes += Number(await redis.memory('USAGE', `${prefix}:dedup:${b}`));
  }
  const found = await redis.keys(`${prefix}*`);
  if (found.length > 0) await redis.del(...found);
  return bytes / keys;
}

async function main(): Promise<void> {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  try {
    for (const { hashBytes, keys, buckets } of CASES) {
      const perKey = await measure(redis, hashBytes, keys, buckets);
      process.stdout.write(
        `${hashBytes}-byte hashes, ${keys} keys in ${buckets} buckets: ${perKey.toFixed(2)} bytes/key\n`,
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
