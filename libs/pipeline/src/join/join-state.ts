import { Packr } from 'msgpackr';
import { JoinWatermark, type SourceMark, type WatermarkSnapshot } from './watermark';

export type JoinSide = 'left' | 'right';

/** One event buffered by the join: its key, event time, source position and parsed value. */
export interface JoinEvent {
  readonly key: string;
  readonly time: number;
  readonly partition: number;
  readonly offset: number;
  readonly value: Readonly<Record<string, unknown>>;
  /** Kafka timestamp and trace context, for the joined row's latency and trace (telemetry). */
  readonly timestamp?: number;
  readonly traceparent?: string;
}

/** One output row of the join; `right` is absent for a left event written unmatched. */
export interface JoinPair {
  readonly left: JoinEvent;
  readonly right?: JoinEvent;
}

export interface JoinCounters {
  /** Pairs emitted. */
  joined: number;
  /** Left events released without a partner (written alone by a left join). */
  unmatchedLeft: number;
  /** Right events released without a partner. */
  expiredRight: number;
  /** Events older than the watermark (dead-lettered by the caller). */
  late: number;
}

export interface JoinOptions {
  readonly type: 'inner' | 'left';
  readonly windowMs: number;
  readonly latenessMs: number;
  readonly idleTimeoutMs: number;
  readonly leftTopic: string;
  readonly rightTopic: string;
}

/** What the checkpoint writes for the join (see docs/architecture.md, "Join state"). */
export interface JoinChanges {
  /** Records to APPEND to a bucket's string. */
  readonly appends: readonly { side: JoinSide; start: number; data: Buffer }[];
  /** Record indexes (uint32 LE) to APPEND to a bucket's matched-flags string. */
  readonly matched: readonly { side: JoinSide; start: number; data: Buffer }[];
  /** Buckets the watermark has passed: DEL both strings. */
  readonly released: readonly { side: JoinSide; start: number }[];
  /** Watermark snapshot (JSON) for the checkpoint hash. */
  readonly meta: string;
}

interface Rec extends JoinEvent {
  readonly bucket: number;
  readonly index: number;
  matched: boolean;
}

interface Bucket {
  readonly start: number;
  readonly records: Rec[];
  pending: Buffer[];
  matchedPending: number[];
}

class SideBuffer {
  readonly buckets = new Map<number, Bucket>();
  readonly byKey = new Map<string, Rec[]>();
  records = 0;

  bucket(start: number): Bucket {
    let bucket = this.buckets.get(start);
    if (bucket === undefined) {
      bucket = { start, records: [], pending: [], matchedPending: [] };
      this.buckets.set(start, bucket);
    }
    return bucket;
  }

  add(rec: Rec, bucket: Bucket): void {
    bucket.records.push(rec);
    this.records += 1;
    const list = this.byKey.get(rec.key);
    if (list) list.push(rec);
    else this.byKey.set(rec.key, [rec]);
  }

  remove(bucket: Bucket): void {
    this.buckets.delete(bucket.start);
    this.records -= bucket.records.length;
    // Each distinct key once: a hot key's list is filtered once per bucket, not once per record.
    const distinct = new Set<string>();
    for (const rec of bucket.records) distinct.add(rec.key);
    for (const key of distinct) {
      const list = this.byKey.get(key);
      if (list === undefined) continue;
      const kept = list.filter((r) => r.bucket !== bucket.start);
      if (kept.length === 0) this.byKey.delete(key);
      else this.byKey.set(key, kept);
    }
  }
}

// Self-describing records (no shared structures): strings appended by different processes over
// time must decode on their own.
const packr = new Packr({ useRecords: false, moreTypes: false });

type Stored = [
  key: string,
  time: number,
  partition: number,
  offset: number,
  value: unknown,
  m: 0 | 1,
  timestamp?: number,
  traceparent?: string,
];

/** Bucket length: a quarter of the window (at least 1 s), so release lags the window by <= 1/4. */
export function joinBucketMs(windowMs: number): number {
  return Math.max(1_000, Math.ceil(windowMs / 4));
}

