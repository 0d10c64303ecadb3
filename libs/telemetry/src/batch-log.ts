import { type Span, type SpanContext, SpanStatusCode } from '@opentelemetry/api';
import { IndexRecordWriter, type SegmentBatch } from './event-index';
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
 * The telemetry of one actor's open batch: per-event spans of sampled events (started as the
 * outcome happens, ended once the checkpoint that records the outcome committed), the batch
 * span's parent and links, the find-my-event records, the offset range and the row timestamps.
 * The actor reads it when it flushes and resets it after the checkpoint; one instance per actor,
 * no per-event Redis work.
 */
export class BatchLog implements EventObserver {
  readonly wantsKeys: boolean;
  private readonly records = new IndexRecordWriter();
  private open: Span[] = [];
  private parent: SpanContext | undefined;
  private links: SpanContext[] = [];
  private linksDropped = 0;
  private ranges = new Map<string, [number, number]>();
  private times = new Map<number, number>();
  /** The current run of written rows in one time step, not yet in `times`: neighbouring events
   * share a step, and a Map update keyed by a (heap) double per row was a cost per event. */
  private runStep = Number.NaN;
  private runRows = 0;

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
      if (span !== undefined) {
        this.open.push(span);
        if (outcome === 'written') this.link(span.spanContext());
      }
    }
    if (outcome === 'written') {
      const step = Math.floor(event.timestamp / TIME_STEP_MS) * TIME_STEP_MS;
      if (step === this.runStep) this.runRows += 1;
      else {
        this.endRun();
        this.runStep = step;
        this.runRows = 1;
      }
    }
    if (this.wantsKeys && keyHash !== undefined) {
      this.records.add(keyHash, outcome, stage, event.traceparent, reason);
    }
  }

  /**
   * The batch span continues the trace of the first sampled written event (its parent) and
   * links to the others, at most `maxLinks`; the rest are only counted.
   */
  get batchLinks(): {
    parent: SpanContext | undefined;
    links: readonly SpanContext[];
    dropped: number;
  } {
    return { parent: this.parent, links: this.links, dropped: this.linksDropped };
  }

  /** Outcomes recorded for the index in the open batch (one per keyed event). */
  get indexRecords(): number {
    return this.records.count;
  }

  /** `topic/partition:first-last` per source partition, for the batch span. */
  offsetRanges(): string {
    return [...this.ranges].map(([tp, [a, b]]) => `${tp}:${a}-${b}`).join(',');
  }

  /** Flat (timestamp ms, rows) pairs of the written rows, for the outbox payload. */
  rowTimes(): number[] {
    this.endRun();
    const out: number[] = [];
    for (const [t, n] of this.times) out.push(t, n);
    return out;
  }

  /** The records as one find-my-event log segment (see event-index.ts), stamped with the flush. */
  indexSegment(batch: SegmentBatch, at: number): Buffer {
    return this.records.segment(batch, at);
  }

  /** The checkpoint recording these outcomes committed: their spans end now. */
  committed(): void {
    for (const span of this.open) span.end();
    this.open = [];
    this.reset();
  }

  /**
   * Forgets the open batch (a failed checkpoint, a restore): its events are processed again
   * from the mailbox, so their spans end marked as not committed.
   */
  reset(
    reason = 'checkpoint not committed: the actor redoes this event from its checkpoint',
  ): void {
    for (const span of this.open) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      span.end();
    }
    this.open = [];
    this.records.reset();
    this.parent = undefined;
    this.links = [];
    this.linksDropped = 0;
    this.ranges = new Map();
    this.times = new Map();
    this.runStep = Number.NaN;
    this.runRows = 0;
  }

  /** Adds the current run to `times`; a step keeps its first-seen place in the Map's order. */
  private endRun(): void {
    if (this.runRows === 0) return;
    this.times.set(this.runStep, (this.times.get(this.runStep) ?? 0) + this.runRows);
    this.runRows = 0;
    this.runStep = Number.NaN;
  }

  private link(context: SpanContext): void {
    if (this.parent === undefined) this.parent = context;
    else if (this.links.length < this.options.tracing.options.maxLinks) this.links.push(context);
    else this.linksDropped += 1;
  }
}
