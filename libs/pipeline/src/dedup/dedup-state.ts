import type { KeyHash } from '../mailbox/routing';
import { HashSet96, splitLane, splitLanes } from './hash-set96';
import { SourceMarks } from './source-marks';

/** Buckets per window: the window's edge is exact to within window / 16. */
export const BUCKETS_PER_WINDOW = 16;

/**
 * A source partition that sent nothing for this long (processing time) stops holding expiry
 * back, once its consumer says it is caught up to Kafka's log end (see `sourceTopics`); after a
 * start or restore nothing expires until every active source had this long to report.
 */
export const SOURCE_IDLE_MS = 60_000;

interface SourceClock {
  /** Highest event time applied from the source partition. */
  max: number;
  /** Processing time of its last event. */
  seenAt: number;
}

interface Bucket {
  readonly start: number;
  /** Its keys; those added since the last commit are its pending ones. */
  readonly set: HashSet96;
  /**
   * Keys an earlier version recorded as 64-bit hashes (8-byte records, held with hi = 0),
   * restored from Redis and matched on the low 64 bits of a key's hash until the bucket expires.
   * Nothing is added to it: new keys go to `set`.
   */
  legacy?: HashSet96;
  /** Compacted once it stopped being the newest bucket (see `commit`). */
  compacted: boolean;
}

/** What the checkpoint must write for the dedup state. */
export interface DedupChanges {
  /** Bucket start (ms) -> hashes to APPEND to that bucket's string (12 bytes LE each). */
  readonly appends: ReadonlyMap<number, Buffer>;
  /** Buckets wholly outside the window of the newest event time: delete them (both formats). */
  readonly expired: readonly number[];
  /** Bucket start (ms) -> forgotten hashes (12 bytes LE each) to zero in that bucket's string. */
  readonly forgotten: ReadonlyMap<number, Buffer>;
  /**
   * Bucket start (ms) -> forgotten 64-bit hashes (8 bytes LE each) to zero in the bucket's string
   * of 8-byte records an earlier version wrote (rows it recorded, dead-lettered since).
   */
  readonly forgottenLegacy: ReadonlyMap<number, Buffer>;
}

/**
 * Keep-first dedup state of one actor: 96-bit key hashes in time buckets of window / 16 by event
 * time. A key is a duplicate when it was seen in a bucket that overlaps the window around the
 * event's time (so the window is honoured to within one bucket).
 *
 * Expiry follows the slowest source partition, as a watermark does: a bucket expires once it is a
 * window older than the lowest of the source partitions' highest event times (and, in a join
 * pipeline, than the join watermark, which partitions with unread data hold). One actor reads
 * many partitions, and one far ahead in event time (a replay, a skewed producer clock) must not
 * expire what a slower one still needs: with the newest event time overall, a duplicate from the
 * slower partition would pass. With `sourceTopics` (pipelines without a join) the consumers'
 * marks say which source partitions still have unread data in Kafka (read position below the log
 * end: not fetched yet, paused, rebalancing, no live consumer): such a partition holds expiry at
 * its highest event time, or, when it has sent nothing yet (or was not heard from at all), holds
 * it where it is. Only a partition caught up to the log end (on a fresh word) and quiet for
 * SOURCE_IDLE_MS stops holding. Pure: the actor hands `changes()` to its checkpoint and calls
 * `commit()` after the checkpoint succeeded or `rollback()` after it failed.
 */
