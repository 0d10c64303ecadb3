import type { Redis } from 'ioredis';
import { keys } from '../keys';
import { LuaScript } from './lua-script';

// KEYS: lease, epoch. ARGV: owner id, ttl ms. Returns the epoch held, or -1 when another owner
// holds the lease. Taking a free lease bumps the epoch, which fences every earlier holder.
const ACQUIRE = new LuaScript(
  'lease-acquire',
  `
local current = redis.call('GET', KEYS[1])
if current then
  local owner, epoch = string.match(current, '^(.*):(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(epoch)
  end
  return -1
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
return epoch
`,
);

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

// KEYS: lease. ARGV: lease value. 1 when it was ours and is gone, else 0.
const RELEASE = new LuaScript(
  'lease-release',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
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
  const epoch = Number(
    await ACQUIRE.run(
      redis,
      [keys.lease(pipeline, partition), keys.epoch(pipeline, partition)],
      [ownerId, ttlMs],
    ),
  );
  return epoch > 0 ? epoch : undefined;
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
  return Number(await RELEASE.run(redis, [keys.lease(pipeline, partition)], [value])) === 1;
}
