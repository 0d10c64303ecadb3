import type { Redis } from 'ioredis';
import type { SourceRange } from './holds';
import { keys } from './keys';

/**
 * An operator's decision that an actor may go on past a gap in its mailbox: the source range
 * `from`..`to` is given up and the actor's `next` for that topic-partition moves to `to + 1`.
 * Written by the admin plane, read by the actor (which only honours a record naming exactly the
 * gap it stopped at, so an old record can never skip a later gap).
 */
export async function acceptGap(
  redis: Redis,
  pipeline: string,
  partition: number,
  range: SourceRange,
): Promise<'accepted' | 'already-accepted'> {
  const value = JSON.stringify(range);
  const old = await redis.set(keys.gapAccepted(pipeline, partition), value, 'GET');
  return old === value ? 'already-accepted' : 'accepted';
}

/** Whether the gap `range` of this actor was accepted. */
export async function isGapAccepted(
  redis: Redis,
  pipeline: string,
  partition: number,
  range: SourceRange,
): Promise<boolean> {
  return (await redis.get(keys.gapAccepted(pipeline, partition))) === JSON.stringify(range);
}
