import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { clearHold, keys, setHold } from '@sluice/redis';

/** Per-actor bounds (OUTBOX_MAX_BATCHES, OUTBOX_MAX_BYTES, DEDUP_MAX_KEYS, JOIN_MAX_RECORDS). */
export interface ActorLimits {
  outboxBatches: number;
  outboxBytes: number;
  dedupKeys: number;
  joinRecords: number;
}

export const NO_LIMITS: ActorLimits = {
  outboxBatches: Number.POSITIVE_INFINITY,
  outboxBytes: Number.POSITIVE_INFINITY,
  dedupKeys: Number.POSITIVE_INFINITY,
  joinRecords: Number.POSITIVE_INFINITY,
};

/** Why an actor takes no entries now: the hold reasons it sets (libs/redis holds.ts). */
export type PauseReason = 'outbox-full' | 'state-full';

/** The actor's in-memory state, as the bounds count it. */
export interface StateSize {
  dedupKeys: number;
  joinRecords: number;
}

export interface OutboxUsage {
  batches: number;
  bytes: number;
}

/**
 * Decides when a partition actor must stop taking mailbox entries, and says so. Sluice drops
 * nothing to stay within a bound: the actor stops reading, its mailbox fills, and the consumer
 * pauses the Kafka partitions feeding it (MAILBOX_MAX_ENTRIES), so the backlog stays in Kafka.
 * - `outbox-full`: batches committed and not yet inserted reached OUTBOX_MAX_BATCHES or
 *   OUTBOX_MAX_BYTES (ClickHouse down or slow). Resumes by itself as the writer drains it.
 * - `state-full`: dedup keys or buffered join records reached their bound. Resumes only if the
 *   state shrinks (buckets expiring, a join watermark moving on idle sources); otherwise an
 *   operator raises the bound (and restarts the owners).
 * Each pause is a hold (pipeline status, readiness) and the `sluice_actor_paused` gauge.
 */
export class ActorBounds {
  private current: PauseReason | undefined;
  /** Bytes of the outbox batches seen, so each is measured (STRLEN) once at most. */
  private readonly sizes = new Map<string, number>();

  constructor(
    private readonly pipeline: string,
    private readonly partition: number,
    private readonly limits: ActorLimits,
    private readonly logger: Logger,
  ) {}

  get reason(): PauseReason | undefined {
    return this.current;
  }

  get outboxBounded(): boolean {
    return Number.isFinite(this.limits.outboxBatches) || Number.isFinite(this.limits.outboxBytes);
  }

  /** The actor committed batch `id` of `bytes` to the outbox. */
  wrote(id: string, bytes: number): void {
    this.sizes.set(id, bytes);
  }

  /** True when the in-memory state is at its bound (cheap: called after every entry). */
  stateFull(state: StateSize): boolean {
    return state.dedupKeys >= this.limits.dedupKeys || state.joinRecords >= this.limits.joinRecords;
  }

  /** Reads the outbox, then sets or clears the pause (and its hold). */
  async check(conn: Redis, state: StateSize): Promise<PauseReason | undefined> {
    const outbox = this.outboxBounded ? await this.outboxUsage(conn) : { batches: 0, bytes: 0 };
    const { limits } = this;
    let next: PauseReason | undefined;
    let detail = '';
    if (outbox.batches >= limits.outboxBatches || outbox.bytes >= limits.outboxBytes) {
      next = 'outbox-full';
      detail =
        `outbox holds ${outbox.batches} batches, ${outbox.bytes} bytes not yet inserted ` +
        `(OUTBOX_MAX_BATCHES ${limits.outboxBatches}, OUTBOX_MAX_BYTES ${limits.outboxBytes}): ` +
        'consumption paused until the writers insert them';
    } else if (this.stateFull(state)) {
      next = 'state-full';
      detail =
        `state holds ${state.dedupKeys} dedup keys (DEDUP_MAX_KEYS ${limits.dedupKeys}) and ` +
        `${state.joinRecords} join records (JOIN_MAX_RECORDS ${limits.joinRecords}): ` +
        'consumption paused; raise the bound or shorten the window';
    }
    await this.transition(conn, next, detail);
    return next;
  }

  /** Clears whatever hold this actor set (it stops, or its state was thrown away). */
  async release(conn: Redis): Promise<void> {
    await this.transition(conn, undefined, '');
  }

  private async transition(
    conn: Redis,
    next: PauseReason | undefined,
    detail: string,
  ): Promise<void> {
    const previous = this.current;
    const ids = { pipeline: this.pipeline, partition: this.partition };
    if (next !== undefined) {
      // Refreshed every check: the detail says how full it is now.
      await setHold(conn, this.pipeline, { reason: next, partition: this.partition, detail });
    }
    if (previous !== undefined && previous !== next) {
      await clearHold(conn, this.pipeline, previous, this.partition);
    }
    this.current = next;
    if (previous === next) return;
    const name = `${this.pipeline}/${this.partition}`;
    if (next !== undefined) {
      this.logger.warn({ ...ids, hold: next, detail }, `actor ${name}: held (${next}): ${detail}`);
    } else if (previous !== undefined) {
      this.logger.log({ ...ids, hold: previous }, `actor ${name}: ${previous} cleared, resuming`);
    }
  }

  /** Batches and bytes in the outbox, one round trip (two for batches not measured yet). */
  private async outboxUsage(conn: Redis): Promise<OutboxUsage> {
    const ids = await conn.smembers(keys.outboxIndex(this.pipeline, this.partition));
    const live = new Set(ids);
    for (const id of this.sizes.keys()) if (!live.has(id)) this.sizes.delete(id);
    const unknown = ids.filter((id) => !this.sizes.has(id));
    if (unknown.length > 0) {
      const tx = conn.pipeline();
      for (const id of unknown) tx.strlen(keys.outboxBatch(this.pipeline, this.partition, id));
      const replies = (await tx.exec()) ?? [];
      unknown.forEach((id, i) => {
        const [err, length] = replies[i] ?? [null, 0];
        if (err) throw err;
        this.sizes.set(id, Number(length));
      });
    }
    let bytes = 0;
    for (const id of ids) bytes += this.sizes.get(id) ?? 0;
    return { batches: ids.length, bytes };
  }
}
