import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Admin, Consumer } from 'kafkajs';
import { describeGap, OffsetResetTracker, type SourceGap } from '@sluice/kafka';
import { recordSourceGap } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';

export interface SourceGapTotals {
  resets: number;
  skippedOffsets: number;
  /** Partitions reset and not read since (the skipped range is not known yet). */
  pendingResets: number;
  /** The newest closed gap, as text. */
  last?: string;
  lastAt?: string;
}

export interface SourceGapMonitorOptions {
  redis: Redis;
  telemetry: Telemetry | undefined;
  logger: Logger;
  /** The offset the consumer would read next on `topic/partition`, if this session knows it. */
  expectedNext: (topic: string, partition: number) => number | undefined;
  /** Totals to add to; the caller may keep them across consumers of one pipeline. */
  totals?: SourceGapTotals;
}

export const noSourceGaps = (): SourceGapTotals => ({
  resets: 0,
  skippedOffsets: 0,
  pendingResets: 0,
});

/**
 * Makes a source offset reset loud. kafkajs handles OFFSET_OUT_OF_RANGE (the broker no longer
 * holds the offset the group was to read: retention passed it) by jumping to the topic's
 * default offset and logging one line; the events in between are never read, and nothing
 * downstream can tell (the next mailbox entries are contiguous within the session).
 *
 * Per reset: the counter sluice_source_offset_resets_total at once; when the partition's next
 * batch shows where reading resumed, sluice_source_skipped_offsets_total, an error log naming
 * the range, and a record in Redis (keys.sourceGaps) that the admin API lists. Costs nothing per
 * batch while no reset is open (the batch listener is added only then).
 */