/**
 * The join of one actor: both sides' buffered events in event-time buckets, matched one-to-many
 * both ways within the window (|t_left - t_right| <= window, inclusive), each pair emitted once,
 * when its second event arrives. An event older than the watermark is late. A bucket is released
 * when the watermark has passed the window of its newest possible event; its unmatched left events
 * then come out alone (left join) and its unmatched right events are counted as expired. Pure:
 * the actor writes `changes()` in its checkpoint and calls `commit()`; after a failed checkpoint
 * it throws the state away and restores it from Redis.
 */
export class JoinState {
  readonly watermark: JoinWatermark;
  readonly bucketMs: number;
  counters: JoinCounters = zeroJoinCounters();
  private readonly sides = { left: new SideBuffer(), right: new SideBuffer() };
  private released: { side: JoinSide; start: number }[] = [];
  private dirty = false;

  constructor(readonly options: JoinOptions) {
    this.bucketMs = joinBucketMs(options.windowMs);
    this.watermark = new JoinWatermark(
      [options.leftTopic, options.rightTopic],
      options.latenessMs,
      options.idleTimeoutMs,
    );
  }

  sideOf(topic: string): JoinSide | undefined {
    if (topic === this.options.leftTopic) return 'left';
    if (topic === this.options.rightTopic) return 'right';
    return undefined;
  }

  /** Buffered events and buckets, for logs and the memory test. */
  get size(): { records: number; buckets: number } {
    const { left, right } = this.sides;
    return {
      records: left.records + right.records,
      buckets: left.buckets.size + right.buckets.size,
    };
  }

  /** Bytes of buffered events the next checkpoint appends (its batch's byte bound counts them). */
  pendingAppendBytes = 0;

  /** True when something must be checkpointed (records, flags, releases, counters). */
  get hasChanges(): boolean {
    return this.dirty;
  }

  /** Buffers the event and returns its pairs, or 'late' (nothing buffered). */
  offer(side: JoinSide, event: JoinEvent): JoinPair[] | 'late' {
    if (this.watermark.isLate(event.time)) {
      this.counters.late += 1;
      this.dirty = true;
      return 'late';
    }
    const other = this.sides[side === 'left' ? 'right' : 'left'];
    const pairs: JoinPair[] = [];
    for (const partner of other.byKey.get(event.key) ?? []) {
      if (Math.abs(partner.time - event.time) > this.options.windowMs) continue;
      pairs.push(
        side === 'left' ? { left: event, right: partner } : { left: partner, right: event },
      );
      if (!partner.matched) {
        partner.matched = true;
        (other.buckets.get(partner.bucket) as Bucket).matchedPending.push(partner.index);
      }
    }
    const own = this.sides[side];
    const bucket = own.bucket(this.bucketOf(event.time));
    const rec: Rec = {
      ...event,
      bucket: bucket.start,
      index: bucket.records.length,
      matched: pairs.length > 0,
    };
    own.add(rec, bucket);
    const stored: Stored = [
      event.key,
      event.time,
      event.partition,
      event.offset,
      event.value,
      rec.matched ? 1 : 0,
    ];
    // Optional trailing fields: records appended before they existed still decode.
    if (event.timestamp !== undefined) stored.push(event.timestamp);
    if (event.timestamp !== undefined && event.traceparent) stored.push(event.traceparent);
    const packed = packr.pack(stored);
    bucket.pending.push(packed);
    this.pendingAppendBytes += packed.length;
    this.counters.joined += pairs.length;
    this.dirty = true;
    return pairs;
  }

  /** A source partition's progress, from an applied mailbox entry. */
  observe(topic: string, partition: number, mark: SourceMark, now: number): void {
    this.watermark.observe(topic, partition, mark, now);
  }

