import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import type { ScrapeSampler } from '@sluice/telemetry';

export interface HeldActor {
  readonly pipeline: { readonly id: string };
  readonly partition: number;
  readonly state: string;
  /** Keys and bytes of the actor's in-memory dedup tables; undefined without dedup. */
  readonly dedupMemory?: { keys: number; bytes: number } | undefined;
  /** Buffered join records; undefined without a join. */
  readonly joinRecords?: number | undefined;
  /** The bound the actor is paused at (outbox-full, state-full), if any. */
  readonly pausedReason?: string | undefined;
}

/**
 * Scrape-time gauges of an owner process: actors held per pipeline, and per held actor its
 * mailbox depth (XLEN) and outbox size (SCARD), in one pipelined round trip per scrape; and the
 * in-memory dedup state per pipeline (no Redis), so RSS can be read net of the live dedup keys.
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
      tx.scard(keys.outboxIndex(pipeline.id, partition));
    }
    const replies = (await tx.exec()) ?? [];
    held.forEach(({ pipeline, partition }, i) => {
      const labels = { pipeline: pipeline.id, partition: String(partition) };
      const [depthErr, depth] = replies[2 * i] ?? [null, null];
      const [outboxErr, outbox] = replies[2 * i + 1] ?? [null, null];
      if (!depthErr) mailboxDepth.set(labels, Number(depth));
      if (!outboxErr) outboxBatches.set(labels, Number(outbox));
    });
  };
}
