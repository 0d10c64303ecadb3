import type { Redis } from 'ioredis';
import { unpack } from 'msgpackr';
import { keys } from '@sluice/redis';
import type { ScrapeSampler } from '@sluice/telemetry';

export interface HeldActor {
  readonly pipeline: { readonly id: string };
  readonly partition: number;
  readonly state: string;
  /** Keys and bytes of the actor's in-memory dedup tables; undefined without dedup. */
  readonly dedupMemory?: { keys: number; bytes: number } | undefined;
  /** Batch id -> commit time (ms) of outbox batches; filled in here for earlier owners' ones. */
  readonly outboxTimes?: Map<string, number>;
  /** Buffered join records; undefined without a join. */
  readonly joinRecords?: number | undefined;
  /** The bound the actor is paused at (outbox-full, state-full), if any. */
  readonly pausedReason?: string | undefined;
}

/** Outbox entries of earlier owners read per actor and scrape to learn their age (cached). */
const UNKNOWN_AGES_PER_SCRAPE = 8;

/**
 * Scrape-time gauges of an owner process: actors held per pipeline, and per held actor its
 * mailbox depth (XLEN), outbox size and oldest batch age, and dead-letter count (XLEN), in one
 * pipelined round trip per scrape; and the in-memory dedup state per pipeline (no Redis), so RSS
 * can be read net of the live dedup keys.
 */
export function actorGauges(redis: Redis, actors: () => Iterable<HeldActor>): ScrapeSampler {
  return async (gauges) => {
    const { mailboxDepth, outboxBatches, actorsHeld, dedupKeys, dedupBytes } = gauges;
    const held = [...actors()].filter((a) => a.state !== 'Closed');
    const perPipeline = new Map<
      string,
      { actors: number; keys: number; bytes: number; join: number }
    >();
    for (const a of held) {
      let sums = perPipeline.get(a.pipeline.id);
      if (!sums) {
        perPipeline.set(a.pipeline.id, (sums = { actors: 0, keys: 0, bytes: 0, join: 0 }));
      }
      sums.actors += 1;
      sums.keys += a.dedupMemory?.keys ?? 0;
      sums.bytes += a.dedupMemory?.bytes ?? 0;
      sums.join += a.joinRecords ?? 0;
      if (a.pausedReason !== undefined) {
        const labels = { pipeline: a.pipeline.id, partition: String(a.partition) };
        gauges.actorsPaused.set({ ...labels, reason: a.pausedReason }, 1);
      }
    }
    for (const [pipeline, sums] of perPipeline) {
      actorsHeld.set({ pipeline }, sums.actors);
      dedupKeys.set({ pipeline }, sums.keys);
      dedupBytes.set({ pipeline }, sums.bytes);
      gauges.joinRecords.set({ pipeline }, sums.join);
    }
    if (held.length === 0) return;
    const tx = redis.pipeline();
    for (const { pipeline, partition } of held) {
      tx.xlen(keys.mailbox(pipeline.id, partition));
      tx.smembers(keys.outboxIndex(pipeline.id, partition));
      tx.xlen(keys.deadLetters(pipeline.id, partition));
    }
    const replies = (await tx.exec()) ?? [];
    const now = Date.now();
    await Promise.all(
      held.map(async (actor, i) => {
        const labels = { pipeline: actor.pipeline.id, partition: String(actor.partition) };
        const [depthErr, depth] = replies[3 * i] ?? [null, null];
        const [outboxErr, outbox] = replies[3 * i + 1] ?? [null, null];
        const [dlqErr, dlq] = replies[3 * i + 2] ?? [null, null];
        if (!depthErr) mailboxDepth.set(labels, Number(depth));
        if (!dlqErr) gauges.dlqEntries.set(labels, Number(dlq));
        if (outboxErr) return;
        const ids = outbox as string[];
        outboxBatches.set(labels, ids.length);
        const oldest = await oldestBatchTime(redis, actor, ids);
        gauges.outboxOldestAge.set(labels, oldest === undefined ? 0 : (now - oldest) / 1000);
      }),
    );
  };
}

/**
 * The commit time of the oldest batch in `ids`: from the actor's own record, or read once from
 * the stored entry (`createdAt`) for batches an earlier owner committed. Forgets inserted ones.
 */
async function oldestBatchTime(
  redis: Redis,
  actor: HeldActor,
  ids: readonly string[],
): Promise<number | undefined> {
  const times = actor.outboxTimes;
  if (!times) return undefined;
  const live = new Set(ids);
  for (const id of times.keys()) if (!live.has(id)) times.delete(id);
  const unknown = ids.filter((id) => !times.has(id)).slice(0, UNKNOWN_AGES_PER_SCRAPE);
  for (const id of unknown) {
    const data = await redis.getBuffer(keys.outboxBatch(actor.pipeline.id, actor.partition, id));
    if (data === null) continue;
    try {
      const { createdAt } = unpack(data) as { createdAt?: unknown };
      if (typeof createdAt === 'number') times.set(id, createdAt);
    } catch {
      // Not ours to judge here: the writer reports a malformed entry.
    }
  }
  let oldest: number | undefined;
  for (const t of times.values()) if (oldest === undefined || t < oldest) oldest = t;
  return oldest;
}
