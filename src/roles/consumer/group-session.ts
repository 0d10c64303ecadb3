import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import type { CompiledPipeline, UnparsedEntryVersion } from '@sluice/pipeline';
import type { ReplicaSync } from '@sluice/redis';
import { groupIdOf } from './kafka-options';
import { mergeBytesFor } from './mailbox-appender';
import { type FlushResult, MailboxCoalescer } from './mailbox-coalescer';
import type { CoalesceLimits } from './partition-buffer';
import { joinMarks, PartitionSession, partitionsOf } from './partition-session';

export interface TopicPartition {
  topic: string;
  partition: number;
}

export const tpKey = (topic: string, partition: number) => `${topic}/${partition}`;

export interface GroupSessionContext {
  pipeline: CompiledPipeline;
  redis: Redis;
  /** REDIS_MIN_REPLICAS on the connection of `redis`: an append counts once replicated. */
  sync?: ReplicaSync;
  coalesce: CoalesceLimits;
  entryVersion: UnparsedEntryVersion;
  logger: Logger;
  /** After every successful append of the session's coalescer (backpressure, counters). */
  flushed: (result: FlushResult) => void;
  /** The admin client of the current connection, read at use: it changes on every reconnect. */
  admin: () => Admin | undefined;
  /** Counts a failed mailbox append (retried; its offsets are not committed until it succeeds). */
  appendFailed?: () => void;
}

/** One consumer group generation as this member saw it. */
export class GroupSession {
  /** Committed offset per `topic/partition` when the session began, fetched once per session. */
  private starts: Promise<Map<string, number>> | undefined;
  readonly partitions = new Map<string, PartitionSession>();
  readonly coalescer: MailboxCoalescer;
  /** When the log end offsets were last fetched (refreshLogEnds). */
  private logEndsAt = Number.NEGATIVE_INFINITY;
  private readonly uncommittedAtStart = new Set<string>();

  constructor(
    readonly generation: number,
    private readonly context: GroupSessionContext,
    /** This member's partitions: join and dedup pipelines tell every mailbox their marks. */
    readonly assignment?: Record<string, number[]>,
  ) {
    const { pipeline, redis, logger, flushed, appendFailed } = context;
    this.coalescer = new MailboxCoalescer({
      redis,
      sync: context.sync,
      pipelineId: pipeline.id,
      generation,
      limits: coalesceLimitsOf(pipeline, context.coalesce),
      entryVersion: context.entryVersion,
      mergeBytes: mergeBytesFor(context.entryVersion),
      marks: (state, progress) => joinMarks(progress, state.topicPartitions),
      flushed,
      appendFailed,
      failed: (state, err) =>
        logger.warn(`append of ${state.topic}/${state.partition} failed, retrying: ${String(err)}`),
    });
  }

  async partition(topic: string, partition: number): Promise<PartitionSession> {
    const key = tpKey(topic, partition);
    let state = this.partitions.get(key);
    if (!state) {
      const starts = await this.sessionStarts();
      const from = starts.get(key) ?? 0;
      // Another batch of the partition may have created it while the offsets were fetched.
      state =
        this.partitions.get(key) ??
        new PartitionSession(
          topic,
          partition,
          from,
          this.context.pipeline.partitions,
          partitionsOf(starts, topic),
        );
      this.partitions.set(key, state);
    }
    return state;
  }

  /** The offset after all this session read of `topic/partition` (see SourceGapMonitor). */
  nextToRead(topic: string, partition: number): number | undefined {
    return this.partitions.get(tpKey(topic, partition))?.nextToRead;
  }

  /**
   * Join and dedup pipelines, at most every `everyMs`: for every assigned partition, fetched yet or not,
   * whether what this session appended reaches Kafka's log end offset (PartitionSession.logEnd),
   * so the marks heartbeat that follows tells every actor, from Kafka's numbers, which sources
   * still have unread data. False when not due, before the assignment is known, or when Kafka
   * did not answer (no heartbeat then: the actors stop believing older words once they go stale).
   */
  async refreshLogEnds(now: number, everyMs: number): Promise<boolean> {
    const admin = this.context.admin();
    if (now - this.logEndsAt < everyMs || this.assignment === undefined || !admin) return false;
    const offsets = new Map<string, { low: string; high: string; partition: number }[]>();
    try {
      for (const topic of Object.keys(this.assignment)) {
        offsets.set(topic, await admin.fetchTopicOffsets(topic));
      }
    } catch (err) {
      this.context.logger.debug(`log end offsets: ${(err as Error).message}`);
      return false;
    }
    const uncommitted = await this.uncommitted();
    for (const [topic, partitions] of Object.entries(this.assignment)) {
      const ends = offsets.get(topic) ?? [];
      const latest = this.context.pipeline.sources.get(topic)?.startFrom === 'latest';
      for (const partition of partitions) {
        const end = ends.find((o) => o.partition === partition);
        const state = await this.partition(topic, partition);
        if (end === undefined) state.caughtUp = false;
        else {
          const startsAtEnd = latest && uncommitted.has(tpKey(topic, partition));
          state.logEnd(Number(end.low), Number(end.high), ends.length, startsAtEnd);
        }
      }
    }
    this.logEndsAt = now;
    return true;
  }

  /** Whether the group had committed nothing for `topic/partition` when the session began. */
  async neverCommitted(topic: string, partition: number): Promise<boolean> {
    return (await this.uncommitted()).has(tpKey(topic, partition));
  }

  /** Partitions the group had committed nothing for when the session began. */
  private async uncommitted(): Promise<Set<string>> {
    await this.sessionStarts();
    return this.uncommittedAtStart;
  }

  private sessionStarts(): Promise<Map<string, number>> {
    this.starts ??= this.fetchCommitted().catch((err: unknown) => {
      this.starts = undefined;
      throw err;
    });
    return this.starts;
  }

  /**
   * The group's committed offsets. Any committed offset is a safe `from`: it was committed only
   * after every mailbox received entries up to it. Nothing committed gives 0, which no `next`
   * is below (the session then starts at the log start or end, neither leaves a gap to fill).
   */
  private async fetchCommitted(): Promise<Map<string, number>> {
    const admin = this.context.admin();
    if (!admin) throw new Error('consumer is not connected');
    const { pipeline } = this.context;
    const topics = [...pipeline.sources.keys()];
    const result = await admin.fetchOffsets({ groupId: groupIdOf(pipeline.id), topics });
    const starts = new Map<string, number>();
    for (const { topic, partitions } of result) {
      for (const { partition, offset } of partitions) {
        if (Number(offset) < 0) this.uncommittedAtStart.add(tpKey(topic, partition));
        starts.set(tpKey(topic, partition), Math.max(0, Number(offset)));
      }
    }
    return starts;
  }
}

/**
 * A join actor takes a caught-up partition without progress for the idle timeout as idle, so
 * buffered batches must reach it well within that.
 */
function coalesceLimitsOf(pipeline: CompiledPipeline, coalesce: CoalesceLimits): CoalesceLimits {
  const join = pipeline.join;
  if (join === undefined) return coalesce;
  return {
    ...coalesce,
    lingerMs: Math.min(coalesce.lingerMs, Math.floor(join.idleTimeoutMs / 4)),
  };
}
