import type { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import { keys } from '@sluice/redis';
import { groupIdOf } from '../consumer-lag';
import { GroupBusyError, SoleGroupMember } from './sole-member';

/**
 * "Stop and wait until drained", shared by the rewind and the reset of a pipeline
 * (docs/architecture.md "Rewind", "Reset"): no actor lease held, every outbox empty, and the
 * Kafka group held by one member of ours (which proves the pipeline's consumers are gone).
 */

/** How long to wait for the actors to stop and the batches in flight to land. */
export const IDLE_TIMEOUT_MS = 30_000;
/** How long to wait to be the only member of the group (the mock broker drops a member that
 * left only after its session timeout, 10 s). */
export const JOIN_TIMEOUT_MS = 40_000;
export const POLL_MS = 250;

/** What is still going on when the wait ran out. */
export interface Busy {
  held: number;
  batches: number;
}

/** Leases held and outbox batches of the pipeline's partitions `0..partitions-1`. */
export async function busyOf(redis: Redis, id: string, partitions: number): Promise<Busy> {
  const tx = redis.pipeline();
  for (let n = 0; n < partitions; n++) {
    tx.exists(keys.lease(id, n));
    tx.scard(keys.outboxIndex(id, n));
  }
  const replies = ((await tx.exec()) ?? []).map(([err, value]) => {
    if (err) throw err;
    return Number(value);
  });
  const busy = { held: 0, batches: 0 };
  for (let n = 0; n < partitions; n++) {
    busy.held += replies[2 * n] ?? 0;
    busy.batches += replies[2 * n + 1] ?? 0;
  }
  return busy;
}

/**
 * Until no owner holds an actor of the pipeline and every flushed batch is in ClickHouse;
 * `timedOut` makes the error thrown after IDLE_TIMEOUT_MS.
 */
export async function waitIdle(
  redis: Redis,
  id: string,
  partitions: number,
  timedOut: (busy: Busy) => Error,
): Promise<void> {
  const deadline = Date.now() + IDLE_TIMEOUT_MS;
  for (;;) {
    const busy = await busyOf(redis, id, partitions);
    if (busy.held === 0 && busy.batches === 0) return;
    if (Date.now() > deadline) throw timedOut(busy);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Every partition of each topic, sorted. */
export async function topicPartitions(
  admin: Admin,
  topics: Iterable<string>,
): Promise<Map<string, number[]>> {
  const partitions = new Map<string, number[]>();
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    partitions.set(
      topic,
      offsets.map((o) => o.partition).sort((a, b) => a - b),
    );
  }
  return partitions;
}

/** Joins the pipeline's group holding every partition; `busy` makes the error when another
 * member (a consumer of the pipeline) is still there. */
export async function joinGroupAlone(
  kafka: Kafka,
  id: string,
  partitions: ReadonlyMap<string, readonly number[]>,
  busy: (message: string) => Error,
  /** KAFKA_SESSION_TIMEOUT_MS, as the pipeline's consumers. */
  sessionTimeoutMs: number,
): Promise<SoleGroupMember> {
  try {
    return await SoleGroupMember.join(
      kafka,
      groupIdOf(id),
      partitions,
      JOIN_TIMEOUT_MS,
      sessionTimeoutMs,
    );
  } catch (err) {
    if (!(err instanceof GroupBusyError)) throw err;
    throw busy(err.message);
  }
}
