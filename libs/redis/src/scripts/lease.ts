import type { Redis } from 'ioredis';
import { keys } from '../keys';
import { acquireFencedLock, releaseFencedLock } from './fenced-lock';
import { LuaScript } from './lua-script';

// KEYS: lease. ARGV: lease value, ttl ms. 1 when still ours (and extended), else 0.
const RENEW = new LuaScript(
  'lease-renew',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`,
);

/** The lease value: who holds the actor, and under which fencing epoch. */
export function leaseValue(ownerId: string, epoch: number): string {
  return `${ownerId}:${epoch}`;
}

/** The epoch now held by `ownerId`, or undefined when another owner holds the lease. */
export async function acquireLease(
  redis: Redis,
  pipeline: string,
  partition: number,
  ownerId: string,
  ttlMs: number,
): Promise<number | undefined> {
  // Taking a free lease bumps the epoch, which fences every earlier holder.
  return acquireFencedLock(
    redis,
    keys.lease(pipeline, partition),
    keys.epoch(pipeline, partition),
    ownerId,
    ttlMs,
  );
}

/** False when the lease is no longer ours: the actor must stop at once. */
export async function renewLease(
  redis: Redis,
  pipeline: string,
  partition: number,
  value: string,
  ttlMs: number,
): Promise<boolean> {
  return Number(await RENEW.run(redis, [keys.lease(pipeline, partition)], [value, ttlMs])) === 1;
}

export async function releaseLease(
  redis: Redis,
  pipeline: string,
  partition: number,
  value: string,
): Promise<boolean> {
  return releaseFencedLock(redis, keys.lease(pipeline, partition), value);
}
