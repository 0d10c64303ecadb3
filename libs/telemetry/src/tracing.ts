import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { EventSampler } from './sampling';
import { formatTraceParent, parseTraceParent, type TraceParent, unsampled } from './trace-context';

/** What tracing needs of a mailbox event (MailboxEvent fits). */
export interface TracedEvent {
  offset: number;
  timestamp: number;
  /** In: the producer's context from the Kafka headers; out: the consume span's, or unsampled. */
  traceparent?: string;
}

export type EventOutcome = 'written' | 'filtered' | 'duplicate' | 'dead-lettered';

export interface TracingOptions {
  /** False when no OTLP endpoint is configured: every method returns at once. */
  enabled: boolean;
  sampler: EventSampler;
  /** Most links one batch span carries to the events in it. */
  maxLinks: number;
}

export const ATTR = {
  pipeline: 'sluice.pipeline',
  partition: 'sluice.partition',
  outcome: 'sluice.outcome',
  reason: 'sluice.reason',
  dlqStage: 'sluice.dlq.stage',
  batchId: 'sluice.batch.id',
  rows: 'sluice.batch.rows',
  bytes: 'sluice.batch.bytes',
  offsets: 'sluice.batch.offsets',
  deadLetters: 'sluice.batch.dead_letters',
  linksDropped: 'sluice.batch.links_dropped',
  topic: 'messaging.destination.name',
  kafkaPartition: 'messaging.destination.partition.id',
  offset: 'messaging.kafka.offset',
} as const;

/**
 * Sluice's spans. Per-event spans (consume, process) exist only for events the EventSampler
 * keeps, decided once at consume time and carried as the sampled flag of the event's
 * traceparent; batch, checkpoint and insert spans are always recorded (one per batch). With
 * tracing off (no OTLP endpoint) nothing here allocates per event.
 */
export class Tracing {
  private readonly tracer: Tracer;

  constructor(readonly options: TracingOptions) {
    this.tracer = trace.getTracer('sluice');
  }

