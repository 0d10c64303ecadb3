import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Admin, Consumer } from 'kafkajs';
import { describeGap, OffsetResetTracker, type SourceGap } from '@sluice/kafka';
import { keys } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';

/** Newest source-gap records kept per pipeline in Redis (the totals hash keeps counting). */
export const SOURCE_GAPS_KEPT = 1_000;

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
   * reset that happens before the session read anything (kafkajs commits over them). */
  private readonly committedAtJoin = new Map<string, number>();
  private readonly totals: SourceGapTotals;
  private consumer: Consumer | undefined;
  private stopListening: (() => void) | undefined;

  constructor(
    private readonly pipelineId: string,
    private readonly options: SourceGapMonitorOptions,
  ) {
    this.totals = options.totals ?? noSourceGaps();
  }

  get summary(): SourceGapTotals {
    return { ...this.totals };
  }

  /** The kafkajs consumer of the current connection (a new one per connection attempt). */
  attach(consumer: Consumer): void {
    this.stopListening?.();
    this.stopListening = undefined;
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
      if (this.tracker.pending === 0) {
        this.stopListening?.();
        this.stopListening = undefined;
      }
    });
  }

  /**
   * Reads the group's committed offsets: before the consumer runs (kafkajs has fetched nothing
   * yet, so none is overwritten by a reset) and again after each group join (partitions that
   * another member read; a race with kafkajs's first fetch, which a reset's commit may win).
   * Only offsets >= 0 are kept: a reset commits kafkajs's logical -2 (earliest) or -1 (latest).
   */
  async snapshotCommitted(admin: Admin, groupId: string, topics: string[]): Promise<void> {
    const result = await admin.fetchOffsets({ groupId, topics });
    for (const { topic, partitions } of result) {
      for (const { partition, offset } of partitions) {
        const n = Number(offset);
        if (n >= 0) this.committedAtJoin.set(`${topic}/${partition}`, n);
      }
    }
  }

  /** kafkajs logged a reset of `topic/partition` (called from its log bridge, synchronously). */
  resetLogged(topic: string, partition: number): void {
    const expected =
      this.options.expectedNext(topic, partition) ??
      this.committedAtJoin.get(`${topic}/${partition}`);
    this.tracker.reset(topic, partition, expected, Date.now());
    this.totals.resets += 1;
    this.totals.pendingResets = this.tracker.pending;
    this.listen();
    this.options.telemetry?.metrics.sourceOffsetResets.inc(this.labels(topic, partition));
  }

  /** The consumer stops or reconnects: resets not read since are recorded without an end. */
  flushOpen(): void {
    for (const gap of this.tracker.drain()) this.closed(gap);
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
    this.options.logger.error(
      { pipeline: this.pipelineId, sourceGap: gap },
      `source offset reset: ${text}; those events were not delivered (retention passed them ` +
        `before they were read)`,
    );
    this.record(gap).catch((err: Error) =>
      this.options.logger.warn(`could not record the source gap ${text}: ${err.message}`),
    );
  }

  private async record(gap: SourceGap): Promise<void> {
    const num = (n: number | undefined) => (n === undefined ? '' : String(n));
    await this.options.redis
      .multi()
      .xadd(
        keys.sourceGaps(this.pipelineId),
        'MAXLEN',
        '~',
        SOURCE_GAPS_KEPT,
        '*',
        'topic',
        gap.topic,
        'partition',
        String(gap.partition),
        'expected',
        num(gap.expected),
        'resumedAt',
        num(gap.resumedAt),
        'skipped',
        num(gap.skipped),
        'resets',
        String(gap.resets),
        'at',
        String(gap.at),
      )
      .hincrby(keys.sourceGapTotals(this.pipelineId), 'resets', gap.resets)
      .hincrby(keys.sourceGapTotals(this.pipelineId), 'skippedOffsets', gap.skipped ?? 0)
      .exec();
  }

  private labels(topic: string, partition: number) {
    return { pipeline: this.pipelineId, topic, partition: String(partition) };
  }
}