export class DedupState {
  readonly bucketMs: number;
  /** Every path that deletes from this map must also clear `lastBucket` (add() writes into it). */
  private readonly buckets = new Map<number, Bucket>();
  /** The buckets newest first: most lookups hit recent buckets. */
  private order: Bucket[] = [];
  private readonly sources = new Map<string, SourceClock>();
  /** Processing time of the first and the last event observed since start or restore. */
  private firstSeenAt = Number.NEGATIVE_INFINITY;
  private lastSeenAt = Number.NEGATIVE_INFINITY;
  /** Buckets ending at or before this event time are expired; it never moves back. */
  private horizon = Number.NEGATIVE_INFINITY;
  private committedHorizon = Number.NEGATIVE_INFINITY;
  /** The lanes of the last hash: a new key is looked up, then added, with the same hash. */
  private splitOf: KeyHash | undefined;
  private lo = 0;
  private mid = 0;
  private hi = 0;
  /** The bucket `add` used last: consecutive events mostly fall into the same one. */
  private lastBucket: Bucket | undefined;
  /** Keys forgotten since the last commit, per bucket start, as (lo, mid, hi) lanes. */
  private forgotten = new Map<number, number[]>();
  /** The same for 64-bit keys of an earlier version (`Bucket.legacy`), as (lo, mid) pairs. */
  private forgottenLegacy = new Map<number, number[]>();
  private readonly marks: SourceMarks | undefined;

  constructor(
    readonly windowMs: number,
    /**
     * Join pipelines: the join watermark (JoinWatermark), which every source partition with
     * data unread in Kafka holds, whether or not it has sent this actor anything yet. Expiry
     * never passes a window below it, so an unread backlog never expires a bucket it needs.
     */
    private readonly sourceFloor?: () => number,
    /**
     * Pipelines without a join: the topics whose keys this state holds. Their partitions' marks
     * (`mark`) then decide which of them hold expiry (see the class comment). Without it, a
     * partition quiet for SOURCE_IDLE_MS stops holding whatever is unread.
     */
    sourceTopics?: readonly string[],
  ) {
    if (!(windowMs > 0)) throw new RangeError(`dedup window must be positive, got ${windowMs}`);
    this.bucketMs = Math.max(1, Math.ceil(windowMs / BUCKETS_PER_WINDOW));
    this.marks = sourceTopics && new SourceMarks(sourceTopics);
  }

  /**
   * What one applied mailbox entry's marks say about its source partition (once per entry, not
   * per event): Kafka's partition count and whether it is caught up to the log end.
   */
  mark(
    topic: string,
    partition: number,
    caughtUp: boolean | undefined,
    partitions: number | undefined,
    now: number,
  ): void {
    this.marks?.observe(topic, partition, caughtUp, partitions, now);
  }

  bucketOf(eventTimeMs: number): number {
    return Math.floor(eventTimeMs / this.bucketMs) * this.bucketMs;
  }

  /**
   * True when `hash` (96 bits, `Hasher.hash96`) was seen within `windowMs` (default: the
   * state's window) around `eventTimeMs`. A narrower window than the state's is honoured to within
   * one bucket: one state serves several sources with their own windows.
   */
  isDuplicate(hash: KeyHash, eventTimeMs: number, windowMs = this.windowMs): boolean {
    this.split(hash);
    const lo = this.lo;
    const mid = this.mid;
    const hi = this.hi;
    const low = eventTimeMs - windowMs;
    const high = eventTimeMs + windowMs;
    for (const bucket of this.order) {
      if (bucket.start + this.bucketMs <= low || bucket.start > high) continue;
      if (bucket.set.has(lo, mid, hi)) return true;
      // A key an earlier version recorded: its 64-bit hash is the low 64 bits of this one.
      if (bucket.legacy?.has(lo, mid, 0) === true) return true;
    }
    return false;
  }

  /**
   * Records `hash` as seen at `eventTimeMs` from `source` (its topic/partition), applied at
   * processing time `now` (pending until commit). A key whose bucket is already expired is not
   * kept: it could never match anything.
   */
  add(hash: KeyHash, eventTimeMs: number, source: string, now: number): void {
    this.observe(source, eventTimeMs, now);
    const start = this.bucketOf(eventTimeMs);
    if (this.isExpired(start)) return;
    this.split(hash);
    const last = this.lastBucket;
    const bucket = last !== undefined && last.start === start ? last : this.bucket(start);
    this.lastBucket = bucket;
    bucket.set.add(this.lo, this.mid, this.hi);
  }

  private split(hash: KeyHash): void {
    if (hash === this.splitOf) return;
    splitLanes(hash);
    this.lo = splitLane(0);
    this.mid = splitLane(1);
    this.hi = splitLane(2);
    this.splitOf = hash;
  }

