import { HashSet64, splitHash } from './hash-set64';

/** Buckets per window: the window's edge is exact to within window / 16. */
export const BUCKETS_PER_WINDOW = 16;

interface Bucket {
  readonly start: number;
  /** Its keys; those added since the last commit are its pending ones. */
  readonly set: HashSet64;
  /** Compacted once it stopped being the newest bucket (see `commit`). */
  compacted: boolean;
}

/** What the checkpoint must write for the dedup state. */
export interface DedupChanges {
  /** Bucket start (ms) -> hashes to APPEND to that bucket's string (8 bytes LE each). */
  readonly appends: ReadonlyMap<number, Buffer>;
  /** Buckets wholly outside the window of the newest event time: delete them. */
  readonly expired: readonly number[];
}

/**
 * Keep-first dedup state of one actor: 64-bit key hashes in time buckets of window / 16 by event
 * time. A key is a duplicate when it was seen in a bucket that overlaps the window around the
 * event's time (so the window is honoured to within one bucket). Buckets older than the newest
 * event time seen minus the window expire. Pure: the actor hands `changes()` to its checkpoint and
 * calls `commit()` after the checkpoint succeeded or `rollback()` after it failed.
 */
export class DedupState {
  readonly bucketMs: number;
  private readonly buckets = new Map<number, Bucket>();
  /** The buckets newest first: most lookups hit recent buckets. */
  private order: Bucket[] = [];
  private maxEventTime = Number.NEGATIVE_INFINITY;
  private committedMaxEventTime = Number.NEGATIVE_INFINITY;

  constructor(readonly windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`dedup window must be positive, got ${windowMs}`);
    this.bucketMs = Math.max(1, Math.ceil(windowMs / BUCKETS_PER_WINDOW));
  }

  bucketOf(eventTimeMs: number): number {
    return Math.floor(eventTimeMs / this.bucketMs) * this.bucketMs;
  }

  /**
   * True when `hash` was seen within `windowMs` (default: the state's window) around
   * `eventTimeMs`. A narrower window than the state's is honoured to within one bucket: one state
   * serves several sources with their own windows.
   */
  isDuplicate(hash: bigint, eventTimeMs: number, windowMs = this.windowMs): boolean {
    const [lo, hi] = splitHash(hash);
    const low = eventTimeMs - windowMs;
    const high = eventTimeMs + windowMs;
    for (const bucket of this.order) {
      if (bucket.start + this.bucketMs <= low || bucket.start > high) continue;
      if (bucket.set.has(lo, hi)) return true;
    }
    return false;
  }

  /**
   * Records `hash` as seen at `eventTimeMs` (pending until commit). A key whose bucket is already
   * outside the window of the newest event time is not kept: it could never match anything.
   */
  add(hash: bigint, eventTimeMs: number): void {
    if (eventTimeMs > this.maxEventTime) this.maxEventTime = eventTimeMs;
    const start = this.bucketOf(eventTimeMs);
    if (this.isExpired(start)) return;
    const [lo, hi] = splitHash(hash);
    this.bucket(start).set.add(lo, hi);
  }

  /** One-step check and add: true (and nothing recorded) for a duplicate. */
  seen(hash: bigint, eventTimeMs: number): boolean {
    if (this.isDuplicate(hash, eventTimeMs)) return true;
    this.add(hash, eventTimeMs);
    return false;
  }

  /** Restores one bucket from its Redis string; restored data counts as committed. */
  load(bucketStart: number, data: Buffer): void {
    this.bucket(bucketStart).set.addBytes(data);
    // The newest bucket start is a safe lower bound of the newest event time seen before.
    if (bucketStart > this.maxEventTime) this.maxEventTime = bucketStart;
    this.committedMaxEventTime = this.maxEventTime;
  }

  changes(): DedupChanges {
    const appends = new Map<number, Buffer>();
    const expired: number[] = [];
    for (const bucket of this.buckets.values()) {
      if (this.isExpired(bucket.start)) expired.push(bucket.start);
      else if (bucket.set.pendingSize > 0) appends.set(bucket.start, bucket.set.pendingBytes());
    }
    return { appends, expired };
  }

  get hasChanges(): boolean {
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
    const newest = this.bucketOf(this.maxEventTime);
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
    this.committedMaxEventTime = this.maxEventTime;
    this.sortOrder();
  }

  /** The checkpoint failed: forget every add since the last commit. */
  rollback(): void {
    for (const bucket of [...this.buckets.values()]) {
      bucket.set.rollback();
      if (bucket.set.size === 0) this.buckets.delete(bucket.start);
    }
    this.maxEventTime = this.committedMaxEventTime;
    this.sortOrder();
  }

  /** Keys held in memory (committed and pending). */
  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.set.size;
    return n;
  }

  get bucketCount(): number {
    return this.buckets.size;
  }

  get memoryBytes(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.set.memoryBytes;
    return n;
  }

  /** When Redis may drop a bucket: once the window has passed its end. */
  expiresAt(bucketStart: number): number {
    return bucketStart + this.bucketMs + this.windowMs;
  }

  private isExpired(start: number): boolean {
    return start + this.bucketMs <= this.maxEventTime - this.windowMs;
  }

  private bucket(start: number): Bucket {
    let bucket = this.buckets.get(start);
    if (bucket === undefined) {
      bucket = { start, set: new HashSet64(), compacted: false };
      this.buckets.set(start, bucket);
      this.sortOrder();
    }
    return bucket;
  }

  private sortOrder(): void {
    this.order = [...this.buckets.values()].sort((a, b) => b.start - a.start);
  }
}