  static disabled(): Tracing {
    return new Tracing({ enabled: false, sampler: new EventSampler('always_off', 0), maxLinks: 0 });
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /**
   * Consumer: decides per event whether it is traced, starts its consume span (child of the
   * producer's context, or a new trace) and rewrites the event's traceparent to that span, so the
   * mailbox entry carries it. End the returned spans once the append succeeded.
   */
  consume(
    pipeline: string,
    topic: string,
    partition: number,
    routed: ReadonlyMap<number, TracedEvent[]>,
  ): ConsumeSpans | undefined {
    if (!this.enabled) return undefined;
    const sampler = this.options.sampler;
    if (sampler.never) {
      // No span, but a producer's sampled flag must not travel on: the actor would trace it.
      for (const events of routed.values()) {
        for (const event of events) {
          if (event.traceparent !== undefined && !event.traceparent.endsWith('-00')) {
            event.traceparent = unsampled(event.traceparent);
          }
        }
      }
      return undefined;
    }
    const roots = !sampler.noRoots;
    let spans: Span[] | undefined;
    for (const [mailbox, events] of routed) {
      for (const event of events) {
        let parent: TraceParent | undefined;
        if (event.traceparent !== undefined) {
          parent = parseTraceParent(event.traceparent);
          if (parent === undefined) delete event.traceparent;
        }
        if (parent === undefined && !roots) continue;
        if (!sampler.sample(parent)) {
          if (parent !== undefined) {
            event.traceparent = formatTraceParent(parent.traceId, parent.spanId, false);
          }
          continue;
        }
        const span = this.tracer.startSpan(
          'sluice.consume',
          {
            kind: SpanKind.CONSUMER,
            attributes: {
              [ATTR.pipeline]: pipeline,
              [ATTR.partition]: mailbox,
              [ATTR.topic]: topic,
              [ATTR.kafkaPartition]: partition,
              [ATTR.offset]: event.offset,
              'messaging.system': 'kafka',
              'messaging.operation.type': 'process',
            },
          },
          parent === undefined ? ROOT_CONTEXT : contextOf(parent),
        );
        const ctx = span.spanContext();
        event.traceparent = formatTraceParent(ctx.traceId, ctx.spanId, true);
        (spans ??= []).push(span);
      }
    }
    return spans && new ConsumeSpans(spans);
  }

  /**
   * Actor: the per-event span of a sampled event, child of its consume span, with the outcome
   * (for filtered, duplicate and dead-lettered events the trace ends here, with the reason). The
   * caller ends it once the checkpoint recording the outcome committed. Undefined when the
   * event is not sampled.
   */
  processed(
    pipeline: string,
    partition: number,
    topic: string,
    event: TracedEvent,
    outcome: EventOutcome,
    stage?: string,
    reason?: string,
  ): Span | undefined {
    // The consumer writes `-01` or `-00` (formatTraceParent): most events stop at this check.
    if (!this.enabled || event.traceparent?.endsWith('-01') !== true) return undefined;
    const parent = parseTraceParent(event.traceparent);
    if (parent === undefined || !parent.sampled) return undefined;
    const attributes: Attributes = {
      [ATTR.pipeline]: pipeline,
      [ATTR.partition]: partition,
      [ATTR.topic]: topic,
      [ATTR.offset]: event.offset,
      [ATTR.outcome]: outcome,
    };
    if (stage !== undefined) attributes[ATTR.dlqStage] = stage;
    if (reason !== undefined) attributes[ATTR.reason] = reason;
    else if (outcome === 'filtered') attributes[ATTR.reason] = 'filter expression was false';
    else if (outcome === 'duplicate') attributes[ATTR.reason] = 'dedup key seen within the window';
    const span = this.tracer.startSpan('sluice.process', { attributes }, contextOf(parent));
    if (outcome === 'dead-lettered') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${stage ?? ''}: ${reason ?? ''}` });
    }
    return span;
  }

  /**
   * Actor: the span of one flush. It continues the trace of the batch's first sampled event
   * (`parent`, that event's process span; a new trace when there is none) and links to the
   * other sampled events; each of those gets a zero-length `sluice.batched` child linking back
   * to the batch span, so every linked event's own trace leads to its batch and insert.
   */
  startBatch(
    attributes: Attributes,
    parent: SpanContext | undefined,
    links: readonly SpanContext[],
    linksDropped: number,
  ): BatchTrace | undefined {
    if (!this.enabled) return undefined;
    const span = this.tracer.startSpan(
      'sluice.batch',
      {
        kind: SpanKind.PRODUCER,
        attributes: { ...attributes, [ATTR.linksDropped]: linksDropped },
        links: links.map((context): Link => ({ context })),
      },
      parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent),
    );
    const back: Link[] = [{ context: span.spanContext() }];
    const batchId = attributes[ATTR.batchId];
    for (const context of links) {
      this.tracer
        .startSpan(
          'sluice.batched',
          { links: back, attributes: batchId === undefined ? {} : { [ATTR.batchId]: batchId } },
          trace.setSpanContext(ROOT_CONTEXT, context),
        )
        .end();
    }
    return new BatchTrace(this.tracer, span);
  }

  /** Writer: the insert span, child of the batch span whose traceparent the outbox carried. */
  startInsert(traceparent: string | undefined, attributes: Attributes): Span | undefined {
    if (!this.enabled) return undefined;
    const parent = parseTraceParent(traceparent);
    return this.tracer.startSpan(
      'sluice.insert',
      { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'clickhouse', ...attributes } },
      parent === undefined ? ROOT_CONTEXT : contextOf({ ...parent, sampled: true }),
    );
  }
}

/** The consume spans of one Kafka batch; ended together after the mailbox append. */
export class ConsumeSpans {
  constructor(private readonly spans: readonly Span[]) {}

  end(): void {
    for (const span of this.spans) span.end();
  }

  fail(err: unknown): void {
    for (const span of this.spans) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
      span.end();
    }
  }
}

/** One batch's span and its children (checkpoint). */
export class BatchTrace {
  readonly traceparent: string;
  private readonly context: Context;

  constructor(
    private readonly tracer: Tracer,
    readonly span: Span,
  ) {
    const ctx = span.spanContext();
    this.traceparent = formatTraceParent(ctx.traceId, ctx.spanId, true);
    this.context = trace.setSpan(ROOT_CONTEXT, span);
  }

  child(name: string, attributes?: Attributes): Span {
    return this.tracer.startSpan(name, { attributes }, this.context);
  }

  end(attributes?: Attributes): void {
    if (attributes) this.span.setAttributes(attributes);
    this.span.end();
  }

  fail(err: unknown): void {
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
    this.span.end();
  }
}

function contextOf(parent: TraceParent): Context {
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}
