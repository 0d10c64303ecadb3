import type { KeyHash } from '../mailbox/routing';

/**
 * A set of 96-bit hashes held inline in one open-addressing table (linear probing): each slot is
 * the hash itself as three uint32 lanes (lo, mid, hi: little-endian order), so a key costs 12
 * bytes over the load factor, about 16 to 24 bytes, against 24 to 40 for a value array plus a
 * separate index of positions. The capacity is any integer (slots by multiply-shift, not by
 * mask), so the table grows by 1.5 rather than doubling and can be compacted to fit once its time
 * bucket stops taking keys. 64-bit hashes of state written before 96 are held with hi = 0 in a
 * set of their own (see `addBytes` and DedupState).
 *
 * Keys added since the last `commit()` are also kept in a small pending list: the checkpoint
 * writes exactly those (`pendingBytes`), and `rollback()` deletes them from the table again.
 */
export class HashSet96 {
  private table: Uint32Array;
  /** Slots; `table` holds three uint32 per slot. */
  private capacity: number;
  /** capacity / 2^32: maps a uniform uint32 onto a slot with one multiply. */
  private scale: number;
  private count = 0;
  /** The all-zero hash, which marks empty slots, is held apart. */
  private zero = false;
  private pending: Uint32Array;
  private pendingCount = 0;

  constructor(expectedKeys = 16) {
    this.capacity = capacityFor(expectedKeys, MAX_LOAD);
    this.scale = this.capacity / 2 ** 32;
    this.table = new Uint32Array(this.capacity * LANES);
    this.pending = EMPTY;
  }

  get size(): number {
    return this.count;
  }

  /** Keys added since the last commit. */
  get pendingSize(): number {
    return this.pendingCount;
  }

  has(lo: number, mid: number, hi: number): boolean {
    if (lo === 0 && mid === 0 && hi === 0) return this.zero;
    const table = this.table;
    const capacity = this.capacity;
    for (let slot = this.home(lo, mid); ;) {
      const at = slot * LANES;
      const a = table[at] as number;
      const b = table[at + 1] as number;
      const c = table[at + 2] as number;
      if (a === lo && b === mid && c === hi) return true;
      if (a === 0 && b === 0 && c === 0) return false;
      if (++slot === capacity) slot = 0;
    }
  }

  /** False when the hash was there already. Pending until `commit()`. */
  add(lo: number, mid: number, hi: number): boolean {
    if (!this.insert(lo, mid, hi)) return false;
    const at = this.pendingCount * LANES;
    if (at === this.pending.length) {
      const next = new Uint32Array(Math.max(64 * LANES, this.pending.length * 2));
      next.set(this.pending);
      this.pending = next;
    }
    this.pending[at] = lo;
    this.pending[at + 1] = mid;
    this.pending[at + 2] = hi;
    this.pendingCount += 1;
    return true;
  }

  /**
   * Adds every little-endian hash of `data` (a Redis bucket string of `recordBytes`-byte
   * records: 12, or 8 for state written before 96-bit hashes, read with hi = 0) as committed.
   * All-zero records are forgotten keys (zeroed in place, see the checkpoint script) and are
   * skipped: a key whose hash is 0 (odds 2^-96) is thereby never taken for a duplicate after a
   * restore.
   */
  addBytes(data: Buffer, recordBytes: 8 | 12 = RECORD_BYTES): void {
    const records = Math.floor(data.length / recordBytes);
    this.reserve(this.count + records);
    for (let at = 0; at + recordBytes <= data.length; at += recordBytes) {
      const lo = data.readUInt32LE(at);
      const mid = data.readUInt32LE(at + 4);
      const hi = recordBytes === 12 ? data.readUInt32LE(at + 8) : 0;
      if (lo !== 0 || mid !== 0 || hi !== 0) this.insert(lo, mid, hi);
    }
  }

  /** Removes a committed key (never a pending one); false when it was not there. */
  remove(lo: number, mid: number, hi: number): boolean {
    if (!this.has(lo, mid, hi)) return false;
    this.delete(lo, mid, hi);
    return true;
  }

  /** The pending hashes as 12-byte little-endian records (the Redis bucket string format). */
  pendingBytes(): Buffer {
    const n = this.pendingCount * LANES;
    const out = Buffer.allocUnsafe(n * 4);
    for (let i = 0; i < n; i++) out.writeUInt32LE(this.pending[i] as number, i * 4);
    return out;
  }

  /** The pending keys are in Redis now. */
  commit(): void {
    this.pendingCount = 0;
    // A large batch's list is not kept around for the small ones after it.
    if (this.pending.length > PENDING_KEEP * LANES) this.pending = EMPTY;
  }

  /** The checkpoint failed: deletes every key added since the last commit. */
  rollback(): void {
    const pending = this.pending;
    for (let at = 0; at < this.pendingCount * LANES; at += LANES) {
      this.delete(pending[at] as number, pending[at + 1] as number, pending[at + 2] as number);
    }
    this.commit();
  }

  /**
   * Rehashes into a table just big enough for the keys (load `MAX_LOAD`), for a bucket that no
   * longer takes new keys: growth by 1.5 leaves it between 1/2 and 3/4 full.
   */
  compact(): void {
    const fit = capacityFor(this.count, MAX_LOAD);
    if (fit < this.capacity) this.rehash(fit);
    // Its pending list too: 12 KB kept per bucket would be 20% of a short window's state.
    if (this.pendingCount === 0) this.pending = EMPTY;
  }

  /** Bytes of the typed arrays, for measurements. */
  get memoryBytes(): number {
    return this.table.byteLength + this.pending.byteLength;
  }

