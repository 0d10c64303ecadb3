// What the roles use at runtime: the definition with every expression compiled and every
// duration in milliseconds, arranged per source topic the way the consumer and the actor need it.
import { parseDuration } from '../duration';
import { type CompiledExpression, type ExpressionScope, compileExpression } from '../expr';
import { type DedupSpec, type PipelineDefinition, type SchemaContext, cacheKey } from './schema';

export interface CompiledDedup {
  readonly key: CompiledExpression;
  readonly windowMs: number;
}

export interface CompiledJoinSide {
  readonly topic: string;
  readonly key: CompiledExpression;
}

export interface CompiledJoin {
  readonly type: 'inner' | 'left';
  readonly windowMs: number;
  readonly latenessMs: number;
  /** A caught-up source partition without progress this long stops holding the watermark. */
  readonly idleTimeoutMs: number;
  readonly left: CompiledJoinSide;
  readonly right: CompiledJoinSide;
}

export interface CompiledSource {
  readonly topic: string;
  readonly format: 'json';
  /** Where kafkajs starts a partition with nothing committed: `earliest` for a start time too,
   * which the consumer then moves forward to the time's offset (never past unread data). */
  readonly startFrom: 'earliest' | 'latest';
  /** `startFrom: <ISO time>` as epoch ms: a partition with nothing committed starts at its first
   * offset at or after it by Kafka timestamp (libs/kafka time-offset.ts). */
  readonly startTime?: number;
  /** Event time; when absent the Kafka message timestamp is the event time. */
  readonly eventTime?: CompiledExpression;
  /** Dedup of this topic's events (before the join, when there is one). */
  readonly dedup?: CompiledDedup;
  readonly joinSide?: 'left' | 'right';
  /** What the consumer hashes to choose the pipeline partition: the join key, else the dedup
   * key, so events that must meet reach the same actor. Absent: any partition will do. */
  readonly routingKey?: CompiledExpression;
}

export interface CompiledColumn {
  readonly column: string;
  readonly expression: CompiledExpression;
}

export interface CompiledPipeline {
  /** Normalized, defaults filled in: store this and parse it again on load. */
  readonly definition: PipelineDefinition;
  readonly id: string;
  readonly partitions: number;
  readonly kafka: PipelineDefinition['source']['kafka'];
  /** In definition order. */
  readonly sources: ReadonlyMap<string, CompiledSource>;
  readonly join?: CompiledJoin;
  /** Scope `join` (sees `left` / `right`) when there is a join, else the event's fields. */
  readonly filter?: CompiledExpression;
  /** Explicit columns only; other table columns come from same-named fields. */
  readonly columns: readonly CompiledColumn[];
  /** Event times further ahead of the clock than this are implausible (see event-time.ts). */
  readonly maxFutureEventTimeMs: number;
  readonly sink: PipelineDefinition['sink']['clickhouse'];
  readonly batch: { readonly maxRows: number; readonly maxDelayMs: number };
  readonly dlq: PipelineDefinition['dlq'];
}

function isSingleDedup(dedup: NonNullable<PipelineDefinition['dedup']>): dedup is DedupSpec {
  return typeof dedup.key === 'string';
}

export function buildCompiled(def: PipelineDefinition, ctx: SchemaContext): CompiledPipeline {
  const expr = (source: string, scope: ExpressionScope, expect?: 'bool' | 'key') => {
    const cached = ctx.compiled.get(cacheKey(source, scope, expect));
    if (cached) return cached;
    // Validation compiled it already; compiling again only happens if the caches disagree.
    const result = compileExpression(source, { scope, expect });
    if (!result.ok) throw result.error;
    return result.expression;
  };
  const dedupFor = (topic: string): CompiledDedup | undefined => {
    const spec = def.dedup && (isSingleDedup(def.dedup) ? def.dedup : def.dedup[topic]);
    return spec && { key: expr(spec.key, 'event', 'key'), windowMs: parseDuration(spec.window) };
  };
  const join: CompiledJoin | undefined = def.join && {
    type: def.join.type,
    windowMs: parseDuration(def.join.window),
    latenessMs: parseDuration(def.join.lateness),
    idleTimeoutMs: parseDuration(def.join.idleTimeout),
    left: { topic: def.join.left.topic, key: expr(def.join.left.key, 'event', 'key') },
    right: { topic: def.join.right.topic, key: expr(def.join.right.key, 'event', 'key') },
  };

  const sources = new Map<string, CompiledSource>();
  for (const topic of def.source.topics) {
    const dedup = dedupFor(topic.name);
    const joinSide = !join
      ? undefined
      : join.left.topic === topic.name
        ? 'left'
        : join.right.topic === topic.name
          ? 'right'
          : undefined;
    sources.set(topic.name, {
      topic: topic.name,
      format: topic.format,
      startFrom: topic.startFrom === 'latest' ? 'latest' : 'earliest',
      startTime:
        topic.startFrom === 'earliest' || topic.startFrom === 'latest'
          ? undefined
          : Date.parse(topic.startFrom),
      eventTime: topic.eventTime === undefined ? undefined : expr(topic.eventTime, 'event'),
      dedup,
      joinSide,
      routingKey: joinSide && join ? join[joinSide].key : dedup?.key,
    });
  }

  const postJoin: ExpressionScope = join ? 'join' : 'event';
  return {
    definition: def,
    id: def.id,
    partitions: def.partitions,
    kafka: def.source.kafka,
    sources,
    join,
    filter: def.filter === undefined ? undefined : expr(def.filter, postJoin, 'bool'),
    columns: Object.entries(def.transform?.columns ?? {}).map(([column, source]) => ({
      column,
      expression: expr(source, postJoin),
    })),
    maxFutureEventTimeMs: parseDuration(def.source.maxFutureEventTime),
    sink: def.sink.clickhouse,
    batch: {
      maxRows: def.sink.clickhouse.batch.maxRows,
      maxDelayMs: parseDuration(def.sink.clickhouse.batch.maxDelay),
    },
    dlq: def.dlq,
  };
}
