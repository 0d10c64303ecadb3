import type { Redis } from 'ioredis';
import { LuaScript } from './lua-script';

// The one fencing lock both actor leases and the coordinator lock use: its value is
// `<holder>:<epoch>`, and taking it while free bumps the epoch, which fences every earlier holder.
// KEYS: lock, epoch counter. ARGV: holder id, ttl ms. Returns the epoch held, or -1 when another
// holder has it.
const ACQUIRE = new LuaScript(
  'fenced-lock-acquire',
  `
local current = redis.call('GET', KEYS[1])
if current then
  local holder, epoch = string.match(current, '^(.*):(%d+)$')
  if holder == ARGV[1] then
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

// KEYS: lock. ARGV: lock value. 1 when it was ours and is gone, else 0.
const RELEASE = new LuaScript(
  'fenced-lock-release',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`,
);

/** The epoch now held by `holder`, or undefined when another holder has the lock. */
export async function acquireFencedLock(
  redis: Redis,
  lockKey: string,
  epochKey: string,
  holder: string,
  ttlMs: number,
): Promise<number | undefined> {
  const epoch = Number(await ACQUIRE.run(redis, [lockKey, epochKey], [holder, ttlMs]));
  return epoch > 0 ? epoch : undefined;
}

/** True when `value` held the lock and it is now gone. */
export async function releaseFencedLock(
  redis: Redis,
  lockKey: string,
  value: string,
): Promise<boolean> {
  return Number(await RELEASE.run(redis, [lockKey], [value])) === 1;
}
