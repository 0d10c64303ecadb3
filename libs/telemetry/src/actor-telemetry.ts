import type { Span } from '@opentelemetry/api';
import { BatchLog } from './batch-log';
import { indexBucketOf, indexExpireAt, type SegmentBatch } from './event-index';
import type { Telemetry } from './index';
import { ATTR, type BatchTrace } from './tracing';

export interface FlushInfo {
  batchId: string | undefined;
  rows: number;
  deadLetters: readonly { stage: string }[];
}

/**
 * The telemetry of one partition actor, so the actor itself only calls it at its outcome
 * points: the batch log its entry processor reports to, the batch and checkpoint spans of a
 * flush, and the metrics counted once the checkpoint succeeded.
 */
export class ActorTelemetry {
  readonly log: BatchLog;

  constructor(
    private readonly telemetry: Telemetry,
    private readonly pipeline: string,
    private readonly partition: number,
  ) {
    this.log = new BatchLog({
      tracing: telemetry.tracing,
      pipeline,
      partition,
      indexEvents: telemetry.eventIndexRetentionMs > 0,
    });
  }

  /** Opens the batch span (when tracing is on) before the outbox payload is packed. */
  beginFlush(info: FlushInfo): FlushTelemetry {
    const { parent, links, dropped } = this.log.batchLinks;
    const trace = this.telemetry.tracing.startBatch(
      {
        [ATTR.pipeline]: this.pipeline,
        [ATTR.partition]: this.partition,
        [ATTR.batchId]: info.batchId ?? '',
        [ATTR.rows]: info.rows,
        [ATTR.deadLetters]: info.deadLetters.length,
        [ATTR.offsets]: this.log.offsetRanges(),
      },
      parent,
      links,
      dropped,
    );
    return new FlushTelemetry(this.telemetry, this.log, this.pipeline, info, trace);
  }

  leaseRenewFailed(reason: 'error' | 'lost'): void {
    this.telemetry.metrics.leaseRenewFailures.inc({ pipeline: this.pipeline, reason });
  }
}

/** One flush: payload extras, the find-my-event write, the checkpoint span, then the metrics. */
export class FlushTelemetry {
  private checkpointSpan: Span | undefined;

  constructor(
    private readonly telemetry: Telemetry,
    private readonly log: BatchLog,
    private readonly pipeline: string,
    private readonly info: FlushInfo,
    private readonly trace: BatchTrace | undefined,
  ) {}

  /** Optional outbox payload fields: the batch span's context and the rows' timestamps. */
  payloadExtras(): { traceparent?: string; times: number[] } {
    return { traceparent: this.trace?.traceparent, times: this.log.rowTimes() };
  }

  /** The records for the checkpoint script, or undefined when the index is off or empty. */
  eventIndex(batch: SegmentBatch, now: number) {
    const retention = this.telemetry.eventIndexRetentionMs;
    if (retention <= 0) return undefined;
    const count = this.log.indexRecords;
    if (count === 0) return undefined;
    const bucketStart = indexBucketOf(now);
    return {
      bucketStart,
      expireAt: indexExpireAt(bucketStart, retention),
      maxBytes: this.telemetry.eventIndexMaxBytes,
      count,
      segment: this.log.indexSegment(batch, now),
    };
  }

  checkpointStarted(): void {
    this.checkpointSpan = this.trace?.child('sluice.checkpoint');
  }

  /** After the atomic step succeeded: counts the batch's outcomes and ends the batch span. */
  committed(counters: Readonly<Record<string, number>>, bytes: number): void {
    this.checkpointSpan?.end();
    const { metrics } = this.telemetry;
    const pipeline = this.pipeline;
    const stages = new Map<string, number>();
    for (const { stage } of this.info.deadLetters) stages.set(stage, (stages.get(stage) ?? 0) + 1);
    metrics.checkpointed(
      pipeline,
      {
        filtered: counters.filtered ?? 0,
        duplicates: counters.duplicates ?? 0,
        outOfOrderDropped: counters.outOfOrderDropped ?? 0,
      },
      stages,
    );
    // The join stage's own counter (join pipelines only).
    metrics.joinedEvents(pipeline, counters.joined ?? 0);
    if (this.info.rows > 0) {
      metrics.batches.inc({ pipeline });
      metrics.batchRows.observe({ pipeline }, this.info.rows);
      metrics.batchBytes.observe({ pipeline }, bytes);
    }
    this.log.committed();
    // The batch span covers flush and checkpoint; the announcement after it is one BullMQ add.
    this.trace?.end({ [ATTR.bytes]: bytes });
  }

  fail(err: unknown): void {
    this.checkpointSpan?.end();
    this.trace?.fail(err);
    this.log.reset(`checkpoint failed, the actor redoes this event: ${String(err)}`);
  }
}