  private home(lo: number, mid: number): number {
    // xxhash64 bits (lo, mid) are uniform; mixing in mid only guards against adversarial low
    // words, and leaving hi out lets a 64-bit record (hi = 0) hash like any other. The slot is
    // computed the same way on insert and lookup, so float rounding cannot misplace one.
    const slot = Math.floor(((lo ^ Math.imul(mid, 0x9e3779b1)) >>> 0) * this.scale);
    return slot < this.capacity ? slot : this.capacity - 1;
  }

  private insert(lo: number, mid: number, hi: number): boolean {
    if (lo === 0 && mid === 0 && hi === 0) {
      if (this.zero) return false;
      this.zero = true;
      this.count += 1;
      return true;
    }
    if (this.count + 1 > this.capacity * MAX_LOAD) {
      // Growing moves every slot: look up first; the probe below then places it in the new table.
      if (this.has(lo, mid, hi)) return false;
      this.reserve(this.count + 1);
    }
    // One probe of the run: a new key (the usual case) takes the first free slot it stops at.
    const table = this.table;
    const capacity = this.capacity;
    for (let slot = this.home(lo, mid); ;) {
      const at = slot * LANES;
      const a = table[at] as number;
      const b = table[at + 1] as number;
      const c = table[at + 2] as number;
      if (a === lo && b === mid && c === hi) return false;
      if (a === 0 && b === 0 && c === 0) {
        table[at] = lo;
        table[at + 1] = mid;
        table[at + 2] = hi;
        this.count += 1;
        return true;
      }
      if (++slot === capacity) slot = 0;
    }
  }

  private reserve(keys: number): void {
    if (keys <= this.capacity * MAX_LOAD) return;
    this.rehash(Math.max(capacityFor(keys, MAX_LOAD), Math.ceil(this.capacity * GROWTH)));
  }

  /** Puts a hash known to be absent into the first free slot of its run. */
  private place(lo: number, mid: number, hi: number): void {
    const table = this.table;
    let slot = this.home(lo, mid);
    while (isUsed(table, slot * LANES)) {
      if (++slot === this.capacity) slot = 0;
    }
    const at = slot * LANES;
    table[at] = lo;
    table[at + 1] = mid;
    table[at + 2] = hi;
  }

  private rehash(capacity: number): void {
    const old = this.table;
    this.capacity = capacity;
    this.scale = capacity / 2 ** 32;
    this.table = new Uint32Array(capacity * LANES);
    for (let at = 0; at < old.length; at += LANES) {
      if (isUsed(old, at)) {
        this.place(old[at] as number, old[at + 1] as number, old[at + 2] as number);
      }
    }
  }

  /** Linear-probing delete: shifts later entries of the run back so no lookup stops early. */
  private delete(lo: number, mid: number, hi: number): void {
    if (lo === 0 && mid === 0 && hi === 0) {
      if (this.zero) this.count -= 1;
      this.zero = false;
      return;
    }
    const table = this.table;
    const capacity = this.capacity;
    let hole = this.home(lo, mid);
    for (;;) {
      const at = hole * LANES;
      if (!isUsed(table, at)) return;
      if (table[at] === lo && table[at + 1] === mid && table[at + 2] === hi) break;
      if (++hole === capacity) hole = 0;
    }
    this.count -= 1;
    for (let next = hole; ;) {
      if (++next === capacity) next = 0;
      const at = next * LANES;
      if (!isUsed(table, at)) break;
      const home = this.home(table[at] as number, table[at + 1] as number);
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      table.copyWithin(hole * LANES, at, at + LANES);
      hole = next;
    }
    table.fill(0, hole * LANES, hole * LANES + LANES);
  }
}

/** uint32 lanes per hash. */
const LANES = 3;
/** Bytes of one hash (LANES * 4) in a Redis bucket string written by this version. */
export const RECORD_BYTES = 12;
/** Most keys per slot before growing: probe runs stay short (about 8 slots for a miss). */
const MAX_LOAD = 0.75;
const GROWTH = 1.5;
/** Pending hashes whose list is kept between commits (a batch holds up to `maxRows` keys). */
const PENDING_KEEP = 1024;
const EMPTY = new Uint32Array(0);

function capacityFor(keys: number, load: number): number {
  return Math.max(8, Math.ceil(keys / load) + 1);
}

function isUsed(table: Uint32Array, at: number): boolean {
  return table[at] !== 0 || table[at + 1] !== 0 || table[at + 2] !== 0;
}

/**
 * Through 16 bytes of memory: about a tenth of the cost of `&` and `>>` on the bigint, which
 * allocate a bigint per step. setBigUint64 wraps modulo 2^64 and setUint32 modulo 2^32.
 */
const SPLIT = new DataView(new ArrayBuffer(16));

/**
 * Splits a 96-bit hash into the (lo, mid, hi) uint32 lanes the set stores; `splitLane` then
 * reads them.
 */
export function splitLanes(hash: KeyHash): void {
  SPLIT.setBigUint64(0, hash.low, true);
  SPLIT.setUint32(8, hash.high, true);
}

/** Lane `i` (0 lo, 1 mid, 2 hi) of the hash last given to `splitLanes`. */
export function splitLane(i: 0 | 1 | 2): number {
  return SPLIT.getUint32(i * 4, true);
}

/** The (lo, mid, hi) lanes of a 96-bit hash (tests, and wherever a pair of calls is too much). */
export function splitHash(hash: KeyHash): [number, number, number] {
  splitLanes(hash);
  return [splitLane(0), splitLane(1), splitLane(2)];
}
