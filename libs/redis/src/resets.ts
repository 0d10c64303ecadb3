import type { Redis } from 'ioredis';
import { keys } from './keys';

/**
 * A reset under way (`PUT /pipelines/:id?reset=true`), kept until its last step so that a crash
 * or a timeout leaves a state the same request sent again completes (docs/architecture.md
 * "Reset"). While it is there the pipeline's consumers stay off and a resume is refused.
 */
export interface ResetRecord {
  /** The new definition (JSON, as it will be stored). */
  definition: string;
  /** The version the reset replaces: the new one is `from + 1`. */
  from: number;
  /** The pipeline was running when the reset began: it is resumed at the end. */
  resume: boolean;
  /** When the reset was first asked for, epoch ms. */
  since: number;
  /** `drain`: the old definition applies what was read; `drop`: the group's offsets are
   * committed, the state is being dropped (a retry does not run the old actors again). */
  phase: 'drain' | 'drop';
}

/** Starts a reset, or returns the one already under way (whatever its definition). */
export async function beginReset(
  redis: Redis,
  pipeline: string,
  record: ResetRecord,
): Promise<ResetRecord> {
  const created = await redis.hsetnx(keys.resets(), pipeline, JSON.stringify(record));
  if (created === 1) {
    // Processes reload: the consumers of the pipeline stop (PipelineStore.list `resetting`).
    await redis.incr(keys.pipelinesVersion());
    return record;
  }
  return (await readReset(redis, pipeline)) ?? record;
}

export async function readReset(redis: Redis, pipeline: string): Promise<ResetRecord | undefined> {
  return parseReset(await redis.hget(keys.resets(), pipeline));
}

export function parseReset(text: string | null | undefined): ResetRecord | undefined {
  if (!text) return undefined;
  const r = JSON.parse(text) as Partial<ResetRecord>;
  if (typeof r.definition !== 'string' || typeof r.from !== 'number') return undefined;
  return {
    definition: r.definition,
    from: r.from,
    resume: r.resume === true,
    since: Number(r.since ?? 0),
    phase: r.phase === 'drop' ? 'drop' : 'drain',
  };
}

/** Moves the reset to its `drop` phase (the record kept otherwise). */
export async function markResetDropping(redis: Redis, pipeline: string): Promise<void> {
  const record = await readReset(redis, pipeline);
  if (!record || record.phase === 'drop') return;
  await redis.hset(keys.resets(), pipeline, JSON.stringify({ ...record, phase: 'drop' }));
}

// KEYS: resets, pipelines, versions, statuses, reload counter. ARGV: id. Stores the recorded
// definition with version from+1, removes the record and sets the status, in one step: a crash
// leaves either the reset to retry or a finished one.
const FINISH_SCRIPT = `
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return 0 end
local record = cjson.decode(stored)
redis.call('HSET', KEYS[2], ARGV[1], record.definition)
redis.call('HSET', KEYS[3], ARGV[1], record.from + 1)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], record.resume and 'running' or 'stopped')
redis.call('INCR', KEYS[5])
return 1`;

/** Ends the reset: the recorded definition stored as version `from + 1`, the pipeline resumed
 * if it was running. False when there was no record (another process finished it). */
export async function finishReset(redis: Redis, pipeline: string): Promise<boolean> {
  const done = await redis.eval(
    FINISH_SCRIPT,
    5,
    keys.resets(),
    keys.pipelines(),
    keys.pipelineVersions(),
    keys.pipelineStatus(),
    keys.pipelinesVersion(),
    pipeline,
  );
  return Number(done) === 1;
}
