/**
 * "Find my event": a compact record of what became of each event, by the 64-bit hash of its
 * dedup key, written by the actor in its checkpoint script into one Redis hash per time bucket
 * (by checkpoint time) and partition. A hash field is the 8-byte key hash (little endian), plus
 * a `d` byte for the latest duplicate of that key, so a duplicate never hides the first outcome.
 *
 * Record layout (value): stage u8, dead-letter stage u8, flags u8 (1: trace id, 2: sampled),
 * epoch u32, checkpoint seq u32, processed-at seconds u32, [trace id 16 bytes], [reason utf8].
 */

export type IndexStage = 'written' | 'filtered' | 'duplicate' | 'dead-lettered';

export interface IndexRecord {
  stage: IndexStage;
  /** Dead letters: the stage that refused the event (parse, filter, dedup, transform, ...). */
  deadLetterStage?: string;
  /** Owner epoch and checkpoint seq: for `written` they name the batch. */
  epoch: number;
  seq: number;
  /** Processing time, ms (stored in seconds). */
  at: number;
  traceId?: string;
  sampled?: boolean;
  reason?: string;
}

/** Buckets are fixed in size so every process reads what any other wrote, whatever its retention. */
export const EVENT_INDEX_BUCKET_MS = 15 * 60_000;
const MAX_REASON_BYTES = 200;
const HEADER = 15;

const STAGES: readonly IndexStage[] = ['written', 'filtered', 'duplicate', 'dead-lettered'];
const DL_STAGES = ['', 'parse', 'filter', 'dedup', 'transform', 'join', 'insert'];
const DUPLICATE_SUFFIX = 0x64; // 'd'

export function indexField(hash: bigint, duplicate = false): Buffer {
  const field = Buffer.allocUnsafe(duplicate ? 9 : 8);
  field.writeBigUInt64LE(BigInt.asUintN(64, hash), 0);
  if (duplicate) field[8] = DUPLICATE_SUFFIX;
  return field;
}

export function encodeIndexRecord(record: IndexRecord): Buffer {
  const trace = record.traceId !== undefined && /^[0-9a-f]{32}$/.test(record.traceId);
  const reason =
    record.reason === undefined ? undefined : truncateUtf8(record.reason, MAX_REASON_BYTES);
  const out = Buffer.alloc(HEADER + (trace ? 16 : 0) + (reason?.length ?? 0));
  out[0] = STAGES.indexOf(record.stage) + 1;
  const dl = record.deadLetterStage === undefined ? 0 : DL_STAGES.indexOf(record.deadLetterStage);
  out[1] = dl < 0 ? 255 : dl;
  out[2] = (trace ? 1 : 0) | (record.sampled ? 2 : 0);
  out.writeUInt32LE(record.epoch >>> 0, 3);
  out.writeUInt32LE(record.seq >>> 0, 7);
  out.writeUInt32LE(Math.floor(record.at / 1000) >>> 0, 11);
  let at = HEADER;
  if (trace) {
    out.write(record.traceId as string, at, 'hex');
    at += 16;
  }
  if (reason) reason.copy(out, at);
  return out;
}

export function decodeIndexRecord(data: Buffer): IndexRecord | undefined {
  if (data.length < HEADER) return undefined;
  const stage = STAGES[(data[0] ?? 0) - 1];
  if (stage === undefined) return undefined;
  const flags = data[2] ?? 0;
  const record: IndexRecord = {
    stage,
    epoch: data.readUInt32LE(3),
    seq: data.readUInt32LE(7),
    at: data.readUInt32LE(11) * 1000,
  };
  const dl = data[1] ?? 0;
  if (dl !== 0) record.deadLetterStage = DL_STAGES[dl] ?? 'other';
  let at = HEADER;
  if (flags & 1 && data.length >= at + 16) {
    record.traceId = data.toString('hex', at, at + 16);
    record.sampled = (flags & 2) !== 0;
    at += 16;
  }
  if (data.length > at) record.reason = data.toString('utf8', at);
  return record;
}

export function indexBucketOf(ms: number): number {
  return Math.floor(ms / EVENT_INDEX_BUCKET_MS) * EVENT_INDEX_BUCKET_MS;
}

/** A bucket lives for the retention after its last possible write. */
export function indexExpireAt(bucketStart: number, retentionMs: number): number {
  return bucketStart + EVENT_INDEX_BUCKET_MS + retentionMs;
}

/** Bucket starts that may hold records younger than the retention, newest first. */
export function indexBucketsToRead(now: number, retentionMs: number): number[] {
  const newest = indexBucketOf(now);
  // A bucket lives until start + bucket + retention (indexExpireAt): the oldest live one starts
  // after now - retention - bucket.
  const oldest = indexBucketOf(now - retentionMs - EVENT_INDEX_BUCKET_MS) + EVENT_INDEX_BUCKET_MS;
  const starts: number[] = [];
  for (let start = newest; start >= oldest; start -= EVENT_INDEX_BUCKET_MS) starts.push(start);
  return starts;
}

function truncateUtf8(text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  // Cut at a character boundary: continuation bytes are 10xxxxxx.
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end);
}

