import type { Redis } from 'ioredis';
import { clearHold, isGapAccepted, keys, setHold } from '@sluice/redis';
import type { MailboxGap } from './entry-processor';

/** How often a bound is checked while the actor takes input (and re-checked while held). */
export const BOUND_CHECK_MS = 1_000;

export interface DlqBound {
  maxEntries: number;
  maxBytes: number;
}

export interface DlqSize {
  entries: number;
  bytes: number;
}

/**
 * The two holds an actor sets itself (libs/redis holds.ts): `dlq-full` when its dead-letter
 * stream reached the pipeline's bound, `gap` when its mailbox continues from beyond what it
 * applied. While either holds, the actor applies no mailbox entry: the mailbox fills and the
 * consumer's backpressure pauses the source, so Kafka keeps the data.
 */
export class ActorHolds {
  private dlqHeld: boolean | undefined;
  private nextDlqCheck = 0;

  constructor(
    private readonly pipeline: string,
    private readonly partition: number,
    private readonly bound: DlqBound,
  ) {}

  /**
   * Whether the dead-letter stream is at its bound, checked at most every BOUND_CHECK_MS unless
   * `force` (after a checkpoint that wrote dead letters). Sets or clears the hold on a change,
   * and clears one a previous owner left behind on the first check.
   */
  async dlqFull(conn: Redis, now: number, force: boolean): Promise<boolean> {
    if (!force && now < this.nextDlqCheck && this.dlqHeld !== undefined) return this.dlqHeld;
    this.nextDlqCheck = now + BOUND_CHECK_MS;
    const size = await dlqSize(conn, this.pipeline, this.partition);
    const full = size.entries >= this.bound.maxEntries || size.bytes >= this.bound.maxBytes;
    if (full) {
      // Refreshed on every check, so the detail follows discards and a raised bound.
      await setHold(conn, this.pipeline, {
        reason: 'dlq-full',
        partition: this.partition,
        detail:
          `dead-letter queue at its bound (${size.entries}/${this.bound.maxEntries} entries, ` +
          `${size.bytes}/${this.bound.maxBytes} bytes): input stopped, Kafka keeps the data; ` +
          `discard or replay dead letters (POST /api/v1/pipelines/${this.pipeline}/dlq/discard) ` +
          `or raise dlq.maxEntries / dlq.maxBytes`,
      });
    } else if (this.dlqHeld !== false) {
      await clearHold(conn, this.pipeline, 'dlq-full', this.partition);
    }
    this.dlqHeld = full;
    return full;
  }

  /** Records the gap hold (idempotent: `since` stays that of the first report). */
  async holdGap(conn: Redis, gap: MailboxGap): Promise<void> {
    const { topic, partition, from, to } = gap.range;
    await setHold(conn, this.pipeline, {
      reason: 'gap',
      partition: this.partition,
      range: gap.range,
      detail:
        `mailbox entry ${gap.streamId} continues ${topic}/${partition} from offset ${to + 1}, ` +
        `but offsets ${from}..${to} were never applied (Redis lost writes: a restore, a failover ` +
        `or a rollback): stopped there; accept the loss with POST /api/v1/pipelines/` +
        `${this.pipeline}/partitions/${this.partition}/accept-gap`,
    });
  }

  /** Whether an operator accepted exactly this gap; clears the hold when so. */
  async gapAccepted(conn: Redis, gap: MailboxGap): Promise<boolean> {
    if (!(await isGapAccepted(conn, this.pipeline, this.partition, gap.range))) return false;
    await clearHold(conn, this.pipeline, 'gap', this.partition);
    return true;
  }
}

/** Entries and Redis memory (MEMORY USAGE, every node sampled) of a partition's DLQ stream. */
export async function dlqSize(conn: Redis, pipeline: string, partition: number): Promise<DlqSize> {
  const key = keys.deadLetters(pipeline, partition);
  const [[lenErr, entries] = [], [memErr, bytes] = []] =
    (await conn.multi().xlen(key).call('MEMORY', 'USAGE', key, 'SAMPLES', '0').exec()) ?? [];
  if (lenErr) throw lenErr;
  if (memErr) throw memErr;
  return { entries: Number(entries ?? 0), bytes: Number(bytes ?? 0) };
}
