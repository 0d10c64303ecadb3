import {
  type CompiledPipeline,
  type CompiledSource,
  ConversionError,
  isBudgetExceeded,
  type MailboxEntry,
  OMIT_COLUMN,
  type Row,
  type RowMaker,
} from '@sluice/pipeline';
import {
  type JoinEvent,
  type JoinPair,
  type JoinSide,
  JoinState,
  sourceEventTime,
} from '@sluice/pipeline/join';
import { errorText, safeJson } from './entry-helpers';

/** Where the join stage's output goes: the processor's open batch, counters and dead letters. */
export interface JoinSink {
  /** A joined row; `pair` names the source events (telemetry reports it as the left's outcome). */
  row(row: Row, pair: JoinPair): void;
  filtered(): void;
  dead(stage: string, error: string, message: string, at: JoinPosition): void;
}

export interface JoinPosition {
  topic: string;
  partition: number;
  offset: number;
  /** Kafka timestamp and trace context, kept with the buffered event for the joined row. */
  timestamp?: number;
  traceparent?: string;
}

/** An event ready for the join: which side, its key and event time. */
export interface JoinInput {
  side: JoinSide;
  key: string;
  time: number;
}

/**
 * The join step of a join pipeline's actor: keys and event times of incoming events, the pure
 * JoinState, and the post-join filter and transform that turn each pair into a row. Expressions
 * after the join see `{ left, right }`; table columns not named in `transform.columns` come from
 * the left event's same-named field, else the right's. For a left event written alone `right` is
 * `{}`: a transform column that reads `right` and fails on it is left out of the row, so
 * ClickHouse fills it with its DEFAULT (NULL for Nullable, else the type's default), and such a
 * filter gives false (SQL's outer-join reading), instead of dead-lettering the row.
 */
export class JoinStage {
  readonly state: JoinState;
  /** Highest event time among the events of the entry being applied. */
  private entryMax: number | undefined;
  private readonly columns: readonly string[];

  constructor(
    private readonly pipeline: CompiledPipeline,
    private readonly rowBuilder: RowMaker,
  ) {
    const join = pipeline.join;
    if (!join) throw new Error(`pipeline ${pipeline.id} has no join`);
    this.state = new JoinState({
      type: join.type,
      windowMs: join.windowMs,
      latenessMs: join.latenessMs,
      idleTimeoutMs: join.idleTimeoutMs,
      leftTopic: join.left.topic,
      rightTopic: join.right.topic,
    });
    this.columns = pipeline.columns.map((c) => c.column);
  }

  /** Side, key and event time of an event; throws with the reason when one cannot be read or
   * the event time is implausibly far ahead of `now` (it would hold state and the watermark). */
  prepare(
    source: CompiledSource,
    input: Readonly<Record<string, unknown>>,
    timestamp: number,
    now: number,
  ): JoinInput {
    const join = this.pipeline.join!;
    const side = source.joinSide;
    if (side === undefined) throw new Error(`topic ${source.topic} is not a side of the join`);
    const maxFuture = this.pipeline.maxFutureEventTimeMs;
    const time = sourceEventTime(source.eventTime, input, timestamp, now, maxFuture);
    return { side, key: join[side].key.key(input), time };
  }

  /** Buffers the event and writes the rows of its pairs; false when it is late. */
  offer(
    prepared: JoinInput,
    position: JoinPosition,
    value: Readonly<Record<string, unknown>>,
    sink: JoinSink,
  ): boolean {
    const event: JoinEvent = {
      key: prepared.key,
      time: prepared.time,
      partition: position.partition,
      offset: position.offset,
      value,
      timestamp: position.timestamp,
      traceparent: position.traceparent,
    };
    const pairs = this.state.offer(prepared.side, event);
    if (pairs === 'late') return false;
    if (this.entryMax === undefined || prepared.time > this.entryMax) this.entryMax = prepared.time;
    for (const pair of pairs) this.emit(pair, sink);
    return true;
  }

  lateReason(time: number): string {
    return `late: event time ${iso(time)} is before the join watermark ${iso(this.state.watermark.value)}`;
  }

  /** After an applied entry: the source partition's progress, then what the watermark releases. */
  endEntry(entry: MailboxEntry, now: number, sink: JoinSink): void {
    const own = this.entryMax;
    this.entryMax = undefined;
    const stamped = entry.maxTime;
    const maxTime =
      stamped === undefined ? own : own === undefined ? stamped : Math.max(own, stamped);
    this.state.observe(
      entry.topic,
      entry.partition,
      { maxTime, caughtUp: entry.caughtUp, partitions: entry.partitions },
      now,
    );
    this.tick(now, sink);
  }

  /** Processing time passed: idle sources may let the watermark move. */
  tick(now: number, sink: JoinSink): void {
    for (const pair of this.state.advance(now)) this.emit(pair, sink);
  }

  private emit(pair: JoinPair, sink: JoinSink): void {
    const { left, right } = pair;
    const scope = { left: left.value, right: right?.value ?? {} };
    const position = {
      topic: this.pipeline.join!.left.topic,
      partition: left.partition,
      offset: left.offset,
    };
    const message = () => safeJson(scope);
    const outer = right === undefined;
    const { filter, columns } = this.pipeline;
    if (filter) {
      try {
        if (!filter.test(scope)) return sink.filtered();
      } catch (err) {
        // An overrun is the left event's cost, not a missing right side: dead-lettered.
        if (outer && filter.roots.has('right') && !isBudgetExceeded(err)) return sink.filtered();
        return sink.dead('filter', errorText(err), message(), position);
      }
    }
    let row: Row;
    try {
      const values = columns.map((c, i) => {
        try {
          return c.expression.evaluate(scope);
        } catch (err) {
          if (outer && c.expression.roots.has('right') && !isBudgetExceeded(err)) {
            return OMIT_COLUMN;
          }
          throw new ConversionError(this.columns[i] ?? c.column, errorText(err));
        }
      });
      row = this.rowBuilder.build({ ...scope.right, ...scope.left }, values);
    } catch (err) {
      return sink.dead('transform', errorText(err), message(), position);
    }
    sink.row(row, pair);
  }
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}
