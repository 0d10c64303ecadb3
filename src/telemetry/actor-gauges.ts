import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import type { ScrapeSampler } from '@sluice/telemetry';

export interface HeldActor {
  readonly pipeline: { readonly id: string };
  readonly partition: number;
  readonly state: string;
}

/**
 * Scrape-time gauges of an owner process: actors held per pipeline, and per held actor its
 * mailbox depth (XLEN) and outbox size (SCARD), in one pipelined round trip per scrape.
 */
export function actorGauges(redis: Redis, actors: () => Iterable<HeldActor>): ScrapeSampler {
  return async ({ mailboxDepth, outboxBatches, actorsHeld }) => {
    const held = [...actors()].filter((a) => a.state !== 'Closed');
    const perPipeline = new Map<string, number>();
    for (const a of held) perPipeline.set(a.pipeline.id, (perPipeline.get(a.pipeline.id) ?? 0) + 1);
    for (const [pipeline, n] of perPipeline) actorsHeld.set({ pipeline }, n);
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
