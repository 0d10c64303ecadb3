/**
 * "Find my event": a compact record of what became of each event, by the low 64 bits of its
 * dedup key's hash (96 bits in the dedup state; the low 64 are what earlier versions stored, so
 * older records still match, and a lookup naming another key's record has odds of 2^-64). Each
 * checkpoint appends ONE segment to a string per time bucket (by checkpoint time) and partition:
 * everything an outcome shares with its batch (epoch, seq, processed-at) is written once per
 * segment, and a plain outcome costs only its 8-byte key hash. One HSET field per event cost
 * Redis about 1.7 s of CPU and 93 bytes of memory per 1M events / per record
 * (docs/performance.md); an APPEND of the segment costs a copy.
 *
 * Segment layout (little endian):
 *   0  u8   version (3)
 *   1  u32  segment length in bytes, header included
 *   5  u32  owner epoch, 9 u32 checkpoint seq, 13 u32 processed-at seconds
 *   17 u32  x 4: hashes in the written, filtered, duplicate, dead-lettered groups
 *   33 u32  bytes of extras
 *   37 u32  actor run (part of the batch id, see batchId in libs/redis)
 *   41      the groups' 8-byte key hashes, in that order, then the extras
 * Version 2 segments (no run, hashes from byte 37) are still read.
 * Extras hold the outcomes that carry more than their stage (a trace id, a dead-letter stage, a
 * reason): key hash u64, stage u8, dead-letter stage u8, flags u8 (1: trace id, 2: sampled),
 * reason length u8, [trace id 16 bytes], [reason utf8].
 */

export type IndexStage = 'written' | 'filtered' | 'duplicate' | 'dead-lettered';

export interface IndexRecord {
  stage: IndexStage;
  /** Dead letters: the stage that refused the event (parse, filter, dedup, transform, ...). */
  deadLetterStage?: string;
  /** Owner epoch, actor run and checkpoint seq: for `written` they name the batch. */
  epoch: number;
  /** Absent in records written before runs existed. */
  run?: number;
  seq: number;
  /** Processing time, ms (stored in seconds). */
  at: number;
  traceId?: string;
  sampled?: boolean;
  reason?: string;
}

/** The batch a segment's records belong to (its id: batchId in libs/redis). */
export interface SegmentBatch {
  epoch: number;
  run: number;
  seq: number;
}

/** Buckets are fixed in size so every process reads what any other wrote, whatever its retention. */
export const EVENT_INDEX_BUCKET_MS = 15 * 60_000;
const MAX_REASON_BYTES = 200;
const VERSION = 3;
export const SEGMENT_HEADER = 41;
/** Header bytes of each readable version. */
const HEADERS: Readonly<Record<number, number>> = { 2: 37, 3: SEGMENT_HEADER };
/** The smallest header: a log shorter than this holds no more segments. */
const MIN_HEADER = 37;
const EXTRA_HEADER = 12;
const MAX_EXTRA = EXTRA_HEADER + 16 + MAX_REASON_BYTES;

const STAGES: readonly IndexStage[] = ['written', 'filtered', 'duplicate', 'dead-lettered'];
const DL_STAGES = ['', 'parse', 'filter', 'dedup', 'transform', 'join', 'insert'];

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

/** A growing buffer with a DataView: V8's setBigUint64 wraps negatives itself and costs far
 * less than Buffer.writeBigUInt64LE's range checks and BigInt arithmetic (profiled). */
class Bytes {
  buf: Buffer;
  view: DataView;
  used = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = viewOf(this.buf);
  }

  room(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + bytes));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
    this.view = viewOf(next);
  }

  /** The low 64 bits: setBigUint64 wraps modulo 2^64 (`indexHashBytes` must agree). */
  hash(hash: bigint): void {
    this.room(8);
    this.view.setBigUint64(this.used, hash, true);
    this.used += 8;
  }

  /** Keeps the buffer for the next batch unless one outsized batch grew it past 1 MiB. */
  clear(): void {
    if (this.buf.length > 1 << 20) {
      this.buf = Buffer.allocUnsafe(1 << 20);
      this.view = viewOf(this.buf);
    }
    this.used = 0;
  }
}

