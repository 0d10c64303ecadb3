import type { Redis } from 'ioredis';
import { keys } from './keys';
import { LuaScript } from './scripts/lua-script';

/**
 * A rewind under way (`POST /pipelines/:id/rewind`), kept until every step is done so that a
 * crash or a timeout leaves a state a retry of the same rewind completes: the steps read what is
 * stored and redo only what is missing (docs/architecture.md "Rewind").
 */
export interface RewindRecord {
  /** The time rewound to, ISO 8601 UTC. */
  to: string;
  /** The pipeline was running when the rewind began: it is resumed at the end. */
  resume: boolean;
  /** When the rewind was first asked for, epoch ms. */
  since: number;
}

/** Starts a rewind, or returns the one already under way (whatever its `to`). */
export async function beginRewind(
  redis: Redis,
  pipeline: string,
  record: RewindRecord,
): Promise<RewindRecord> {
  const created = await redis.hsetnx(keys.rewinds(), pipeline, JSON.stringify(record));
  if (created === 1) return record;
  return (await readRewind(redis, pipeline)) ?? record;
}

export async function readRewind(
  redis: Redis,
  pipeline: string,
): Promise<RewindRecord | undefined> {
  const text = await redis.hget(keys.rewinds(), pipeline);
  if (text === null) return undefined;
  const r = JSON.parse(text) as Partial<RewindRecord>;
  if (typeof r.to !== 'string') return undefined;
  return { to: r.to, resume: r.resume === true, since: Number(r.since ?? 0) };
}

// KEYS: lease, checkpoint, mailbox. ARGV: next (JSON, the whole map). Moves the actor's `next`
// and drops its unapplied mailbox entries (their offsets are read again), only while no owner
// holds the actor: 0 when one does. XTRIM keeps the stream's last id, so new entries still sort
// after the actor's cursor.
const REWIND_ACTOR = new LuaScript(
  'rewind-actor',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'next', ARGV[1])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XTRIM', KEYS[3], 'MAXLEN', 0)
end
return 1
`,
);

/**
 * Sets an idle actor's per-source `next` (`topic/partition` -> first offset not applied) and
 * empties its mailbox; false when an owner holds its lease (nothing changed).
 */
export async function rewindActor(
  redis: Redis,
  pipeline: string,
  partition: number,
  next: ReadonlyMap<string, number>,
): Promise<boolean> {
  const done = await REWIND_ACTOR.run(
    redis,
    [
      keys.lease(pipeline, partition),
      keys.checkpoint(pipeline, partition),
      keys.mailbox(pipeline, partition),
    ],
    [JSON.stringify(Object.fromEntries(next))],
  );
  return Number(done) === 1;
}

/**
 * Ends the rewind: removes its record and, when the pipeline was running before, sets it running
 * again (one MULTI, so a crash leaves either the rewind to retry or a finished one).
 */
export async function finishRewind(redis: Redis, pipeline: string, resume: boolean): Promise<void> {
  const tx = redis.multi().hdel(keys.rewinds(), pipeline);
  if (resume) tx.hset(keys.pipelineStatus(), pipeline, 'running').incr(keys.pipelinesVersion());
  await tx.exec();
}
