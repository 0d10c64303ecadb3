import type { Redis } from 'ioredis';
import type { Consumer } from 'kafkajs';
import { encodeMailboxEntry, type CompiledPipeline } from '@sluice/pipeline';
import { DEDUP_MARKS_HEARTBEAT_MS, stampsSourceMarks } from '@sluice/pipeline/dedup';
import { marksHeartbeatMs } from '@sluice/pipeline/join';
import type { ReplicaSync } from '@sluice/redis';
import type { GroupSession } from './group-session';
import { appendToMailboxes, type MailboxAppend } from './mailbox-appender';
import type { PartitionSession } from './partition-session';

/**
 * Commits a session's appended offsets, after covering them in every mailbox (see
 * PartitionSession), one commit at a time across sessions.
 */
export class OffsetCommitter {
  private committing: Promise<void> | undefined;
  private giveUp = false;
  /** How often the marks heartbeat runs: join and dedup pipelines only (see `commit`). */
  private readonly heartbeatMs: number | undefined;

  constructor(
    private readonly pipeline: CompiledPipeline,
    private readonly redis: Redis,
    /** REDIS_MIN_REPLICAS: offsets are committed only once their coverage is replicated. */
    private readonly sync?: ReplicaSync,
    /**
     * Coverage entries bound for one mailbox share stream entries of up to this many bytes
     * (mergeAppends): a live stream's commit covers most mailboxes for most source partitions,
     * one XADD each otherwise (48 x 16 every 500 ms in the bench).
     */
    private readonly mergeBytes = 0,
  ) {
    const join = pipeline.join;
    if (join) this.heartbeatMs = marksHeartbeatMs(join.idleTimeoutMs);
    else if (stampsSourceMarks(pipeline)) this.heartbeatMs = DEDUP_MARKS_HEARTBEAT_MS;
  }

  /**
   * While the consumer tears down, a commit waiting for replicas stops retrying (at most one
   * more WAIT each), so a replica outage cannot hold up a stop or a reconnect.
   */
  stopWaiting(stop = true): void {
    this.giveUp = stop;
  }

  /** Commits the appended offsets, one commit at a time; a forced one runs after the running one. */
  async commitIfDue(session: GroupSession, consumer: Consumer, force = false): Promise<void> {
    if (this.committing) {
      if (!force) return;
      await this.committing.catch(() => undefined);
    }
    this.committing = this.commit(session, consumer).finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  /**
   * Covers and commits the appended offsets. Join and dedup pipelines also tell every mailbox
   * the marks of each assigned partition, fetched yet or not, at session start and again every
   * heartbeat, with `caughtUp` from Kafka's log end offsets, so actors see caught-up quiet
   * sources as idle only on fresh words from a live consumer, and sources with unread data never
   * (JoinWatermark, DedupState).
   */
  private async commit(session: GroupSession, consumer: Consumer): Promise<void> {
    const marked = this.heartbeatMs !== undefined;
    const now = Date.now();
    const heartbeat =
      this.heartbeatMs !== undefined && (await session.refreshLogEnds(now, this.heartbeatMs));
    const offsets: { state: PartitionSession; offset: number }[] = [];
    const coverage: MailboxAppend[] = [];
    const covered: { state: PartitionSession; mailboxes: number[]; to: number }[] = [];
    for (const state of session.partitions.values()) {
      const offset = state.pending;
      const due = heartbeat && state.caughtUp !== undefined;
      if (offset === undefined && !due) continue;
      if (offset !== undefined) offsets.push({ state, offset });
      const { topic, partition, from } = state;
      const to = state.lastTo;
      const empty = encodeMailboxEntry({
        topic,
        partition,
        generation: session.generation,
        from,
        to,
        events: [],
        ...(marked ? state.coverageMarks() : {}),
      });
      const mailboxes = due ? this.allMailboxes() : state.coverageFor(to + 1);
      for (const mailbox of mailboxes) coverage.push({ mailbox, entry: empty });
      covered.push({ state, mailboxes, to });
    }
    if (covered.length === 0) return;
    const since = this.sync?.session ?? 0;
    await appendToMailboxes(this.redis, this.pipeline.id, coverage, this.mergeBytes);
    // Appended ranges were replicated before they became pending; this covers the coverage
    // entries (and everything else the connection wrote) before Kafka forgets the offsets.
    await this.sync?.confirm(since, () => !this.giveUp);
    for (const { state, mailboxes, to } of covered) state.covered(mailboxes, to);
    if (offsets.length === 0) return;
    await consumer.commitOffsets(
      offsets.map(({ state, offset }) => ({
        topic: state.topic,
        partition: state.partition,
        offset: String(offset),
      })),
    );
    for (const { state, offset } of offsets) state.committed(offset);
  }

  private allMailboxes(): number[] {
    return Array.from({ length: this.pipeline.partitions }, (_, i) => i);
  }
}