  /**
   * Moves the watermark and releases the buckets it has passed. Returns the left events that go
   * out alone (left join only), in event-time bucket order.
   */
  advance(now: number): JoinPair[] {
    this.watermark.advance(now);
    const wm = this.watermark.value;
    const alone: JoinPair[] = [];
    for (const side of ['left', 'right'] as const) {
      const buffer = this.sides[side];
      const passed = [...buffer.buckets.values()]
        .filter((b) => b.start + this.bucketMs + this.options.windowMs <= wm)
        .sort((a, b) => a.start - b.start);
      for (const bucket of passed) {
        for (const rec of bucket.records) {
          if (rec.matched) continue;
          if (side === 'right') this.counters.expiredRight += 1;
          else {
            this.counters.unmatchedLeft += 1;
            if (this.options.type === 'left') alone.push({ left: toEvent(rec) });
          }
        }
        buffer.remove(bucket);
        this.released.push({ side, start: bucket.start });
        this.dirty = true;
      }
    }
    return alone;
  }

  changes(): JoinChanges {
    const appends: { side: JoinSide; start: number; data: Buffer }[] = [];
    const matched: { side: JoinSide; start: number; data: Buffer }[] = [];
    for (const side of ['left', 'right'] as const) {
      for (const bucket of this.sides[side].buckets.values()) {
        if (bucket.pending.length > 0) {
          appends.push({ side, start: bucket.start, data: Buffer.concat(bucket.pending) });
        }
        if (bucket.matchedPending.length > 0) {
          const data = Buffer.allocUnsafe(4 * bucket.matchedPending.length);
          bucket.matchedPending.forEach((index, i) => data.writeUInt32LE(index, 4 * i));
          matched.push({ side, start: bucket.start, data });
        }
      }
    }
    return {
      appends,
      matched,
      released: [...this.released],
      meta: JSON.stringify(this.watermark.snapshot()),
    };
  }

  /** The checkpoint holding `changes()` succeeded. */
  commit(): void {
    for (const side of ['left', 'right'] as const) {
      for (const bucket of this.sides[side].buckets.values()) {
        bucket.pending = [];
        bucket.matchedPending = [];
      }
    }
    this.released = [];
    this.pendingAppendBytes = 0;
    this.counters = zeroJoinCounters();
    this.dirty = false;
  }

  /** Restore: the checkpointed watermark snapshot (JSON), before any bucket is loaded. */
  restoreMeta(meta: string | undefined, now: number): void {
    if (meta !== undefined && meta !== '') {
      this.watermark.restore(JSON.parse(meta) as WatermarkSnapshot, now);
    }
  }

  /** Restore: one bucket string and its matched-flags string, as the checkpoints appended them. */
  load(side: JoinSide, start: number, data: Buffer, matchedData?: Buffer): void {
    const matchedIndexes = new Set<number>();
    if (matchedData) {
      for (let i = 0; i + 4 <= matchedData.length; i += 4)
        matchedIndexes.add(matchedData.readUInt32LE(i));
    }
    const buffer = this.sides[side];
    const bucket = buffer.bucket(start);
    const stored = packr.unpackMultiple(data) as Stored[];
    for (const [key, time, partition, offset, value, m, timestamp, traceparent] of stored) {
      const index = bucket.records.length;
      const rec: Rec = {
        key,
        time,
        partition,
        offset,
        value: value as Record<string, unknown>,
        bucket: start,
        index,
        matched: m === 1 || matchedIndexes.has(index),
        ...(timestamp !== undefined && { timestamp }),
        ...(traceparent != null && { traceparent }),
      };
      buffer.add(rec, bucket);
    }
  }

  private bucketOf(time: number): number {
    return Math.floor(time / this.bucketMs) * this.bucketMs;
  }
}

export function zeroJoinCounters(): JoinCounters {
  return { joined: 0, unmatchedLeft: 0, expiredRight: 0, late: 0 };
}

function toEvent(rec: Rec): JoinEvent {
  return {
    key: rec.key,
    time: rec.time,
    partition: rec.partition,
    offset: rec.offset,
    value: rec.value,
    timestamp: rec.timestamp,
    traceparent: rec.traceparent,
  };
}
