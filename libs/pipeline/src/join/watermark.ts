/**
 * The event-time watermark of one actor of a join pipeline, combined the way Flink combines
 * input watermarks: per source topic-partition a mark, the minimum over the partitions, minus the
 * allowed lateness; it never moves back.
 *
 * What a source partition reports comes from the mailbox entries (stamped by the consumer):
 * `maxTime`, the highest event time the consumer has read from that partition so far, whichever
 * actor the events went to (so an actor that gets few events of a partition still sees its
 * progress); `caughtUp`, Kafka's numbers say everything in the partition is in the mailboxes
 * (the consumer's appended position reached the log end offset: of the fetch, or fetched from
 * Kafka for every assigned partition at each marks heartbeat, fetched or not); `partitions`, how
 * many partitions the topic has (Kafka's count).
 *
 * Hold rule. Every source partition holds the watermark at its mark unless it is idle, and a
 * partition not heard from yet (a topic not heard from at all, or fewer partitions heard than
 * the topic has) holds it where it is: its data may be waiting in Kafka, unread. So does one
 * whose consumer has not fetched it yet, is paused, is being rebalanced, is slow, or is gone:
 * none of them says `caughtUp`.
 *
 * Idle rule. A partition is idle when the last word from a live consumer says it is caught up
 * (`caughtUp` heard within `marksValidMs`: consumers repeat their marks every `marksHeartbeatMs`;
 * restored marks are never caught up) and its `maxTime` has not risen for `idleTimeoutMs` of
 * processing time. An idle partition's mark then moves on with the processing time beyond the
 * timeout: `maxTime + (now - lastRise - idleTimeoutMs)`. So:
 * - no event already in the log when the pipeline starts can be late for the idle rule's sake:
 *   its partition is not caught up until it was appended, so it holds the watermark at most at
 *   its own partition's mark (late only when more than `lateness` behind it, Flink's rule);
 * - never held back forever: once every partition is caught up and quiet, the watermark grows
 *   with processing time and passes an event time `t` at the latest
 *   `(t - lowest mark) + idleTimeout + lateness` after the last mark rose (plus one marks
 *   heartbeat, and one more `idleTimeout` when a partition never had an event);
 * - a live event (appended after its partition last said caught up) is late only when that
 *   partition was idle and its delivery delay (processing time at which the actor applies it
 *   minus its event time) exceeds `idleTimeout + lateness + d`, `d` being the delivery delay of
 *   the event that last raised the partition's mark (about 0 for live streams).
 * A partition that never had an event has no mark of its own. Once idle (caught up: nothing of
 * it is unread) its mark is the lowest of the others minus `idleTimeoutMs`: it does not hold a
 * replay back to the pace of processing time, and its first live event still gets the slack of
 * an idle partition (late only when delayed more than `idleTimeout + lateness + d`).
 */
/** How often a consumer repeats the marks of every partition it reads (join pipelines). */
export function marksHeartbeatMs(idleTimeoutMs: number): number {
  return Math.min(2_500, Math.max(500, Math.floor(idleTimeoutMs / 4)));
}

/** How long a `caughtUp` is believed without being repeated: a consumer that died says nothing. */
export function marksValidMs(idleTimeoutMs: number): number {
  return Math.max(idleTimeoutMs, 4 * marksHeartbeatMs(idleTimeoutMs));
}

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
  /** Processing time of the last `caughtUp` heard. */
  heardAt: number;
}

/** JSON kept in the actor's checkpoint. */
export interface WatermarkSnapshot {
  wm: number | null;
  /** `topic/partition` -> [maxTime or null, caughtUp 0/1] (caughtUp is not restored). */
  src: Record<string, [number | null, number]>;
  parts: Record<string, number>;
}

const NEG = Number.NEGATIVE_INFINITY;

export class JoinWatermark {
  private wm = NEG;
  private readonly sources = new Map<string, SourceState>();
  private readonly partitions = new Map<string, number>();

  constructor(
    private readonly topics: readonly string[],
    private readonly latenessMs: number,
    private readonly idleTimeoutMs: number,
  ) {}

  /** -Infinity until every source partition has reported. */
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
      source = { maxTime: NEG, caughtUp: false, progressAt: now, heardAt: now };
      this.sources.set(key, source);
    }
    if (mark.maxTime !== undefined && mark.maxTime > source.maxTime) {
      source.maxTime = mark.maxTime;
      source.progressAt = now;
    }
    if (mark.caughtUp !== undefined) {
      source.caughtUp = mark.caughtUp;
      source.heardAt = now;
    }
    if (mark.partitions !== undefined && mark.partitions > (this.partitions.get(topic) ?? 0)) {
      this.partitions.set(topic, mark.partitions);
    }
  }

  /** Recomputes the watermark at processing time `now`; true when it moved. */
  advance(now: number): boolean {
    const low = this.lowestMark(now);
    if (low === undefined) return false;
    const candidate = low - this.latenessMs;
    if (candidate > this.wm) {
      this.wm = candidate;
      return true;
    }
    return false;
  }

  /**
   * The lowest mark over every source partition at `now`, or undefined while a partition not
   * heard from yet holds the watermark (or no partition has a mark yet).
   */
  private lowestMark(now: number): number | undefined {
    const validMs = marksValidMs(this.idleTimeoutMs);
    let empty = false;
    let low = Number.POSITIVE_INFINITY;
    for (const topic of this.topics) {
      let heard = 0;
      for (const [key, source] of this.sources) {
        if (!key.startsWith(`${topic}/`)) continue;
        heard += 1;
        const quietFor = now - source.progressAt - this.idleTimeoutMs;
        const idle = source.caughtUp && now - source.heardAt <= validMs && quietFor >= 0;
        if (idle && source.maxTime === NEG) empty = true;
        else low = Math.min(low, idle ? source.maxTime + quietFor : source.maxTime);
      }
      // Not heard from is not idle: whatever the silent partitions hold may be unread in Kafka.
      if (heard < Math.max(1, this.partitions.get(topic) ?? 0)) return undefined;
    }
    if (!Number.isFinite(low)) return undefined;
    // An idle partition that never had an event has nothing unread (Kafka's numbers say so), so
    // it need not hold a replay back; it stays `idleTimeoutMs` behind the others so that its
    // first live event gets the slack of an idle partition's mark.
    return empty ? low - this.idleTimeoutMs : low;
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

  /**
   * Restores a snapshot; idle timers start again from `now` and no partition is caught up until
   * a consumer says so again: the one that said it may be gone, with events waiting behind it.
   */
  restore(snapshot: WatermarkSnapshot, now: number): void {
    this.wm = snapshot.wm ?? NEG;
    this.sources.clear();
    for (const [key, [maxTime]] of Object.entries(snapshot.src)) {
      this.sources.set(key, {
        maxTime: maxTime ?? NEG,
        caughtUp: false,
        progressAt: now,
        heardAt: now,
      });
    }
    this.partitions.clear();
    for (const [topic, count] of Object.entries(snapshot.parts)) this.partitions.set(topic, count);
  }
}