  /** One-step check and add: true (and nothing recorded) for a duplicate. */
  seen(hash: KeyHash, eventTimeMs: number, source: string, now: number): boolean {
    if (this.isDuplicate(hash, eventTimeMs)) return true;
    this.add(hash, eventTimeMs, source, now);
    return false;
  }

  /**
   * Restores one bucket from its Redis string of `recordBytes`-byte hashes (8: written by a
   * version before 96-bit hashes); restored data counts as committed.
   */
  load(bucketStart: number, data: Buffer, recordBytes: 8 | 12 = 12): void {
    const bucket = this.bucket(bucketStart);
    if (recordBytes === 12) bucket.set.addBytes(data, 12);
    else (bucket.legacy ??= new HashSet96(data.length / 8)).addBytes(data, 8);
  }

  /**
   * Forgets `hash` recorded in the bucket of `eventTimeMs` (its row was dead-lettered at insert):
   * a later event with the key is not a duplicate. Only that bucket: the same key recorded for
   * an earlier event in another bucket stays. Call with no pending adds (right after a commit or
   * a restore); the next checkpoint zeroes it in Redis (`changes().forgotten`). `hash` is 12
   * bytes, or 8 for a row an earlier version recorded (its bucket's 64-bit records).
   */
  forget(hash: Buffer, eventTimeMs: number): boolean {
    if (hash.length !== 12 && hash.length !== 8) return false;
    const start = this.bucketOf(eventTimeMs);
    const bucket = this.buckets.get(start);
    const lo = hash.readUInt32LE(0);
    const mid = hash.readUInt32LE(4);
    if (hash.length === 8) {
      if (bucket?.legacy?.remove(lo, mid, 0) !== true) return false;
      pushTo(this.forgottenLegacy, start, lo, mid);
      return true;
    }
    const hi = hash.readUInt32LE(8);
    if (bucket === undefined || !bucket.set.remove(lo, mid, hi)) return false;
    pushTo(this.forgotten, start, lo, mid, hi);
    return true;
  }

  changes(): DedupChanges {
    this.advanceHorizon();
    const appends = new Map<number, Buffer>();
    const expired: number[] = [];
    for (const bucket of this.buckets.values()) {
      if (this.isExpired(bucket.start)) expired.push(bucket.start);
      else if (bucket.set.pendingSize > 0) appends.set(bucket.start, bucket.set.pendingBytes());
    }
    return {
      appends,
      expired,
      forgotten: this.liveWords(this.forgotten),
      forgottenLegacy: this.liveWords(this.forgottenLegacy),
    };
  }

  /** Per bucket not expired, its uint32 words as little-endian bytes. */
  private liveWords(lists: ReadonlyMap<number, number[]>): Map<number, Buffer> {
    const out = new Map<number, Buffer>();
    for (const [start, words] of lists) {
      if (!this.isExpired(start)) out.set(start, wordBytes(words));
    }
    return out;
  }

  get hasChanges(): boolean {
    if (this.forgotten.size > 0 || this.forgottenLegacy.size > 0) return true;
    for (const bucket of this.buckets.values()) {
      if (bucket.set.pendingSize > 0) return true;
    }
    return false;
  }

  /**
   * The checkpoint holding `changes()` succeeded: pending adds become committed, expired buckets
   * go (their tables with them). A bucket older than the newest takes few keys from now on (late
   * events only), so it is compacted once to fit: 3/4 full instead of 1/2 to 3/4.
   */
  commit(): void {
    const newest = this.order[0]?.start ?? Number.NEGATIVE_INFINITY;
    for (const bucket of [...this.buckets.values()]) {
      if (this.isExpired(bucket.start)) {
        this.buckets.delete(bucket.start);
        continue;
      }
      bucket.set.commit();
      if (!bucket.compacted && bucket.start < newest) {
        bucket.set.compact();
        bucket.compacted = true;
      }
    }
    this.committedHorizon = this.horizon;
    this.lastBucket = undefined;
    this.forgotten.clear();
    this.forgottenLegacy.clear();
    this.sortOrder();
  }

