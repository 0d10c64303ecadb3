/*
 * Per-row facts an outbox batch carries besides its rows: where each row came from (source
 * topic, partition, offset: insert-stage dead letters name them like every other dead letter) and
 * the dedup key the actor recorded for it (hash and dedup time: a row dead-lettered at insert has
 * its key forgotten, see dedup-forgets.ts). One binary column, so the actor adds a row's facts
 * with a few DataView writes and the writer reads any row's by its index.
 *
 * Layout (little endian): u8 version (1), u8 hash bytes H (0 when the pipeline has no dedup;
 * 12 for 96-bit key hashes, 8 in batches of versions before them), then one record per row:
 * u8 flags (1: has a key), u16 topic index (into `sourceTopics`), u32 partition, f64 offset,
 * then when H > 0: H bytes key hash, f64 dedup time ms.
 */

const VERSION = 1;
const HEADER = 2;
const HAS_KEY = 1;

/** Where a row came from, and its dedup key when the pipeline deduplicates it. */
export interface RowSource {
  topic: string;
  partition: number;
  offset: number;
  /** The key hash as the dedup state stores it and the event time it was recorded under. */
  key?: { hash: Buffer; time: number };
}

/** A 96-bit key hash as the dedup state keeps it (libs/pipeline KeyHash): low 64 bits, high 32. */
export interface RowKeyHash {
  readonly low: bigint;
  readonly high: number;
}

/** A 96-bit key hash stored as 12 bytes (LE: low 64 bits, then high 32), as `add` writes it. */
export function rowKeyHash(hash: Buffer): RowKeyHash | undefined {
  if (hash.length !== 12) return undefined;
  return { low: hash.readBigUInt64LE(0), high: hash.readUInt32LE(8) };
}

function recordBytes(hashBytes: number): number {
  return 15 + (hashBytes > 0 ? hashBytes + 8 : 0);
}

/** Collects the facts of an open batch's rows, in row order; the actor's side. */
export class RowSourceWriter {
  private buf: Buffer;
  private view: DataView;
  private used = HEADER;
  private readonly topics: string[] = [];
  private readonly topicIndex = new Map<string, number>();
  private readonly record: number;

  /** `hashBytes`: 12 for 96-bit key hashes, 0 when the pipeline has no dedup. */
  constructor(private readonly hashBytes: 0 | 12) {
    this.record = recordBytes(hashBytes);
    this.buf = Buffer.allocUnsafe(HEADER + 1024 * this.record);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** `keyHash` as the dedup state stores it (a 96-bit hash, written as 12 bytes LE). */
  add(topic: string, partition: number, offset: number, keyHash?: RowKeyHash, keyTime = 0): void {
    if (this.used + this.record > this.buf.length) this.grow();
    let index = this.topicIndex.get(topic);
    if (index === undefined) {
      index = this.topics.length;
      this.topics.push(topic);
      this.topicIndex.set(topic, index);
    }
    const at = this.used;
    const view = this.view;
    const keyed = keyHash !== undefined && this.hashBytes > 0;
    view.setUint8(at, keyed ? HAS_KEY : 0);
    view.setUint16(at + 1, index, true);
    view.setUint32(at + 3, partition, true);
    view.setFloat64(at + 7, offset, true);
    if (this.hashBytes > 0) {
      view.setBigUint64(at + 15, keyed ? keyHash.low : 0n, true);
      view.setUint32(at + 23, keyed ? keyHash.high : 0, true);
      view.setFloat64(at + 15 + this.hashBytes, keyed ? keyTime : 0, true);
    }
    this.used += this.record;
  }

  get count(): number {
    return (this.used - HEADER) / this.record;
  }

  /** The column for the outbox entry: a copy, so the writer may be cleared after. */
  encode(): { sourceTopics: string[]; sources: Buffer } {
    this.buf[0] = VERSION;
    this.buf[1] = this.hashBytes;
    return {
      sourceTopics: [...this.topics],
      sources: Buffer.from(this.buf.subarray(0, this.used)),
    };
  }

  clear(): void {
    this.used = HEADER;
    this.topics.length = 0;
    this.topicIndex.clear();
    if (this.buf.length > 8 * 1024 * 1024) {
      this.buf = Buffer.allocUnsafe(HEADER + 1024 * this.record);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
  }

  private grow(): void {
    const next = Buffer.allocUnsafe(this.buf.length * 2);
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}

/** Reads a batch's column (the writer's side); undefined for an unknown version. */
export class RowSources {
  private readonly record: number;
  private readonly hashBytes: number;

  private constructor(
    private readonly topics: readonly string[],
    private readonly data: Buffer,
  ) {
    this.hashBytes = data[1] ?? 0;
    this.record = recordBytes(this.hashBytes);
  }

  static read(topics: unknown, data: unknown): RowSources | undefined {
    if (!Array.isArray(topics) || !topics.every((t) => typeof t === 'string')) return undefined;
    if (!(data instanceof Uint8Array) || data.length < HEADER || data[0] !== VERSION) {
      return undefined;
    }
    const bytes = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.length);
    const sources = new RowSources(topics, bytes);
    return (bytes.length - HEADER) % sources.record === 0 ? sources : undefined;
  }

  get count(): number {
    return (this.data.length - HEADER) / this.record;
  }

  /** Row `i`'s facts (0-based, in body order); undefined past the last row. */
  at(i: number): RowSource | undefined {
    if (!(i >= 0 && i < this.count)) return undefined;
    const at = HEADER + i * this.record;
    const d = this.data;
    const source: RowSource = {
      topic: this.topics[d.readUInt16LE(at + 1)] ?? '',
      partition: d.readUInt32LE(at + 3),
      offset: d.readDoubleLE(at + 7),
    };
    if (((d[at] ?? 0) & HAS_KEY) !== 0 && this.hashBytes > 0) {
      const end = at + 15 + this.hashBytes;
      source.key = { hash: Buffer.from(d.subarray(at + 15, end)), time: d.readDoubleLE(end) };
    }
    return source;
  }
}