export class SourceGapMonitor {
  private readonly tracker = new OffsetResetTracker();
  /** The group's committed offsets as last read (snapshotCommitted): the expected offset of a
   * reset that happens before the session read anything (kafkajs commits over them). Only read
   * since the last group join: an older one may predate what another member read and committed. */
  private readonly committedAtJoin = new Map<string, number>();
  /** Group joins seen; a snapshot read across a join is dropped. */
  private joins = 0;
  /** The start snapshot is taken before the first join and still holds at it (nothing fetched). */
  private keepAtJoin = false;
  private readonly totals: SourceGapTotals;
  private consumer: Consumer | undefined;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly pipelineId: string,
    private readonly options: SourceGapMonitorOptions,
  ) {
    this.totals = options.totals ?? noSourceGaps();
  }

  /** The kafkajs consumer of the current connection (a new one per connection attempt). */
  attach(consumer: Consumer): void {
    this.unlisten();
    this.keepAtJoin = false;
    this.consumer = consumer;
    if (this.tracker.pending > 0) this.listen();
  }

  /** Batches are watched only while a reset is open: otherwise kafkajs builds no event at all. */
  private listen(): void {
    const consumer = this.consumer;
    if (this.stopListening || !consumer) return;
    this.stopListening = consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
      const first = payload.firstOffset as string | null;
      const gap = this.tracker.batch(
        payload.topic,
        payload.partition,
        first === null ? null : Number(first),
      );
      if (gap) this.closed(gap);
      if (this.tracker.pending === 0) this.unlisten();
    });
  }

  /**
   * Reads the group's committed offsets: before the consumer runs (`atStart`: kafkajs has fetched
   * nothing yet, so no reset has committed over them) and again after each group join (partitions
   * that another member read; a race with kafkajs's first fetch, which a reset's commit may win:
   * it commits kafkajs's logical -2 (earliest) or -1 (latest), and the offset is then unknown).
   */
  async snapshotCommitted(
    admin: Admin,
    groupId: string,
    topics: string[],
    atStart = false,
  ): Promise<void> {
    const joins = this.joins;
    const result = await admin.fetchOffsets({ groupId, topics });
    if (joins !== this.joins) return;
    if (atStart) this.keepAtJoin = true;
    for (const { topic, partitions } of result) {
      for (const { partition, offset } of partitions) {
        const n = Number(offset);
        if (n >= 0) this.committedAtJoin.set(`${topic}/${partition}`, n);
        else this.committedAtJoin.delete(`${topic}/${partition}`);
      }
    }
  }

  /**
   * The group was joined with `assigned` (call first thing in GROUP_JOIN). Committed offsets read
   * before are dropped (the start snapshot aside at the first join), and the open resets of
   * partitions no longer assigned are recorded without an end: this member will not read them.
   */
  joined(assigned: Readonly<Record<string, readonly number[]>>): void {
    this.joins += 1;
    if (this.keepAtJoin) this.keepAtJoin = false;
    else this.committedAtJoin.clear();
    const revoked = this.tracker.revoke((topic, p) => assigned[topic]?.includes(p) === true);
    for (const gap of revoked) this.closed(gap);
    if (this.tracker.pending === 0) this.unlisten();
  }

  /**
   * A session's buffers are dropped (rejoin, reconnect, stop): of each partition it read, only
   * offsets before `next` reached the mailboxes. Nothing reads the rest again after a
   * reset, so an open reset counts it as skipped.
   */
  sessionEnded(appended: Iterable<{ topic: string; partition: number; next: number }>): void {
    if (this.tracker.pending === 0) return;
    for (const { topic, partition, next } of appended) this.tracker.lower(topic, partition, next);
  }

  /** kafkajs logged a reset of `topic/partition` (called from its log bridge, synchronously). */
  resetLogged(topic: string, partition: number): void {
    const k = `${topic}/${partition}`;
    const expected = this.options.expectedNext(topic, partition) ?? this.committedAtJoin.get(k);
    // kafkajs commits over it right after this log line.
    this.committedAtJoin.delete(k);
    this.tracker.reset(topic, partition, expected, Date.now());
    this.totals.resets += 1;
    this.totals.pendingResets = this.tracker.pending;
    this.listen();
    this.options.telemetry?.metrics.sourceOffsetResets.inc(this.labels(topic, partition));
  }

  /**
   * The consumer stops: resets not read since are recorded without an end. (Not on a reconnect:
   * kafkajs then resumes from the offset the reset committed, and the next batch closes it.)
   */
  flushOpen(): void {
    for (const gap of this.tracker.drain()) this.closed(gap);
    this.unlisten();
  }

  private unlisten(): void {
    this.stopListening?.();
    this.stopListening = undefined;
  }

  private closed(gap: SourceGap): void {
    this.totals.pendingResets = this.tracker.pending;
    const skipped = gap.skipped ?? 0;
    if (skipped > 0) {
      this.options.telemetry?.metrics.sourceSkippedOffsets.inc(
        this.labels(gap.topic, gap.partition),
        skipped,
      );
    }
    this.totals.skippedOffsets += skipped;
    const text = describeGap(gap);
    this.totals.last = text;
    this.totals.lastAt = new Date(gap.at).toISOString();
    const fields = { pipeline: this.pipelineId, sourceGap: gap };
    if (skipped > 0) {
      this.options.logger.error(
        fields,
        `source offset reset: ${text}; those events were not delivered (retention passed them ` +
          `before they were read)`,
      );
    } else if (gap.skipped === 0) {
      this.options.logger.warn(fields, `source offset reset: ${text}; no offset was skipped`);
    } else {
      this.options.logger.error(
        fields,
        `source offset reset: ${text}; events may not have been delivered (where reading was ` +
          `to resume or where it resumed is not known)`,
      );
    }
    this.record(gap).catch((err: Error) =>
      this.options.logger.warn(`could not record the source gap ${text}: ${err.message}`),
    );
  }

  private async record(gap: SourceGap): Promise<void> {
    await recordSourceGap(this.options.redis, this.pipelineId, { ...gap, origin: 'offset-reset' });
  }

  private labels(topic: string, partition: number) {
    return { pipeline: this.pipelineId, topic, partition: String(partition) };
  }
}
