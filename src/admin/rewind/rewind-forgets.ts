import type { CompiledPipeline, Hasher } from '@sluice/pipeline';
import { dedupKeyHash, splitHash } from '@sluice/pipeline/dedup';
import type { KeyHash } from '@sluice/pipeline/mailbox/routing';
import { sourceEventTime } from '@sluice/pipeline/join';
import { partitionOfPosition } from '@sluice/pipeline/mailbox/routing';
import type { ForgottenKey } from '@sluice/redis';

/** A source record read again for a rewind. */
export interface RewoundRecord {
  topic: string;
  partition: number;
  offset: number;
  /** Kafka timestamp, epoch ms. */
  timestamp: number;
  value: Buffer | null;
}

/**
 * The dedup keys a rewind must forget, per actor: those of the records it reads again that an
 * actor recorded, so the re-read copies are not dropped as duplicates of rows the user deleted.
 * Each record goes through what the actor did with it, with the current definition: parsed, the
 * filter, the routing (which actor), whether that actor had applied its offset (`next`), the key
 * and its time (the bucket). A record the actor filtered, dead-lettered or never applied recorded
 * nothing, and forgetting its key could free an earlier event's: it is left out.
 */
export class RewindForgets {
  private readonly keys = new Map<number, ForgottenKey[]>();
  private count = 0;

  constructor(
    private readonly pipeline: CompiledPipeline,
    private readonly hasher: Hasher,
    /** Per actor, its `next` per `topic/partition` as its checkpoint holds it. */
    private readonly next: readonly ReadonlyMap<string, number>[],
    private readonly now: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Per actor, the keys to append to its forget list. */
  byActor(): ReadonlyMap<number, readonly ForgottenKey[]> {
    return this.keys;
  }

  add(record: RewoundRecord): void {
    const { pipeline } = this;
    const source = pipeline.sources.get(record.topic);
    if (!source?.dedup || record.value === null) return;
    let input: Record<string, unknown>;
    try {
      const value: unknown = JSON.parse(record.value.toString('utf8'));
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
      input = value as Record<string, unknown>;
      if (pipeline.filter && !pipeline.filter.test(input)) return;
    } catch {
      return; // dead-lettered at parse or filter: nothing recorded
    }
    const actor = this.actorOf(input, record);
    const next = this.next[actor]?.get(`${record.topic}/${record.partition}`);
    if (next === undefined || record.offset >= next) return;
    let key: string;
    let time: number;
    try {
      key = source.dedup.key.key(input);
      time = sourceEventTime(
        source.eventTime,
        input,
        record.timestamp,
        this.now,
        pipeline.maxFutureEventTimeMs,
      );
    } catch {
      return; // dead-lettered at dedup
    }
    const hash = keyHashBytes(dedupKeyHash(pipeline, this.hasher, record.topic, key));
    const list = this.keys.get(actor);
    if (list) list.push({ hash, time });
    else this.keys.set(actor, [{ hash, time }]);
    this.count += 1;
  }

  /** The mailbox the consumer routes the record to (batch-router's rule). */
  private actorOf(input: Record<string, unknown>, record: RewoundRecord): number {
    const { partitions } = this.pipeline;
    const routingKey = this.pipeline.sources.get(record.topic)?.routingKey;
    if (routingKey) {
      try {
        return this.hasher.partitionOf(routingKey.key(input), partitions);
      } catch {
        // routed by position, as the consumer does
      }
    }
    return partitionOfPosition(
      this.hasher,
      record.topic,
      record.partition,
      record.offset,
      partitions,
    );
  }
}

/**
 * A key hash as the forget list and the dedup buckets store it: its uint32 lanes (`splitHash`,
 * the dedup set's own split) little endian, as the writer's forgets carry it (row-sources.ts).
 */
function keyHashBytes(hash: KeyHash): Buffer {
  const bytes = Buffer.alloc(12);
  splitHash(hash).forEach((lane, i) => bytes.writeUInt32LE(lane, i * 4));
  return bytes;
}
