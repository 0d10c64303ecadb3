/**
 * The event-time watermark of one actor of a join pipeline, combined the way Flink combines
 * input watermarks: per source topic-partition the highest event time seen, the minimum over the
 * partitions that are not idle, minus the allowed lateness; it never moves back.
 *
 * What a source partition reports comes from the mailbox entries (stamped by the consumer):
 * `maxTime`, the highest event time the consumer has read from that partition so far, whichever
 * actor the events went to (so an actor that gets few events of a partition still sees its
 * progress); `caughtUp`, the Kafka batch reached the partition's high watermark; `partitions`,
 * how many partitions the topic has (so partitions not heard from yet hold the watermark back).
 *
 * Idle rule: a partition holds the watermark back unless it is idle. Idle means caught up and
 * without a new highest event time for `idleTimeoutMs` of processing time, or never heard from
 * for `idleTimeoutMs` since the actor started. A partition the consumer has not read to its end
 * is never idle, however long it is silent, so a topic replayed far behind the other one holds
 * the watermark and loses nothing. When every partition is idle the watermark advances with
 * processing time from the highest event time seen (minus lateness), so left-join rows and state
 * release are never held back forever.
 */
export interface SourceMark {
  maxTime?: number;
  caughtUp?: boolean;
  partitions?: number;
}

interface SourceState {
  maxTime: number;
  caughtUp: boolean;
  /** Processing time at which maxTime last rose (or the partition was first heard of). */
  progressAt: number;
}

/** JSON kept in the actor's checkpoint. */
export interface WatermarkSnapshot {
  wm: number | null;
  /** `topic/partition` -> [maxTime or null, caughtUp 0/1]. */
  src: Record<string, [number | null, number]>;
  parts: Record<string, number>;
}

const NEG = Number.NEGATIVE_INFINITY;

export class JoinWatermark {
  private wm = NEG;
  private readonly sources = new Map<string, SourceState>();
  private readonly partitions = new Map<string, number>();
  private startedAt: number;

  constructor(
    private readonly topics: readonly string[],
    private readonly latenessMs: number,
    private readonly idleTimeoutMs: number,
    now: number,
  ) {
    this.startedAt = now;
  }

  /** -Infinity until every source partition has reported (or gone idle). */
  get value(): number {
    return this.wm;
  }

  isLate(eventTime: number): boolean {
    return eventTime < this.wm;
  }

  /** What one applied mailbox entry tells about its source partition. */
  observe(topic: string, partition: number, mark: SourceMark, now: number): void {
    const key = `${topic}/${partition}`;
    let source = this.sources.get(key);
    if (source === undefined) {
      source = { maxTime: NEG, caughtUp: false, progressAt: now };
      this.sources.set(key, source);
    }
    if (mark.maxTime !== undefined && mark.maxTime > source.maxTime) {
      source.maxTime = mark.maxTime;
      source.progressAt = now;
    }
    if (mark.caughtUp !== undefined) source.caughtUp = mark.caughtUp;
    if (mark.partitions !== undefined && mark.partitions > (this.partitions.get(topic) ?? 0)) {
      this.partitions.set(topic, mark.partitions);
    }
  }

  /** Recomputes the watermark at processing time `now`; true when it moved. */
  advance(now: number): boolean {
    const neverHeardIdle = now - this.startedAt >= this.idleTimeoutMs;
    let low = Number.POSITIVE_INFINITY;
    let active = false;
    let highest = NEG;
    let lastProgress = NEG;
    for (const topic of this.topics) {
      const count = this.partitions.get(topic) ?? 0;
      let heard = 0;
      for (const [key, source] of this.sources) {
        if (!key.startsWith(`${topic}/`)) continue;
        heard += 1;
        highest = Math.max(highest, source.maxTime);
        lastProgress = Math.max(lastProgress, source.progressAt);
        const idle = source.caughtUp && now - source.progressAt >= this.idleTimeoutMs;
        if (!idle) {
          active = true;
          low = Math.min(low, source.maxTime);
        }
      }
      // Partitions known to exist but silent so far, or a topic not heard from at all.
      const silent = Math.max(count - heard, heard === 0 ? 1 : 0);
      if (silent > 0 && !neverHeardIdle) {
        active = true;
        low = NEG;
      }
    }
    let candidate: number;
    if (active) candidate = low - this.latenessMs;
    else if (highest === NEG) candidate = NEG;
    else candidate = highest - this.latenessMs + Math.max(0, now - lastProgress);
    if (candidate > this.wm) {
      this.wm = candidate;
      return true;
    }
    return false;
  }

  snapshot(): WatermarkSnapshot {
    const src: WatermarkSnapshot['src'] = {};
    for (const [key, s] of this.sources) {
      src[key] = [Number.isFinite(s.maxTime) ? s.maxTime : null, s.caughtUp ? 1 : 0];
    }
    return {
      wm: Number.isFinite(this.wm) ? this.wm : null,
      src,
      parts: Object.fromEntries(this.partitions),
    };
  }

  /** Restores a snapshot; idle timers start again from `now`. */
  restore(snapshot: WatermarkSnapshot, now: number): void {
    this.startedAt = now;
    this.wm = snapshot.wm ?? NEG;
    this.sources.clear();
    for (const [key, [maxTime, caughtUp]] of Object.entries(snapshot.src)) {
      this.sources.set(key, { maxTime: maxTime ?? NEG, caughtUp: caughtUp === 1, progressAt: now });
    }
    this.partitions.clear();
    for (const [topic, count] of Object.entries(snapshot.parts)) this.partitions.set(topic, count);
  }
}
