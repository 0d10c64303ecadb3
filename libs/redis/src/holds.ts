import type { Redis } from 'ioredis';
import { keys } from './keys';

/**
 * Why a pipeline (or one of its partitions) has stopped taking input on purpose. Sluice never
 * drops data to get past one of these: it holds, says so (pipeline status, `/health/ready`,
 * `sluice_partition_held`), and resumes when the cause is gone or an operator decides.
 * - `gap`: a mailbox entry continues from beyond what the actor applied (Redis went back in time);
 *   held until an operator accepts the lost range.
 * - `dlq-full`: the partition's dead-letter queue reached its bound; held until entries are
 *   replayed or discarded, or the bound is raised.
 * - `outbox-full`: batches waiting for ClickHouse reached their bound; consumption paused.
 * - `state-full`: dedup or join state of the actor reached its bound.
 * - `stuck`: a batch has failed to insert for longer than the retry bound (still retried).
 * - `table`: the target table is gone or lost its deduplication window.
 */
export const HOLD_REASONS = [
  'gap',
  'dlq-full',
  'outbox-full',
  'state-full',
  'stuck',
  'table',
] as const;
export type HoldReason = (typeof HOLD_REASONS)[number];

export interface Hold {
  reason: HoldReason;
  /** Pipeline partition held; null when the whole pipeline is. */
  partition: number | null;
  /** What a person needs to act: the source range, the bound reached, the server's message. */
  detail: string;
  /** Epoch ms when the hold was first set (kept when it is set again). */
  since: number;
  /** `gap` holds: the source offsets the actor never applied, `from`..`to` inclusive. */
  range?: SourceRange;
}

/** Offsets `from`..`to` (inclusive) of one source topic-partition. */
export interface SourceRange {
  topic: string;
  partition: number;
  from: number;
  to: number;
}

/** One field per (reason, partition), so detectors in different roles never overwrite each other. */
function field(reason: HoldReason, partition: number | null): string {
  return `${reason}:${partition ?? '*'}`;
}

/** Records (or refreshes the detail of) a hold; `since` stays that of the first report. */
export async function setHold(
  conn: Redis,
  pipeline: string,
  hold: Omit<Hold, 'since'> & { since?: number },
): Promise<void> {
  const key = keys.holds(pipeline);
  const name = field(hold.reason, hold.partition);
  const old = parseHold(await conn.hget(key, name));
  const since = old?.since ?? hold.since ?? Date.now();
  await conn.hset(key, name, JSON.stringify({ ...hold, since }));
}

/** Removes a hold; true when there was one. */
export async function clearHold(
  conn: Redis,
  pipeline: string,
  reason: HoldReason,
  partition: number | null,
): Promise<boolean> {
  return (await conn.hdel(keys.holds(pipeline), field(reason, partition))) > 0;
}

/**
 * Removes the holds of partitions `partitions` and up: a reset to fewer partitions leaves no
 * actor that would ever clear them (their dead letters moved into the remaining partitions,
 * whose actors set their own holds). Returns how many were removed.
 */
export async function clearHoldsBeyond(
  conn: Redis,
  pipeline: string,
  partitions: number,
): Promise<number> {
  const stale = (await conn.hkeys(keys.holds(pipeline))).filter((name) => {
    const partition = Number(name.slice(name.lastIndexOf(':') + 1));
    return Number.isInteger(partition) && partition >= partitions;
  });
  return stale.length === 0 ? 0 : conn.hdel(keys.holds(pipeline), ...stale);
}

/** The holds of a pipeline, by partition then reason (whole-pipeline holds first). */
export async function readHolds(conn: Redis, pipeline: string): Promise<Hold[]> {
  const all = await conn.hvals(keys.holds(pipeline));
  return all
    .map(parseHold)
    .filter((h): h is Hold => h !== undefined)
    .sort((a, b) => (a.partition ?? -1) - (b.partition ?? -1) || a.reason.localeCompare(b.reason));
}

function parseHold(text: string | null | undefined): Hold | undefined {
  if (!text) return undefined;
  try {
    const h = JSON.parse(text) as Partial<Hold>;
    if (typeof h.reason !== 'string' || !(HOLD_REASONS as readonly string[]).includes(h.reason)) {
      return undefined;
    }
    const hold: Hold = {
      reason: h.reason,
      partition: typeof h.partition === 'number' ? h.partition : null,
      detail: typeof h.detail === 'string' ? h.detail : '',
      since: typeof h.since === 'number' ? h.since : 0,
    };
    if (isRange(h.range)) hold.range = h.range;
    return hold;
  } catch {
    return undefined;
  }
}

function isRange(r: unknown): r is SourceRange {
  if (typeof r !== 'object' || r === null) return false;
  const { topic, partition, from, to } = r as Record<string, unknown>;
  return (
    typeof topic === 'string' &&
    [partition, from, to].every((n) => typeof n === 'number' && Number.isSafeInteger(n))
  );
}