function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * The index records of one open batch, collected as the outcomes happen: a plain outcome appends
 * its key hash to its stage's group, one with extras a record to the extras. `segment` lays them
 * out for the checkpoint script, stamped with the flush.
 */
export class IndexRecordWriter {
  private readonly groups = STAGES.map(() => new Bytes(8 * 1024));
  private readonly extras = new Bytes(1024);
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
    this.records += 1;
    const stageIndex = STAGES.indexOf(stage);
    // `00-<32 hex trace id>-<16 hex span id>-<flags>`: the trace id is copied as is, without
    // parsing the whole context; anything malformed is left out.
    const traced = traceparent !== undefined && traceparent.length === 55 && traceparent[2] === '-';
    if (!traced && reason === undefined && deadLetterStage === undefined) {
      (this.groups[stageIndex] as Bytes).hash(hash);
      return;
    }
    const x = this.extras;
    x.room(MAX_EXTRA);
    const recordAt = x.used;
    x.view.setBigUint64(recordAt, hash, true);
    const buf = x.buf;
    buf[recordAt + 8] = stageIndex + 1;
    const dl = deadLetterStage === undefined ? 0 : DL_STAGES.indexOf(deadLetterStage);
    buf[recordAt + 9] = dl < 0 ? 255 : dl;
    buf[recordAt + 10] = 0;
    let at = recordAt + EXTRA_HEADER;
    if (traced && buf.write(traceparent.slice(3, 35), at, 16, 'hex') === 16) {
      const sampled =
        traceparent.endsWith('-01') || (parseInt(traceparent.slice(53), 16) & 1) === 1;
      buf[recordAt + 10] = 1 | (sampled ? 2 : 0);
      at += 16;
    }
    const reasonBytes =
      reason === undefined ? 0 : truncateUtf8(reason, MAX_REASON_BYTES).copy(buf, at);
    buf[recordAt + 11] = reasonBytes;
    x.used = at + reasonBytes;
  }

  /** The batch's records as one segment (see the file comment): a new buffer, one copy. */
  segment(batch: SegmentBatch, atMs: number): Buffer {
    const { epoch, run, seq } = batch;
    let size = SEGMENT_HEADER + this.extras.used;
    for (const g of this.groups) size += g.used;
    const out = Buffer.allocUnsafe(size);
    out[0] = VERSION;
    out.writeUInt32LE(size, 1);
    out.writeUInt32LE(epoch >>> 0, 5);
    out.writeUInt32LE(seq >>> 0, 9);
    out.writeUInt32LE(Math.floor(atMs / 1000) >>> 0, 13);
    let at = SEGMENT_HEADER;
    this.groups.forEach((g, i) => {
      out.writeUInt32LE(g.used / 8, 17 + 4 * i);
      at += g.buf.copy(out, at, 0, g.used);
    });
    out.writeUInt32LE(this.extras.used, 33);
    out.writeUInt32LE(run >>> 0, 37);
    this.extras.buf.copy(out, at, 0, this.extras.used);
    return out;
  }

  /** Starts a new batch (segments handed out before are copies and stay valid). */
  reset(): void {
    for (const g of this.groups) g.clear();
    this.extras.clear();
    this.records = 0;
  }
}

/** The 8 bytes a key hash is stored as (its low 64 bits, little endian). */
export function indexHashBytes(hash: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64LE(BigInt.asUintN(64, hash), 0);
  return out;
}

/**
 * The outcomes of one key in one bucket's log (segments appended in checkpoint order): as the
 * per-key hash fields of the first index did, the latest duplicate is kept apart from the latest
 * other outcome, so a duplicate never hides the first outcome. Within one checkpoint the order of
 * a key's outcomes is not kept: every non-duplicate stage it had there is returned.
 */