/** Per record: two length bytes, the field (at most 9 bytes) and the value. */
const MAX_RECORD = 2 + 9 + HEADER + 16 + MAX_REASON_BYTES;

/**
 * The index records of one open batch, encoded as the outcomes happen straight into one growing
 * buffer, so an outcome costs no object and no allocation of its own. Epoch, seq and time are
 * the same for the whole flush and patched in by `packed`/`fields`.
 *
 * Layout, per record: field length u8, value length u8, field, value: the checkpoint script's
 * packed index argument (libs/redis checkpoint.ts), sent as it is. One argument instead of two
 * per event: ioredis spent 8% of the process's busy time framing and copying the per-event
 * arguments (profiled).
 */
export class IndexRecordWriter {
  private buf = Buffer.allocUnsafe(16 * 1024);
  /** Writes the key hash: V8's setBigUint64 wraps negatives itself and costs far less than
   * Buffer.writeBigUInt64LE's range checks and BigInt arithmetic (profiled). */
  private view = viewOf(this.buf);
  private used = 0;
  private records = 0;

  get count(): number {
    return this.records;
  }

  add(
    hash: bigint,
    stage: IndexStage,
    deadLetterStage?: string,
    traceparent?: string,
    reason?: string,
  ): void {
    if (this.used + MAX_RECORD > this.buf.length) this.grow();
    const buf = this.buf;
    const recordAt = this.used;
    const fieldAt = recordAt + 2;
    this.view.setBigUint64(fieldAt, hash, true);
    let at = fieldAt + 8;
    if (stage === 'duplicate') buf[at++] = DUPLICATE_SUFFIX;
    const valueAt = at;
    buf[at] = STAGES.indexOf(stage) + 1;
    const dl = deadLetterStage === undefined ? 0 : DL_STAGES.indexOf(deadLetterStage);
    buf[at + 1] = dl < 0 ? 255 : dl;
    buf[at + 2] = 0;
    at += HEADER;
    // `00-<32 hex trace id>-<16 hex span id>-<flags>`: the trace id is copied as is, without
    // parsing the whole context; anything malformed is left out.
    if (traceparent !== undefined && traceparent.length === 55 && traceparent[2] === '-') {
      const written = buf.write(traceparent.slice(3, 35), at, 16, 'hex');
      if (written === 16) {
        const sampled =
          traceparent.endsWith('-01') || (parseInt(traceparent.slice(53), 16) & 1) === 1;
        buf[valueAt + 2] = 1 | (sampled ? 2 : 0);
        at += 16;
      }
    }
    if (reason !== undefined) at += truncateUtf8(reason, MAX_REASON_BYTES).copy(buf, at);
    buf[recordAt] = valueAt - fieldAt;
    buf[recordAt + 1] = at - valueAt;
    this.records += 1;
    this.used = at;
  }

  /** Every record, length-prefixed (see the class), stamped with the flush; a view, no copy. */
  packed(epoch: number, seq: number, atMs: number): Buffer {
    const seconds = Math.floor(atMs / 1000) >>> 0;
    const buf = this.buf;
    for (let at = 0; at < this.used;) {
      const valueAt = at + 2 + (buf[at] as number);
      buf.writeUInt32LE(epoch >>> 0, valueAt + 3);
      buf.writeUInt32LE(seq >>> 0, valueAt + 7);
      buf.writeUInt32LE(seconds, valueAt + 11);
      at = valueAt + (buf[at + 1] as number);
    }
    return buf.subarray(0, this.used);
  }

  /** Alternating field / value views, stamped with the flush (tests and tools). */
  fields(epoch: number, seq: number, atMs: number): Buffer[] {
    return unpackIndexRecords(this.packed(epoch, seq, atMs));
  }

  /** Starts a new batch; views handed out before stay valid (a new buffer, at most 1 MiB). */
  reset(): void {
    if (this.used === 0) return;
    this.buf = Buffer.allocUnsafe(Math.min(this.buf.length, 1 << 20));
    this.view = viewOf(this.buf);
    this.used = 0;
    this.records = 0;
  }

  private grow(): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + MAX_RECORD));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
    this.view = viewOf(next);
  }
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Alternating field / value pairs as one packed argument (the layout of IndexRecordWriter). */
export function packIndexRecords(fields: readonly Buffer[]): Buffer {
  let size = 0;
  for (const f of fields) size += f.length + 1;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i] as Buffer;
    const value = fields[i + 1] as Buffer;
    if (field.length > 255 || value.length > 255) throw new RangeError('index record too long');
    out[at] = field.length;
    out[at + 1] = value.length;
    at += 2 + field.copy(out, at + 2);
    at += value.copy(out, at);
  }
  return out.subarray(0, at);
}

/** The field / value views of a packed argument (inverse of packIndexRecords). */
export function unpackIndexRecords(packed: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 2 <= packed.length;) {
    const fieldAt = at + 2;
    const valueAt = fieldAt + (packed[at] as number);
    const end = valueAt + (packed[at + 1] as number);
    out.push(packed.subarray(fieldAt, valueAt), packed.subarray(valueAt, end));
    at = end;
  }
  return out;
}
