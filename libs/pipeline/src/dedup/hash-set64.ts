/**
 * A set of 64-bit hashes held inline in one open-addressing table (linear probing): each slot is
 * the hash itself as two uint32 (lo, hi), so a key costs 8 bytes over the load factor, about 11
 * to 16 bytes, against 16 to 32 for a value array plus a separate index of positions. The
 * capacity is any integer (slots by multiply-shift, not by mask), so the table grows by 1.5
 * rather than doubling and can be compacted to fit once its time bucket stops taking keys.
 *
 * Keys added since the last `commit()` are also kept in a small pending list: the checkpoint
 * writes exactly those (`pendingBytes`), and `rollback()` deletes them from the table again.
 */
export class HashSet64 {
  private table: Uint32Array;
  /** Slots; `table` holds two uint32 per slot. */
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
    this.table = new Uint32Array(this.capacity * 2);
    this.pending = EMPTY;
  }

  get size(): number {
    return this.count;
  }

  /** Keys added since the last commit. */
  get pendingSize(): number {
    return this.pendingCount;
  }

  has(lo: number, hi: number): boolean {
    if (lo === 0 && hi === 0) return this.zero;
    const table = this.table;
    const capacity = this.capacity;
    for (let slot = this.home(lo, hi); ;) {
      const at = slot * 2;
      const a = table[at] as number;
      const b = table[at + 1] as number;
      if (a === lo && b === hi) return true;
      if (a === 0 && b === 0) return false;
      if (++slot === capacity) slot = 0;
    }
  }

  /** False when the hash was there already. Pending until `commit()`. */
  add(lo: number, hi: number): boolean {
    if (!this.insert(lo, hi)) return false;
    if (this.pendingCount * 2 === this.pending.length) {
      const next = new Uint32Array(Math.max(128, this.pending.length * 2));
      next.set(this.pending);
      this.pending = next;
    }
    this.pending[this.pendingCount * 2] = lo;
    this.pending[this.pendingCount * 2 + 1] = hi;
    this.pendingCount += 1;
    return true;
  }

  /**
   * Adds every 8-byte little-endian hash of `data` (a Redis bucket string) as committed. All-zero
   * entries are forgotten keys (zeroed in place, see the checkpoint script) and are skipped: a
   * key whose hash is 0 (odds 2^-64) is thereby never taken for a duplicate after a restore.
   */
  addBytes(data: Buffer): void {
    this.reserve(this.count + Math.floor(data.length / 8));
    for (let at = 0; at + 8 <= data.length; at += 8) {
      const lo = data.readUInt32LE(at);
      const hi = data.readUInt32LE(at + 4);
      if (lo !== 0 || hi !== 0) this.insert(lo, hi);
    }
  }

  /** Removes a committed key (never a pending one); false when it was not there. */
  remove(lo: number, hi: number): boolean {
    if (!this.has(lo, hi)) return false;
    this.delete(lo, hi);
    return true;
  }

  /** The pending hashes as 8-byte little-endian values (the Redis bucket string format). */
  pendingBytes(): Buffer {
    const out = Buffer.allocUnsafe(this.pendingCount * 8);
    for (let i = 0; i < this.pendingCount; i++) {
      out.writeUInt32LE(this.pending[i * 2] as number, i * 8);
      out.writeUInt32LE(this.pending[i * 2 + 1] as number, i * 8 + 4);
    }
    return out;
  }

  /** The pending keys are in Redis now. */
  commit(): void {
    this.pendingCount = 0;
    // A large batch's list is not kept around for the small ones after it.
    if (this.pending.length > PENDING_KEEP * 2) this.pending = EMPTY;
  }

  /** The checkpoint failed: deletes every key added since the last commit. */
  rollback(): void {
    for (let i = 0; i < this.pendingCount; i++) {
      this.delete(this.pending[i * 2] as number, this.pending[i * 2 + 1] as number);
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
    // Its pending list too: 8 KB kept per bucket would be 20% of a short window's state.
    if (this.pendingCount === 0) this.pending = EMPTY;
  }

  /** Bytes of the typed arrays, for measurements. */
  get memoryBytes(): number {
    return this.table.byteLength + this.pending.byteLength;
  }

  private home(lo: number, hi: number): number {
    // xxhash64 bits are uniform; mixing in hi only guards against adversarial low words. The
    // slot is computed the same way on insert and lookup, so float rounding cannot misplace one.
    const slot = Math.floor(((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0) * this.scale);
    return slot < this.capacity ? slot : this.capacity - 1;
  }

  private insert(lo: number, hi: number): boolean {
    if (lo === 0 && hi === 0) {
      if (this.zero) return false;
      this.zero = true;
      this.count += 1;
      return true;
    }
    if (this.count + 1 > this.capacity * MAX_LOAD) {
      // Growing moves every slot: look up first; the probe below then places it in the new table.
      if (this.has(lo, hi)) return false;
      this.reserve(this.count + 1);
    }
    // One probe of the run: a new key (the usual case) takes the first free slot it stops at.
    const table = this.table;
    const capacity = this.capacity;
    for (let slot = this.home(lo, hi); ;) {
      const at = slot * 2;
      const a = table[at] as number;
      const b = table[at + 1] as number;
      if (a === lo && b === hi) return false;
      if (a === 0 && b === 0) {
        table[at] = lo;
        table[at + 1] = hi;
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
  private place(lo: number, hi: number): void {
    const table = this.table;
    let slot = this.home(lo, hi);
    while (table[slot * 2] !== 0 || table[slot * 2 + 1] !== 0) {
      if (++slot === this.capacity) slot = 0;
    }
    table[slot * 2] = lo;
    table[slot * 2 + 1] = hi;
  }

  private rehash(capacity: number): void {
    const old = this.table;
    this.capacity = capacity;
    this.scale = capacity / 2 ** 32;
    this.table = new Uint32Array(capacity * 2);
    for (let at = 0; at < old.length; at += 2) {
      const lo = old[at] as number;
      const hi = old[at + 1] as number;
      if (lo !== 0 || hi !== 0) this.place(lo, hi);
    }
  }

  /** Linear-probing delete: shifts later entries of the run back so no lookup stops early. */
  private delete(lo: number, hi: number): void {
    if (lo === 0 && hi === 0) {
      if (this.zero) this.count -= 1;
      this.zero = false;
      return;
    }
    const table = this.table;
    const capacity = this.capacity;
    let hole = this.home(lo, hi);
    for (;;) {
      const a = table[hole * 2] as number;
      const b = table[hole * 2 + 1] as number;
      if (a === 0 && b === 0) return;
      if (a === lo && b === hi) break;
      if (++hole === capacity) hole = 0;
    }
    this.count -= 1;
    for (let next = hole; ;) {
      if (++next === capacity) next = 0;
      const a = table[next * 2] as number;
      const b = table[next * 2 + 1] as number;
      if (a === 0 && b === 0) break;
      const home = this.home(a, b);
      // The entry at `next` may fill the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      table[hole * 2] = a;
      table[hole * 2 + 1] = b;
      hole = next;
    }
    table[hole * 2] = 0;
    table[hole * 2 + 1] = 0;
  }
}

/** Most keys per slot before growing: probe runs stay short (about 8 slots for a miss). */
const MAX_LOAD = 0.75;
const GROWTH = 1.5;
/** Pending pairs whose list is kept between commits (a batch holds up to `maxRows` keys). */
const PENDING_KEEP = 1024;
const EMPTY = new Uint32Array(0);

function capacityFor(keys: number, load: number): number {
  return Math.max(8, Math.ceil(keys / load) + 1);
}

/** Splits a 64-bit hash into the (lo, hi) uint32 pair the set stores. */
export function splitHash(hash: bigint): [number, number] {
  SPLIT.setBigUint64(0, hash, true);
  return [SPLIT.getUint32(0, true), SPLIT.getUint32(4, true)];
}

/**
 * Through 8 bytes of memory: about a tenth of the cost of `&` and `>>` on the bigint, which
 * allocate a bigint per step. setBigUint64 wraps modulo 2^64, as the masks did.
 */
const SPLIT = new DataView(new ArrayBuffer(8));

/** The low uint32 of `splitHash(hash)`, without the pair; `splitHigh()` then reads the high one. */
export function splitLow(hash: bigint): number {
  SPLIT.setBigUint64(0, hash, true);
  return SPLIT.getUint32(0, true);
}

/** The high uint32 of the hash last given to `splitLow`. */
export function splitHigh(): number {
  return SPLIT.getUint32(4, true);
}
