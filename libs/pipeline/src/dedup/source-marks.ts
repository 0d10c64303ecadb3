import type { CompiledPipeline } from '../definition';

/**
 * How often a consumer of a dedup pipeline (without a join) repeats the marks (`caughtUp`,
 * `partitions`) of every partition assigned to it, fetched yet or not. Slow: dedup expiry is
 * measured in windows (minutes to days), and each heartbeat asks Kafka for the log end offsets.
 */
export const DEDUP_MARKS_HEARTBEAT_MS = 15_000;

/** How long a `caughtUp` is believed without being repeated: a consumer that died says nothing. */
export const DEDUP_MARKS_VALID_MS = 4 * DEDUP_MARKS_HEARTBEAT_MS;

/**
 * Whether the consumers stamp source marks on this pipeline's mailbox entries: joins (their
 * watermark) and dedup (its expiry), both held by source partitions with unread data in Kafka.
 */
export function stampsSourceMarks(pipeline: CompiledPipeline): boolean {
  if (pipeline.join !== undefined) return true;
  for (const source of pipeline.sources.values()) if (source.dedup) return true;
  return false;
}

interface Heard {
  caughtUp: boolean;
  /** Processing time of the last `caughtUp` heard (or when the partition was first heard of). */
  heardAt: number;
}

/**
 * What the consumers' marks say about the source partitions of a dedup state (non-join
 * pipelines): which partitions exist (Kafka's partition count per topic) and which are caught up
 * to Kafka's log end offset, on a word heard within DEDUP_MARKS_VALID_MS. Updated per mailbox
 * entry, never per event.
 */
export class SourceMarks {
  private readonly heard = new Map<string, Heard>();
  private readonly partitions = new Map<string, number>();
  /** The latest processing time a mark was heard at. */
  lastHeardAt = Number.NEGATIVE_INFINITY;

  constructor(readonly topics: readonly string[]) {}

  observe(
    topic: string,
    partition: number,
    caughtUp: boolean | undefined,
    partitions: number | undefined,
    now: number,
  ): void {
    if (!this.topics.includes(topic)) return;
    const key = `${topic}/${partition}`;
    let heard = this.heard.get(key);
    if (heard === undefined) {
      heard = { caughtUp: false, heardAt: now };
      this.heard.set(key, heard);
    }
    if (caughtUp !== undefined) {
      heard.caughtUp = caughtUp;
      heard.heardAt = now;
    }
    if (partitions !== undefined && partitions > (this.partitions.get(topic) ?? 0)) {
      this.partitions.set(topic, partitions);
    }
    if (now > this.lastHeardAt) this.lastHeardAt = now;
  }

  /** Caught up to the log end on a fresh word: nothing of it is unread in Kafka. */
  isCaughtUp(source: string, now: number): boolean {
    const heard = this.heard.get(source);
    return heard !== undefined && heard.caughtUp && now - heard.heardAt <= DEDUP_MARKS_VALID_MS;
  }

  /**
   * A source partition that may have unread data and has no event time known to this state
   * (`hasClock` false): a partition not heard from yet (fewer heard than the topic has, or a
   * topic not heard from at all), or one heard from but not caught up. Expiry must wait for it.
   */
  holdsUnknown(now: number, hasClock: (source: string) => boolean): boolean {
    for (const topic of this.topics) {
      let count = 0;
      for (const key of this.heard.keys()) if (key.startsWith(`${topic}/`)) count += 1;
      if (count < Math.max(1, this.partitions.get(topic) ?? 0)) return true;
    }
    for (const key of this.heard.keys()) {
      if (!hasClock(key) && !this.isCaughtUp(key, now)) return true;
    }
    return false;
  }
}
