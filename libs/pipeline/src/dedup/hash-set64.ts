/**
 * An insertion-ordered set of 64-bit hashes, each held as two uint32 (lo, hi) in one typed array,
 * with an open-addressing index of positions. About 8 bytes per key plus 8 to 16 bytes of index,
 * against roughly 100 for a Set<bigint>; insertion order lets the checkpoint take "everything
 * added since the last commit" as a contiguous slice, and lets a rollback truncate.
 */
export class HashSet64 {
  private values: Uint32Array;
  private index: Int32Array;
  private count = 0;

  constructor(initialCapacity = 16) {
    const capacity = nextPowerOfTwo(Math.max(4, initialCapacity));
    this.values = new Uint32Array(capacity * 2);
    this.index = new Int32Array(capacity * 2);
  }

  get size(): number {
    return this.count;
  }

  has(lo: number, hi: number): boolean {
    const index = this.index;
    const mask = index.length - 1;
    for (let slot = slotOf(lo, hi, mask); ; slot = (slot + 1) & mask) {
      const entry = index[slot] as number;
      if (entry === 0) return false;
      const at = (entry - 1) * 2;
      if (this.values[at] === lo && this.values[at + 1] === hi) return true;
    }
  }

  /** False when the hash was there already. */
  add(lo: number, hi: number): boolean {
    if (this.has(lo, hi)) return false;
    if ((this.count + 1) * 2 > this.values.length) this.growValues();
    this.values[this.count * 2] = lo;
    this.values[this.count * 2 + 1] = hi;
    this.count += 1;
    // Keep the index at most half full so probes stay short.
    if (this.count * 2 > this.index.length) this.rebuildIndex(this.index.length * 2);
    else this.insertIndex(this.count);
    return true;
  }

  /** Drops every hash added after the first `size` ones (rollback of uncommitted adds). */
  truncate(size: number): void {
    if (size >= this.count) return;
    this.count = size;
    this.rebuildIndex(this.index.length);
  }

  /** Hashes `from..size` as 8-byte little-endian values (the Redis bucket string format). */
  bytes(from = 0): Buffer {
    const n = Math.max(0, this.count - from);
    const out = Buffer.allocUnsafe(n * 8);
    for (let i = 0; i < n; i++) {
      out.writeUInt32LE(this.values[(from + i) * 2] as number, i * 8);
      out.writeUInt32LE(this.values[(from + i) * 2 + 1] as number, i * 8 + 4);
    }
    return out;
  }

  /** Adds every 8-byte little-endian hash of `data` (a Redis bucket string). */
  addBytes(data: Buffer): void {
    for (let at = 0; at + 8 <= data.length; at += 8) {
      this.add(data.readUInt32LE(at), data.readUInt32LE(at + 4));
    }
  }

  /** Bytes of the typed arrays, for measurements. */
  get memoryBytes(): number {
    return this.values.byteLength + this.index.byteLength;
  }

  private growValues(): void {
    const next = new Uint32Array(this.values.length * 2);
    next.set(this.values);
    this.values = next;
  }

  private insertIndex(position: number): void {
    const index = this.index;
    const mask = index.length - 1;
    const at = (position - 1) * 2;
    let slot = slotOf(this.values[at] as number, this.values[at + 1] as number, mask);
    while (index[slot] !== 0) slot = (slot + 1) & mask;
    index[slot] = position;
  }

  private rebuildIndex(size: number): void {
    this.index = new Int32Array(size);
    for (let p = 1; p <= this.count; p++) this.insertIndex(p);
  }
}

function slotOf(lo: number, hi: number, mask: number): number {
  // xxhash64 bits are uniform; mixing in hi only guards against adversarial low words.
  return ((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0) & mask;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Splits a 64-bit hash into the (lo, hi) uint32 pair the set stores. */
export function splitHash(hash: bigint): [number, number] {
  return [Number(hash & 0xffffffffn), Number((hash >> 32n) & 0xffffffffn)];
}
