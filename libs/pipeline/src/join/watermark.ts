/**
 * The event-time watermark of one actor of a join pipeline, combined the way Flink combines
 * input watermarks: per source topic-partition a mark, the minimum over the partitions, minus the
 * allowed lateness; it never moves back.
 *
 * What a source partition reports comes from the mailbox entries (stamped by the consumer):
 * `maxTime`, the highest event time the consumer has read from that partition so far, whichever
 * actor the events went to (so an actor that gets few events of a partition still sees its
 * progress); `caughtUp`, the consumer has read the partition to its high watermark; `partitions`,
 * how many partitions the topic has (so partitions not heard from yet hold the watermark back).
 *
 * Idle rule. A partition's mark is its `maxTime`. It is idle when the last word from a live
 * consumer says it is caught up (`caughtUp` heard within `marksValidMs`: consumers repeat their
 * marks every `marksHeartbeatMs`; restored marks are never caught up) and its `maxTime` has not
 * risen for `idleTimeoutMs` of processing time. An idle partition's mark then moves on with the
 * processing time beyond the timeout: `maxTime + (now - lastRise - idleTimeoutMs)`. So:
 * - never held back forever: a caught-up quiet partition's mark grows with processing time;
 * - no on-time event becomes late: the watermark is never above its own partition's mark minus
 *   lateness, so an event not older than what its partition already delivered is late only when
 *   that partition was idle and the event's delivery delay (processing time at which the actor
 *   applies it minus its event time) exceeds `idleTimeout + lateness + d`, `d` being the delivery
 *   delay of the event that last raised the partition's mark (about 0 for live streams). An event
 *   older than its partition's mark is late when more than `lateness` behind it (Flink's rule).
 *   A partition not read to its end (a replay) is never idle, so a topic read far behind the
 *   other holds the watermark and loses nothing; nor is one whose consumer died (its marks stop
 *   being repeated), so events produced while no consumer reads them are not made late.
 * A partition that never had an event has no mark of its own. Once idle it takes the lowest mark
 * of the other partitions at that moment as its own (as if it had just delivered an event that
 * old) and from then on follows the rule above. Skipping it instead would let the watermark jump
 * as far as the busiest partitions go, and an event already in Kafka but fetched a little later
 * from the empty partition (different brokers answer fetches at different times) would be late.
 * The same holds for a partition not heard from at all once `idleTimeoutMs` has passed since the
 * actor started (an empty partition whose consumer is not there yet may say nothing).
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
  private startedAt: number;
  /** The mark partitions not heard from yet hold, once `idleTimeoutMs` passed (see adoptLow). */
  private silentFloor: { mark: number; since: number } | undefined;

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
    const neverHeardIdle = now - this.startedAt >= this.idleTimeoutMs;
    const validMs = marksValidMs(this.idleTimeoutMs);
    const empties: SourceState[] = [];
    let anySilent = false;
    let low = Number.POSITIVE_INFINITY;
    for (const topic of this.topics) {
      const count = this.partitions.get(topic) ?? 0;
      let heard = 0;
      for (const [key, source] of this.sources) {
        if (!key.startsWith(`${topic}/`)) continue;
        heard += 1;
        const quietFor = now - source.progressAt - this.idleTimeoutMs;
        const idle = source.caughtUp && now - source.heardAt <= validMs && quietFor >= 0;
        if (idle && source.maxTime === NEG) {
          empties.push(source);
          continue;
        }
        low = Math.min(low, idle ? source.maxTime + quietFor : source.maxTime);
      }
      // Partitions known to exist but silent so far, or a topic not heard from at all.
      const silent = Math.max(count - heard, heard === 0 ? 1 : 0);
      if (silent > 0 && !neverHeardIdle) low = NEG;
      if (silent > 0) anySilent = true;
    }
    if (low === Number.POSITIVE_INFINITY) return false;
    low = Math.min(low, this.adoptLow(low, empties, anySilent, now));
    const candidate = low - this.latenessMs;
    if (candidate > this.wm) {
      this.wm = candidate;
      return true;
    }
    return false;
  }

  /**
   * Idle partitions without a mark (and silent ones, as one floor per actor) take `low` as their
   * mark the first time there is one; their mark then follows the quiet-partition rule. Returns
   * the lowest mark among them (never below `low` at adoption, so adopting moves nothing).
   */
  private adoptLow(low: number, empties: SourceState[], silent: boolean, now: number): number {
    if (!Number.isFinite(low)) return low;
    for (const source of empties) {
      source.maxTime = low;
      source.progressAt = now;
    }
    let lowest = empties.length > 0 ? low : Number.POSITIVE_INFINITY;
    if (silent) {
      this.silentFloor ??= { mark: low, since: now };
      const quietFor = now - this.silentFloor.since - this.idleTimeoutMs;
      lowest = Math.min(lowest, this.silentFloor.mark + Math.max(0, quietFor));
    } else {
      this.silentFloor = undefined;
    }
    return lowest;
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
    this.startedAt = now;
    this.silentFloor = undefined;
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