export function findInLog(log: Buffer, hash: bigint): IndexRecord[] {
  const needle = indexHashBytes(hash);
  let outcomes: IndexRecord[] = [];
  let duplicate: IndexRecord | undefined;
  for (let seg = 0; seg + MIN_HEADER <= log.length;) {
    const size = log.readUInt32LE(seg + 1);
    // A log only ever grows by whole segments (APPEND inside the checkpoint script); anything
    // else is not ours to read.
    const header = HEADERS[log[seg] ?? 0];
    if (header === undefined || size < header || seg + size > log.length) break;
    const base: Batch = {
      epoch: log.readUInt32LE(seg + 5),
      seq: log.readUInt32LE(seg + 9),
      at: log.readUInt32LE(seg + 13) * 1000,
    };
    if (header > MIN_HEADER) base.run = log.readUInt32LE(seg + 37);
    const here: IndexRecord[] = [];
    let at = seg + header;
    for (let g = 0; g < STAGES.length; g++) {
      const end = at + 8 * log.readUInt32LE(seg + 17 + 4 * g);
      if (hasAligned(log, needle, at, end)) here.push({ stage: STAGES[g] as IndexStage, ...base });
      at = end;
    }
    const extrasEnd = at + log.readUInt32LE(seg + 33);
    while (at + EXTRA_HEADER <= extrasEnd) {
      const flags = log[at + 10] ?? 0;
      const trace = flags & 1 ? 16 : 0;
      const next = at + EXTRA_HEADER + trace + (log[at + 11] ?? 0);
      if (log.compare(needle, 0, 8, at, at + 8) === 0) {
        here.push(decodeExtra(log, at, trace, next, base));
      }
      at = next;
    }
    const dup = here.filter((r) => r.stage === 'duplicate');
    const other = here.filter((r) => r.stage !== 'duplicate');
    if (dup.length > 0) duplicate = dup[dup.length - 1];
    if (other.length > 0) outcomes = other;
    seg += size;
  }
  return duplicate === undefined ? outcomes : [...outcomes, duplicate];
}

/**
 * Whether `needle` occurs in [from, end) at a multiple of 8 bytes from `from`. The search is
 * bounded to the group: indexOf on the whole log would scan to its end for every group.
 */
function hasAligned(log: Buffer, needle: Buffer, from: number, end: number): boolean {
  const group = log.subarray(from, end);
  for (let at = group.indexOf(needle); at >= 0; at = group.indexOf(needle, at + 1)) {
    if (at % 8 === 0) return true;
  }
  return false;
}

/** What a segment's records share. */
type Batch = Pick<IndexRecord, 'epoch' | 'run' | 'seq' | 'at'>;

function decodeExtra(
  log: Buffer,
  at: number,
  trace: number,
  end: number,
  base: Batch,
): IndexRecord {
  const record: IndexRecord = { stage: STAGES[(log[at + 8] ?? 1) - 1] ?? 'written', ...base };
  const dl = log[at + 9] ?? 0;
  if (dl !== 0) record.deadLetterStage = DL_STAGES[dl] ?? 'other';
  const from = at + EXTRA_HEADER;
  if (trace > 0) {
    record.traceId = log.toString('hex', from, from + 16);
    record.sampled = ((log[at + 10] ?? 0) & 2) !== 0;
  }
  if (end > from + trace) record.reason = log.toString('utf8', from + trace, end);
  return record;
}

/** Stage counts of a log's segments (tests and tools). */
export function logSegments(log: Buffer): { records: number; bytes: number }[] {
  const out: { records: number; bytes: number }[] = [];
  for (let seg = 0; seg + MIN_HEADER <= log.length;) {
    const size = log.readUInt32LE(seg + 1);
    const header = HEADERS[log[seg] ?? 0];
    if (header === undefined || size < header || seg + size > log.length) break;
    let records = 0;
    for (let g = 0; g < STAGES.length; g++) records += log.readUInt32LE(seg + 17 + 4 * g);
    let at = seg + header + 8 * records;
    const extrasEnd = at + log.readUInt32LE(seg + 33);
    while (at + EXTRA_HEADER <= extrasEnd) {
      at += EXTRA_HEADER + ((log[at + 10] ?? 0) & 1 ? 16 : 0) + (log[at + 11] ?? 0);
      records += 1;
    }
    out.push({ records, bytes: size });
    seg += size;
  }
  return out;
}
