import type { Redis } from 'ioredis';
import { keys } from '../keys';
import { acquireFencedLock, releaseFencedLock } from './fenced-lock';
import { LuaScript } from './lua-script';

// Heartbeats are scored with the Redis server's clock, so members never compare their own clocks.
// KEYS: heartbeats, members. ARGV: instance id, member record. Returns the server time in ms.
const HEARTBEAT = new LuaScript(
  'cluster-heartbeat',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return now
`,
);

// KEYS: heartbeats, members. ARGV: forget members silent for longer than this (ms; 0 = never).
// Returns { now, {id, score, ...}, {id, record, ...} }.
const LIST = new LuaScript(
  'cluster-members',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local forget = tonumber(ARGV[1])
if forget > 0 then
  local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - forget)
  for _, id in ipairs(gone) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
return { now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[2]) }
`,
);

// KEYS: lock, assignment, version. ARGV: lock value, assignment. The new version, or -1 when the
// caller no longer holds the lock: a coordinator paused past its lock can never publish.
const PUBLISH = new LuaScript(
  'cluster-publish',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
return redis.call('INCR', KEYS[3])
`,
);

export interface MemberRow {
  id: string;
  /** Server time of the last heartbeat, ms. */
  beatAt: number;
  /** The JSON record the member last wrote; undefined if only its heartbeat is left. */
  record: string | undefined;
}

export async function heartbeat(redis: Redis, id: string, record: string): Promise<number> {
  return Number(await HEARTBEAT.run(redis, [keys.heartbeats(), keys.members()], [id, record]));
}

export async function listMembers(
  redis: Redis,
  forgetAfterMs = 0,
): Promise<{ now: number; members: MemberRow[] }> {
  const [now, beats, records] = (await LIST.run(
    redis,
    [keys.heartbeats(), keys.members()],
    [forgetAfterMs],
  )) as [number, string[], string[]];
  const byId = new Map<string, string>();
  for (let i = 0; i + 1 < records.length; i += 2) byId.set(records[i]!, records[i + 1]!);
  const members: MemberRow[] = [];
  for (let i = 0; i + 1 < beats.length; i += 2) {
    const id = beats[i]!;
    members.push({ id, beatAt: Number(beats[i + 1]), record: byId.get(id) });
  }
  return { now: Number(now), members };
}

export async function deregister(redis: Redis, id: string): Promise<void> {
  await redis.multi().zrem(keys.heartbeats(), id).hdel(keys.members(), id).exec();
}

/** The coordinator epoch now held by `holder`, or undefined when another process holds it. */
export async function acquireCoordinator(
  redis: Redis,
  holder: string,
  ttlMs: number,
): Promise<number | undefined> {
  return acquireFencedLock(redis, keys.coordinator(), keys.coordinatorEpoch(), holder, ttlMs);
}

export async function releaseCoordinator(redis: Redis, value: string): Promise<boolean> {
  return releaseFencedLock(redis, keys.coordinator(), value);
}

/** `<instanceId>:<epoch>` of the coordinator, or null when none holds the lock. */
export async function currentCoordinator(redis: Redis): Promise<string | null> {
  return redis.get(keys.coordinator());
}

/** The new assignment version, or undefined when `lockValue` no longer holds the lock. */
export async function publishAssignment(
  redis: Redis,
  lockValue: string,
  assignment: string,
): Promise<number | undefined> {
  const version = Number(
    await PUBLISH.run(
      redis,
      [keys.coordinator(), keys.assignment(), keys.assignmentVersion()],
      [lockValue, assignment],
    ),
  );
  return version > 0 ? version : undefined;
}

export async function assignmentVersion(redis: Redis): Promise<number> {
  return Number((await redis.get(keys.assignmentVersion())) ?? 0);
}

/** The published assignment and its version (both keys share the `{sl}` slot). */
export async function readAssignment(
  redis: Redis,
): Promise<{ version: number; assignment: string | null }> {
  const [version, assignment] = await redis.mget(keys.assignmentVersion(), keys.assignment());
  return { version: Number(version ?? 0), assignment: assignment ?? null };
}