  /** The checkpoint failed: forget every add since the last commit, restore what was forgotten. */
  rollback(): void {
    for (const bucket of [...this.buckets.values()]) {
      bucket.set.rollback();
      const lanes = this.forgotten.get(bucket.start);
      if (lanes !== undefined) bucket.set.addBytes(wordBytes(lanes), 12);
      const pairs = this.forgottenLegacy.get(bucket.start);
      if (pairs !== undefined) bucket.legacy?.addBytes(wordBytes(pairs), 8);
      if (bucket.set.size === 0 && !(bucket.legacy && bucket.legacy.size > 0)) {
        this.buckets.delete(bucket.start);
      }
    }
    this.forgotten.clear();
    this.forgottenLegacy.clear();
    this.horizon = this.committedHorizon;
    this.lastBucket = undefined;
    this.sortOrder();
  }

  /** Keys held in memory (committed and pending). */
  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.set.size + (bucket.legacy?.size ?? 0);
    return n;
  }

  get bucketCount(): number {
    return this.buckets.size;
  }

  get memoryBytes(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) {
      n += bucket.set.memoryBytes + (bucket.legacy?.memoryBytes ?? 0);
    }
    return n;
  }

  /** When Redis may drop a bucket: once the window has passed its end. */
  expiresAt(bucketStart: number): number {
    return bucketStart + this.bucketMs + this.windowMs;
  }

  private isExpired(start: number): boolean {
    return start + this.bucketMs <= this.horizon;
  }

  private observe(source: string, eventTimeMs: number, now: number): void {
    // The first event, or the first after every source was quiet: wait again until all had time
    // to report before anything expires.
    if (now - this.lastSeenAt > SOURCE_IDLE_MS) this.firstSeenAt = now;
    if (now > this.lastSeenAt) this.lastSeenAt = now;
    const clock = this.sources.get(source);
    if (clock === undefined) this.sources.set(source, { max: eventTimeMs, seenAt: now });
    else {
      if (eventTimeMs > clock.max) clock.max = eventTimeMs;
      if (now > clock.seenAt) clock.seenAt = now;
    }
  }

  /** Moves the horizon to a window before the slowest active source (see the class comment). */
  private advanceHorizon(): void {
    if (!(this.lastSeenAt - this.firstSeenAt >= SOURCE_IDLE_MS)) return;
    const marks = this.marks;
    // The latest processing time known: marks heartbeats keep arriving while no event does.
    const now = Math.max(this.lastSeenAt, marks?.lastHeardAt ?? Number.NEGATIVE_INFINITY);
    if (marks?.holdsUnknown(now, (source) => this.sources.has(source))) return;
    let low = this.sourceFloor?.() ?? Number.POSITIVE_INFINITY;
    for (const [source, clock] of this.sources) {
      // Quiet is idle only when nothing of it is unread in Kafka (when marks are known).
      const idle =
        this.lastSeenAt - clock.seenAt > SOURCE_IDLE_MS &&
        (marks === undefined || marks.isCaughtUp(source, now));
      if (idle) this.sources.delete(source);
      else if (clock.max < low) low = clock.max;
    }
    if (Number.isFinite(low) && low - this.windowMs > this.horizon) {
      this.horizon = low - this.windowMs;
    }
  }

  private bucket(start: number): Bucket {
    let bucket = this.buckets.get(start);
    if (bucket === undefined) {
      bucket = { start, set: new HashSet96(), compacted: false };
      this.buckets.set(start, bucket);
      this.sortOrder();
    }
    return bucket;
  }

  private sortOrder(): void {
    this.order = [...this.buckets.values()].sort((a, b) => b.start - a.start);
  }
}

function pushTo(lists: Map<number, number[]>, start: number, ...words: number[]): void {
  const list = lists.get(start);
  if (list === undefined) lists.set(start, words);
  else list.push(...words);
}

/** uint32 words as little-endian bytes: the lanes of hashes, as Redis stores them. */
function wordBytes(words: readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(words.length * 4);
  words.forEach((word, i) => out.writeUInt32LE(word, i * 4));
  return out;
}
