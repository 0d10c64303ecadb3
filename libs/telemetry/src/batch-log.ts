import type { SpanContext } from '@opentelemetry/api';
import { encodeIndexRecord, indexField, type IndexStage } from './event-index';
import { parseTraceParent } from './trace-context';
import type { EventOutcome, TracedEvent, Tracing } from './tracing';

/**
 * What the entry processor tells about each event it applies; everything optional to it. The
 * processor computes a key hash for outcomes that would not need one (filtered) only when
 * `wantsKeys` is true.
 */
export interface EventObserver {
  readonly wantsKeys: boolean;
  /** One mailbox entry applied: `first` is the first event offset used, `to` the entry's end. */
  entry(topic: string, partition: number, first: number, to: number): void;
  outcome(
    topic: string,
    event: TracedEvent,
    outcome: EventOutcome,
    keyHash: bigint | undefined,
    stage?: string,
    reason?: string,
  ): void;
}

interface PendingRecord {
  hash: bigint;
  stage: IndexStage;
  dlStage?: string;
  traceparent?: string;
  reason?: string;
}

// Latency is observed per row at the writer, so the batch carries row timestamps, grouped in
// steps far below the histogram's smallest bucket to keep the payload small.
const TIME_STEP_MS = 10;

export interface BatchLogOptions {
  tracing: Tracing;
  pipeline: string;
  partition: number;
  /** Record every outcome for "find my event" (EVENT_INDEX_RETENTION_MS > 0). */
  indexEvents: boolean;
}

/**
 * The telemetry of one actor's open batch: per-event spans of sampled events (emitted as the
 * outcome happens), their contexts for the batch span's links, the find-my-event records, the
 * offset range and the row timestamps. The actor reads it when it flushes and resets it after
 * the checkpoint; one instance per actor, no per-event Redis work.
 */
export class BatchLog implements EventObserver {
  readonly wantsKeys: boolean;
  private records: PendingRecord[] = [];
  private links: SpanContext[] = [];
  private linksDropped = 0;
  private ranges = new Map<string, [number, number]>();
  private times = new Map<number, number>();

  constructor(private readonly options: BatchLogOptions) {
    this.wantsKeys = options.indexEvents;
  }

  entry(topic: string, partition: number, first: number, to: number): void {
    const key = `${topic}/${partition}`;
    const range = this.ranges.get(key);
    if (range === undefined) this.ranges.set(key, [first, to]);
    else range[1] = Math.max(range[1], to);
  }

  outcome(
    topic: string,
    event: TracedEvent,
    outcome: EventOutcome,
    keyHash: bigint | undefined,
    stage?: string,
    reason?: string,
  ): void {
    const { tracing, pipeline, partition } = this.options;
    if (event.traceparent !== undefined && tracing.enabled) {
      const span = tracing.processed(pipeline, partition, topic, event, outcome, stage, reason);
      if (span !== undefined && outcome === 'written') {
        if (this.links.length < tracing.options.maxLinks) this.links.push(span);
        else this.linksDropped += 1;
      }
    }
    if (outcome === 'written') {
      const step = Math.floor(event.timestamp / TIME_STEP_MS) * TIME_STEP_MS;
      this.times.set(step, (this.times.get(step) ?? 0) + 1);
    }
    if (this.wantsKeys && keyHash !== undefined) {
      this.records.push({
        hash: keyHash,
        stage: outcome,
        dlStage: stage,
        traceparent: event.traceparent,
        reason,
      });
    }
  }

  get batchLinks(): { links: readonly SpanContext[]; dropped: number } {
    return { links: this.links, dropped: this.linksDropped };
  }

  /** `topic/partition:first-last` per source partition, for the batch span. */
  offsetRanges(): string {
    return [...this.ranges].map(([tp, [a, b]]) => `${tp}:${a}-${b}`).join(',');
  }

  /** Flat (timestamp ms, rows) pairs of the written rows, for the outbox payload. */
  rowTimes(): number[] {
    const out: number[] = [];
    for (const [t, n] of this.times) out.push(t, n);
    return out;
  }

  /** Alternating hash field / packed record, for the checkpoint's HSET. */
  indexFields(epoch: number, seq: number, at: number): Buffer[] {
    const out: Buffer[] = [];
    for (const r of this.records) {
      const parent = parseTraceParent(r.traceparent);
      out.push(
        indexField(r.hash, r.stage === 'duplicate'),
        encodeIndexRecord({
          stage: r.stage,
          deadLetterStage: r.dlStage,
          epoch,
          seq,
          at,
          traceId: parent?.traceId,
          sampled: parent?.sampled,
          reason: r.reason,
        }),
      );
    }
    return out;
  }

  reset(): void {
    this.records = [];
    this.links = [];
    this.linksDropped = 0;
    this.ranges = new Map();
    this.times = new Map();
  }
}
