import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { type CompiledPipeline, loadHasher } from '@sluice/pipeline';
import { dedupKeyHash, dedupKeysPerTopic } from '@sluice/pipeline/dedup';
import { batchId, keys } from '@sluice/redis';
import {
  type EventOutcomeReport,
  findInLog,
  type FoundRecord,
  type IndexRecord,
  indexBucketsToRead,
  reportOutcomes,
} from '@sluice/telemetry';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { REDIS } from '../infra/tokens';
import { PipelineWatcher } from '../pipelines';

/** Index logs read per Redis round trip. */
const LOGS_PER_READ = 8;
/** Most records of one key gathered, and most outcomes answered: a key sent a million times
 * must not make one request build a million-entry answer. */
const MAX_RECORDS = 10_000;
const MAX_EVENTS = 1_000;

/** The request cannot be answered as asked (no dedup key, a topic is needed, index off). */
export class EventLookupError extends Error {
  override readonly name = 'EventLookupError';
}

export interface EventLookupResult {
  pipeline: string;
  key: string;
  /** The newest outcome; `events` lists every outcome known for the key, newest first. */
  latest: EventOutcomeReport | undefined;
  events: EventOutcomeReport[];
  retentionMs: number;
}

/**
 * "Find my event": reads the actors' find-my-event records of a dedup key. The partition is the
 * one the consumer routes the key to (the same hash); when the routing key is not the dedup key
 * (joins) every partition is read. One pipelined round trip over the live time buckets, whose
 * logs (a few MB at most, EVENT_INDEX_MAX_BYTES) are scanned here for the low 64 bits of the
 * key's hash (the index's 8-byte records, libs/telemetry event-index.ts).
 */
@Injectable()
export class EventLookup {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly watcher: PipelineWatcher,
  ) {}

  async pipeline(id: string): Promise<CompiledPipeline | undefined> {
    if (!this.watcher.current().has(id)) await this.watcher.refresh();
    return this.watcher.current().get(id)?.pipeline;
  }

  async find(pipeline: CompiledPipeline, key: string, topic?: string): Promise<EventLookupResult> {
    const retentionMs = this.config.eventIndexRetentionMs;
    if (retentionMs <= 0) {
      throw new EventLookupError('the event index is off (EVENT_INDEX_RETENTION_MS=0)');
    }
    // Join pipelines scope keys by topic even with one dedup spec: the actor's rule, shared.
    const perTopic = dedupKeysPerTopic(pipeline);
    const sources = [...pipeline.sources.values()].filter((s) => s.dedup !== undefined);
    if (sources.length === 0) {
      throw new EventLookupError(
        `pipeline ${pipeline.id} has no dedup key: events are not indexed`,
      );
    }
    let source = sources[0]!;
    if (perTopic) {
      const chosen = sources.find((s) => s.topic === topic);
      if (chosen === undefined) {
        throw new EventLookupError(
          `pipeline ${pipeline.id} deduplicates per topic: add ?topic= one of ${sources.map((s) => s.topic).join(', ')}`,
        );
      }
      source = chosen;
    }
    const hasher = await loadHasher();
    // The index keeps the low 64 bits of the key's hash.
    const hash = dedupKeyHash(pipeline, hasher, source.topic, key).low;
    const routedByKey = sources.every((s) => s.routingKey === s.dedup?.key);
    const partitions = routedByKey
      ? [hasher.partitionOf(key, pipeline.partitions)]
      : Array.from({ length: pipeline.partitions }, (_, i) => i);

    const buckets = indexBucketsToRead(Date.now(), retentionMs);
    const logs = partitions.flatMap((partition) => buckets.map((start) => ({ partition, start })));
    const found: FoundRecord[] = [];
    // A few logs per round trip (each up to EVENT_INDEX_MAX_BYTES): reading every partition's at
    // once could hold gigabytes here and stall the Redis that leases share.
    for (let at = 0; at < logs.length && found.length < MAX_RECORDS; at += LOGS_PER_READ) {
      const chunk = logs.slice(at, at + LOGS_PER_READ);
      const tx = this.redis.pipeline();
      for (const { partition, start } of chunk) {
        tx.getBuffer(keys.eventIndex(pipeline.id, partition, start));
      }
      const replies = (await tx.exec()) ?? [];
      chunk.forEach(({ partition }, i) => {
        const [err, log] = replies[i] ?? [null, null];
        if (err) throw err;
        if (!(log instanceof Buffer)) return;
        for (const record of findInLog(log, hash)) found.push({ partition, record });
      });
    }
    const pending = await this.pendingBatches(pipeline.id, found.slice(0, MAX_RECORDS));
    const idOf = (partition: number, record: IndexRecord) =>
      batchId(pipeline.id, partition, record);
    const events = reportOutcomes(found.slice(0, MAX_RECORDS), idOf, pending).slice(0, MAX_EVENTS);
    return { pipeline: pipeline.id, key, latest: events[0], events, retentionMs };
  }

  /** Batch ids of written records whose batch still waits in the outbox. */
  private async pendingBatches(pipeline: string, found: FoundRecord[]): Promise<Set<string>> {
    const written = found.filter((f) => f.record.stage === 'written');
    if (written.length === 0) return new Set();
    const tx = this.redis.pipeline();
    const ids = written.map(({ partition, record }) => {
      const id = batchId(pipeline, partition, record);
      tx.sismember(keys.outboxIndex(pipeline, partition), id);
      return id;
    });
    const replies = (await tx.exec()) ?? [];
    return new Set(ids.filter((_, i) => replies[i]?.[1] === 1));
  }
}
