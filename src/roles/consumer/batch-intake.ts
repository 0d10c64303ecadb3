import type { EachBatchPayload } from 'kafkajs';
import type { CompiledPipeline, Hasher } from '@sluice/pipeline';
import { stampsSourceMarks } from '@sluice/pipeline/dedup';
import type { Telemetry } from '@sluice/telemetry';
import { maxEventTime, routeBatch } from './batch-router';
import type { GroupSession } from './group-session';
import type { LagSeries } from './lag-series';
import type { PartitionSession } from './partition-session';
import type { TimeStarts } from './time-start';

export interface BatchIntakeContext {
  pipeline: CompiledPipeline;
  hasher: Hasher;
  telemetry: Telemetry | undefined;
  lagSeries: LagSeries;
  /** The current group session, read at use: a rebalance replaces it while a batch awaits. */
  session: () => GroupSession;
  isPaused: (topic: string, partition: number) => boolean;
  /** MAX_MESSAGE_BYTES (routeBatch's default when absent). */
  maxMessageBytes?: number;
  /** `startFrom` a time: where partitions with nothing committed start. */
  timeStarts?: TimeStarts;
  /** Tells kafkajs to fetch `topic/partition` from `offset` next. */
  seek?: (topic: string, partition: number, offset: number) => void;
}

/**
 * Takes each Kafka batch of the consumer into the current session's coalescer: routes its events
 * to mailboxes, stamps source marks (join and dedup pipelines), and resolves its offsets for kafkajs (not for the commit,
 * which waits for the append).
 */
export class BatchIntake {
  /** In-process counters (not exactly-once: the actors count `consumed`). */
  eventsRead = 0;
  malformed = 0;
  /** Join and dedup pipelines: entries carry their source partition's marks. */
  private readonly marked: boolean;

  constructor(private readonly context: BatchIntakeContext) {
    this.marked = stampsSourceMarks(context.pipeline);
  }

  async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const live = () => payload.isRunning() && !payload.isStale();
    // A paused partition's batch is left unresolved: kafkajs fetches it again after resume.
    if (!live() || this.context.isPaused(topic, partition)) return;

    const { pipeline, hasher, telemetry, maxMessageBytes } = this.context;
    const session = this.context.session();
    const { coalescer } = session;
    const state = await session.partition(topic, partition);
    // Batches are buffered only between flushes of the partition: a flush that pauses it is the
    // last one before the pause, and a range that failed to append is retried before more is
    // buffered (throwing leaves this batch unresolved, so kafkajs fetches it again).
    await coalescer.settled(state);
    if (!live() || this.context.isPaused(topic, partition)) return;
    if (coalescer.full(state)) await coalescer.flush(state);

    const lastOffset = batch.lastOffset();
    const to = Number(lastOffset);
    // kafkajs fetches again from an earlier offset after an offset reset: what is buffered
    // already must not be buffered twice (a range only grows forward).
    const buffered = coalescer.bufferedTo(state);
    if (buffered !== undefined && to <= buffered) {
      if (buffered > state.readTo) state.readTo = buffered;
      payload.resolveOffset(String(buffered));
      return;
    }
    const start = await this.timeStart(session, state);
    if (start !== undefined && to < start) {
      // Wholly before the start time's offset: read, not appended. Recorded as appended (like
      // an empty batch) so it is covered and committed and no later session reads it; kafkajs
      // fetches from the start offset next. A batch fetched before the seek took effect finds
      // this done already.
      if (!live()) return;
      if (state.lastTo < start - 1) state.appended([], start - 1);
      if (start - 1 > state.readTo) state.readTo = start - 1;
      this.context.seek?.(topic, partition, start);
      return;
    }
    const first = Math.max(buffered === undefined ? -1 : buffered + 1, start ?? -1);
    const messages =
      first < 0 ? batch.messages : batch.messages.filter((m) => Number(m.offset) >= first);
    const source = pipeline.sources.get(topic);
    const routed = routeBatch(
      messages,
      {
        topic,
        partition,
        partitions: pipeline.partitions,
        source,
        joined: !!pipeline.join,
        maxMessageBytes,
      },
      hasher,
    );
    // The progress of this source partition: for the join watermark (with the event times), for
    // dedup expiry (caught up only: no event time read on the hot path).
    const caughtUp = Number(batch.highWatermark) <= to + 1;
    const progress = pipeline.join
      ? state.progressWith(
          maxEventTime(routed.values(), source, pipeline.maxFutureEventTimeMs),
          caughtUp,
        )
      : this.marked
        ? state.progressWith(undefined, caughtUp)
        : undefined;
    for (const events of routed.values()) {
      for (const event of events) if (event.error !== undefined) this.malformed += 1;
    }
    // Before encoding: a traced event's entry carries its consume span's context.
    const traced = telemetry?.tracing.consume(pipeline.id, topic, partition, routed);
    let bytes = 0;
    for (const message of messages) bytes += message.value?.length ?? 0;
    coalescer.add(state, routed, to, Date.now(), progress, traced, bytes);
    this.context.lagSeries.countBatch(topic, partition, messages.length, Number(batch.offsetLag()));
    this.eventsRead += messages.length;
    // kafkajs fetches on from here; the commit still waits for the append (state.pending).
    if (to > state.readTo) state.readTo = to;
    payload.resolveOffset(lastOffset);
    // Throws on any Redis error: the range stays buffered and is appended before anything later.
    if (coalescer.due(state, Date.now())) await coalescer.flushDue(state);
    await payload.heartbeat();
  }

  /**
   * The offset a partition of a `startFrom` time topic begins at, in a session that began with
   * nothing committed for it (later sessions start at the committed offset); else undefined.
   */
  private async timeStart(session: GroupSession, state: PartitionSession) {
    const start = this.context.timeStarts?.startOf(state.topic, state.partition);
    if (start === undefined) return undefined;
    if (!(await session.neverCommitted(state.topic, state.partition))) return undefined;
    return start;
  }

  /** A batch kafkajs skipped as empty after filtering: nothing to append, its offsets move on. */
  async emptyBatch(
    session: GroupSession,
    topic: string,
    partition: number,
    to: number,
    highWatermark: number,
  ): Promise<void> {
    const state = await session.partition(topic, partition);
    if (session !== this.context.session() || !(to > state.lastTo)) return;
    const progress = this.marked
      ? state.progressWith(undefined, highWatermark <= to + 1)
      : undefined;
    state.appended([], to, progress);
  }
}
