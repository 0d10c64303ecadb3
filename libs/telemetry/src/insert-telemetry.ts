import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { Telemetry } from './index';
import { ATTR } from './tracing';

export interface InsertInfo {
  pipeline: string;
  partition: number;
  batchId: string;
  table: string;
  rows: number;
  traceparent?: string;
  times?: readonly number[];
  /** The definition version that made the rows: the `definition_version` label of the written
   * rows ('' for batches stored before versions were recorded). */
  definitionVersion?: number;
}

/** One insert attempt of the writer: its span (child of the batch span) and its metrics. */
export class InsertTelemetry {
  private readonly span: Span | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly telemetry: Telemetry,
    private readonly info: InsertInfo,
  ) {
    this.span = telemetry.tracing.startInsert(info.traceparent, {
      [ATTR.pipeline]: info.pipeline,
      [ATTR.partition]: info.partition,
      [ATTR.batchId]: info.batchId,
      [ATTR.rows]: info.rows,
      'db.collection.name': info.table,
    });
  }

  /**
   * The insert was acknowledged. `counted` is true for the one run whose script removed the
   * outbox entry: only that run counts rows and latency, so a repeated job counts nothing twice.
   */
  written(counted: boolean): void {
    const { metrics } = this.telemetry;
    const { pipeline, rows, times } = this.info;
    metrics.insertDuration.observe({ pipeline, outcome: 'written' }, this.seconds());
    if (counted) {
      metrics.written.inc({ pipeline, definition_version: this.version }, rows);
      metrics.observeLatency(pipeline, Date.now(), times ?? []);
    }
    this.span?.setAttribute(ATTR.outcome, counted ? 'written' : 'written-before');
    this.span?.end();
  }

  /** ClickHouse refused the rows for good: they went to the dead-letter queue. */
  deadLettered(reason: string, counted: boolean): void {
    const { metrics } = this.telemetry;
    const { pipeline, rows } = this.info;
    metrics.insertDuration.observe({ pipeline, outcome: 'refused' }, this.seconds());
    if (counted) metrics.deadLettered.inc({ pipeline, stage: 'insert' }, rows);
    this.span?.setAttributes({ [ATTR.outcome]: 'dead-lettered', [ATTR.reason]: reason });
    this.span?.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    this.span?.end();
  }

  /**
   * Some rows landed and ClickHouse refused the others, found by splitting the batch: only
   * those went to the dead-letter queue.
   */
  partlyWritten(written: number, refused: number, reason: string, counted: boolean): void {
    const { metrics } = this.telemetry;
    const { pipeline, times } = this.info;
    metrics.insertDuration.observe({ pipeline, outcome: 'refused' }, this.seconds());
    metrics.insertSplits.inc({ pipeline });
    if (counted) {
      metrics.written.inc({ pipeline, definition_version: this.version }, written);
      metrics.deadLettered.inc({ pipeline, stage: 'insert' }, refused);
      // Latency of the batch's rows as a whole: which ones were refused is not in `times`.
      if (written > 0) metrics.observeLatency(pipeline, Date.now(), times ?? []);
    }
    this.span?.setAttributes({
      [ATTR.outcome]: refused > 0 ? 'partly-dead-lettered' : 'written',
      [ATTR.reason]: reason,
    });
    this.span?.end();
  }

  /** A retryable failure: the batch comes back later. `code`: ClickHouse's, or 'other'. */
  failed(err: unknown, code = 'other'): void {
    this.telemetry.metrics.insertRetries.inc({ pipeline: this.info.pipeline, code });
    this.telemetry.metrics.insertDuration.observe(
      { pipeline: this.info.pipeline, outcome: 'retry' },
      this.seconds(),
    );
    this.span?.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
    this.span?.end();
  }

  private get version(): string {
    return this.info.definitionVersion === undefined ? '' : String(this.info.definitionVersion);
  }

  private seconds(): number {
    return (performance.now() - this.started) / 1000;
  }
}
