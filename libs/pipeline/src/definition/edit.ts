// Editing a stored definition in place (PUT /pipelines/:id): which changes a running pipeline can
// take at a checkpoint boundary, which not (they would split state or change what a stored
// position means), and which part of a definition the consumer reads (it restarts only then).
import type { DefinitionError } from './issues';
import type { DedupSpec, PipelineDefinition } from './schema';
import { REDACTED, mapSecrets } from './secrets';

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The dedup spec of each source topic (a single spec applies to every topic). */
function dedupByTopic(def: PipelineDefinition): Map<string, DedupSpec | undefined> {
  const out = new Map<string, DedupSpec | undefined>();
  const d = def.dedup;
  for (const { name } of def.source.topics) {
    if (d === undefined) out.set(name, undefined);
    else if (typeof d.key === 'string') out.set(name, d as DedupSpec);
    else out.set(name, (d as Record<string, DedupSpec>)[name]);
  }
  return out;
}

/**
 * Why `next` cannot replace `previous` in a running pipeline (empty: it can). Live: filter,
 * transform (column mapping), dedup windows, batch settings, DLQ bounds, sink credentials, Kafka
 * SASL/TLS settings, and event-time settings of a pipeline that reads no event time (no dedup,
 * no join). The rest is fixed at creation: partitions (state is split by them), dedup keys and
 * whether there is dedup (the consumer routes by the key, keys are stored hashed), the join (its
 * state is bucketed by its window and keyed by its keys), the topics, the brokers (another cluster
 * has other offsets), the target table, and the event-time rules of a pipeline that keeps state
 * by event time.
 */
export function liveChangeConflicts(
  previous: PipelineDefinition,
  next: PipelineDefinition,
): DefinitionError[] {
  const out: DefinitionError[] = [];
  const fixed = (path: string, why: string) =>
    out.push({ path, message: `cannot change in a running pipeline: ${why}` });
  if (previous.partitions !== next.partitions) {
    fixed('partitions', 'events and state are split over the pipeline partitions');
  }
  const names = (def: PipelineDefinition) => def.source.topics.map((t) => t.name).sort();
  if (!same(names(previous), names(next))) {
    fixed('source.topics', 'the topics read (create a new pipeline for other topics)');
  }
  if (!same(previous.source.kafka.brokers, next.source.kafka.brokers)) {
    fixed('source.kafka.brokers', 'other brokers may be another cluster, with other offsets');
  }
  const keepsTimeState = previous.dedup !== undefined || previous.join !== undefined;
  const before = new Map(previous.source.topics.map((t) => [t.name, t]));
  next.source.topics.forEach((topic, i) => {
    const was = before.get(topic.name);
    if (was === undefined) return;
    if (was.format !== topic.format) fixed(`source.topics[${i}].format`, 'the message format');
    if (was.startFrom !== topic.startFrom) {
      fixed(`source.topics[${i}].startFrom`, 'it applies only when the pipeline is created');
    }
    if (keepsTimeState && was.eventTime !== topic.eventTime) {
      fixed(`source.topics[${i}].eventTime`, 'dedup and join state are kept by event time');
    }
  });
  if (keepsTimeState && previous.source.maxFutureEventTime !== next.source.maxFutureEventTime) {
    fixed('source.maxFutureEventTime', 'dedup and join state are kept by event time');
  }
  const dedupBefore = dedupByTopic(previous);
  const dedupAfter = dedupByTopic(next);
  for (const [topic, spec] of dedupAfter) {
    const was = dedupBefore.get(topic);
    if (!dedupBefore.has(topic)) continue;
    if ((was === undefined) !== (spec === undefined)) {
      fixed('dedup', `dedup of topic ${topic} added or removed (events are routed by its key)`);
    } else if (was && spec && was.key !== spec.key) {
      fixed('dedup', `the dedup key of topic ${topic} (events are routed by it, state holds it)`);
    }
  }
  if (!same(previous.join, next.join)) {
    fixed('join', 'join type, keys, topics and windows (the join state is built on them)');
  }
  const sinkBefore = previous.sink.clickhouse;
  const sinkAfter = next.sink.clickhouse;
  for (const field of ['url', 'database', 'table'] as const) {
    if (sinkBefore[field] !== sinkAfter[field]) {
      fixed(`sink.clickhouse.${field}`, 'the target table (batches in flight name it)');
    }
  }
  return out;
}

/**
 * What the consumer role reads from a definition: its consumers restart only when this changes,
 * so an edit of the filter, transform, batch or DLQ settings does not rejoin the Kafka group.
 */
export function consumerFacet(def: PipelineDefinition): string {
  const routing = [...dedupByTopic(def)].map(([topic, spec]) => [topic, spec?.key ?? null]);
  return JSON.stringify({
    id: def.id,
    source: def.source,
    partitions: def.partitions,
    routing,
    join: def.join ?? null,
  });
}

/**
 * An edit sends the whole definition, and GET shows secrets as ***: a secret given as *** keeps
 * the stored one. Returns `incoming` with those fields replaced by `resolve(stored value)` (the
 * plain value or the reference, sealed again on the way in).
 */
export function keepRedactedSecrets(
  incoming: PipelineDefinition,
  stored: PipelineDefinition,
  resolve: (storedValue: string) => string,
): PipelineDefinition {
  const previous = secretValues(stored);
  return mapSecrets(incoming, (value, path) => {
    const was = previous.get(path);
    return value === REDACTED && was !== undefined ? resolve(was) : value;
  });
}

/**
 * After sealing: where a secret is the same as the stored one, keep the stored text, so a PUT
 * that changes nothing stores the same JSON (a new seal has a new random IV) and is seen as
 * unchanged. `resolve` opens a sealed value (references stay as they are).
 */
export function keepUnchangedSecrets(
  sealed: PipelineDefinition,
  stored: PipelineDefinition,
  resolve: (value: string) => string | undefined,
): PipelineDefinition {
  const previous = secretValues(stored);
  return mapSecrets(sealed, (value, path) => {
    const was = previous.get(path);
    if (was === undefined || was === value) return value;
    const plain = resolve(value);
    return plain !== undefined && plain === resolve(was) ? was : value;
  });
}

function secretValues(def: PipelineDefinition): Map<string, string> {
  const values = new Map<string, string>();
  mapSecrets(def, (value, path) => {
    values.set(path, value);
    return value;
  });
  return values;
}
