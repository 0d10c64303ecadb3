import { encodeMailboxEntry, fitsV3, type MailboxEvent, type UnparsedEntryVersion } from './entry';
import { MAX_ENTRY_BYTES } from './input-rules';
import {
  done,
  type EntryHead,
  FLAG_KEYS,
  FLAG_REST,
  FLAG_TRACES,
  FLAG_WIDE,
  MAX_TIME_STEP,
  packr,
  packRest,
  sizeBound,
  take,
  writeHeader,
  writeVarint,
} from './entry-v3';

const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;

/** A growable byte column; `bytes` is reused after a reset. */
class Bytes {
  used = 0;
  constructor(public bytes: Buffer) {}

  reserve(more: number): void {
    const need = this.used + more;
    if (need <= this.bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(need, this.bytes.length * 2));
    this.bytes.copy(grown, 0, 0, this.used);
    this.bytes = grown;
  }

  append(data: Uint8Array): void {
    this.reserve(data.length);
    this.bytes.set(data, this.used);
    this.used += data.length;
  }

  zeros(count: number): void {
    this.reserve(count);
    this.bytes.fill(0, this.used, this.used + count);
    this.used += count;
  }

  /** Version 3's text column cell: varint (bytes + 1), the UTF-8 bytes; 0 for none. */
  text(text: string | undefined): void {
    if (text === undefined) {
      this.zeros(1);
      return;
    }
    const length = Buffer.byteLength(text);
    this.reserve(length + 8);
    this.used = writeVarint(this.bytes, this.used, length + 1);
    this.used += this.bytes.write(text, this.used, 'utf8');
  }

  get view(): Buffer {
    return this.bytes.subarray(0, this.used);
  }
}

/**
 * The events bound for one mailbox, copied as they are routed into the columns of a version-3
 * entry (mailbox entry v3, entry-v3.ts): offsets and timestamps in float arrays, the messages'
 * JSON bytes comma-separated in one growable buffer, keys and trace contexts as byte columns.
 * A message's bytes are copied once at routing, so nothing of a Kafka batch (kafkajs's message
 * objects, the fetch buffer its values point into, the routed event objects) outlives the batch
 * handler while its partition lingers: those objects die young instead of surviving scavenges
 * and being promoted. Events without JSON bytes (parsed, malformed) are kept as objects for the
 * entry's `rest`. `encode` writes the same bytes as encodeMailboxEntry of the same events.
 */
export class EntryBuilder {
  /** Events with JSON bytes. */
  private count = 0;
  private offsets = new Float64Array(256);
  private times = new Float64Array(256);
  /** Where each event's JSON ends in `json` (toEvents only). */
  private ends = new Uint32Array(256);
  private readonly json = new Bytes(Buffer.allocUnsafeSlow(16 * 1024));
  private keys: Bytes | undefined;
  private traces: Bytes | undefined;
  private rest: MailboxEvent[] = [];

  get events(): number {
    return this.count + this.rest.length;
  }

  /** Bytes held for JSON. */
  get capacity(): number {
    return this.json.bytes.length;
  }

  add(event: MailboxEvent): void {
    const text = event.json;
    if (text === undefined) {
      this.rest.push(event);
      return;
    }
    const i = this.count;
    if (i === this.offsets.length) this.grow(i * 2);
    this.offsets[i] = event.offset;
    this.times[i] = event.timestamp;
    const json = this.json;
    json.reserve(text.length + 1);
    if (i > 0) json.bytes[json.used++] = COMMA;
    json.bytes.set(text, json.used);
    json.used += text.length;
    this.ends[i] = json.used;
    if (event.key !== undefined) (this.keys ??= column(i)).text(event.key);
    else this.keys?.zeros(1);
    if (event.traceparent !== undefined) (this.traces ??= column(i)).text(event.traceparent);
    else this.traces?.zeros(1);
    this.count = i + 1;
  }

  /** Appends the events of a later builder (all of its offsets follow this one's). */
  addAll(later: EntryBuilder): void {
    const i = this.count;
    const n = later.count;
    if (n > 0) {
      if (i + n > this.offsets.length) this.grow(Math.max(i + n, i * 2));
      this.offsets.set(later.offsets.subarray(0, n), i);
      this.times.set(later.times.subarray(0, n), i);
      // The later ends move by what precedes them here (and the comma between).
      const shift = i > 0 ? this.json.used + 1 : 0;
      for (let k = 0; k < n; k += 1) this.ends[i + k] = (later.ends[k] as number) + shift;
      if (i > 0) this.json.append(Buffer.of(COMMA));
      this.json.append(later.json.view);
      if (this.keys !== undefined || later.keys !== undefined) {
        this.keys ??= column(i);
        if (later.keys === undefined) this.keys.zeros(n);
        else this.keys.append(later.keys.view);
      }
      if (this.traces !== undefined || later.traces !== undefined) {
        this.traces ??= column(i);
        if (later.traces === undefined) this.traces.zeros(n);
        else this.traces.append(later.traces.view);
      }
      this.count = i + n;
    }
    for (const event of later.rest) this.rest.push(event);
  }

  /** Empties the builder, keeping its buffers for reuse. */
  reset(): void {
    this.count = 0;
    this.json.used = 0;
    this.keys = undefined;
    this.traces = undefined;
    this.rest = [];
  }

  /** The entry of `head` and these events, as encodeMailboxEntry writes it. */
  encode(head: EntryHead, version: UnparsedEntryVersion = 3): Buffer {
    if (this.count > 0 && version === 3 && fitsV3(head)) return this.encodeV3(head);
    return encodeMailboxEntry({ ...head, events: this.toEvents() }, version);
  }

  /**
   * The entry as parts of at most about `maxBytes` each: one part (the bytes of `encode`) unless
   * it is larger. Then each part but the last ends at its own last event (`to`) and carries no
   * join marks, which speak of the whole range; the last part has the head as given. An actor
   * applies them in stream order as one entry: every part continues from the session's `from`,
   * and each part's events lie past the previous part's `to`.
   */
  encodeParts(
    head: EntryHead,
    version: UnparsedEntryVersion = 3,
    maxBytes = MAX_ENTRY_BYTES,
  ): Buffer[] {
    const whole = this.encode(head, version);
    if (whole.length <= maxBytes || this.events < 2) return [whole];
    // Half the bound per part's events leaves room for the columns and the header.
    const budget = maxBytes / 2;
    const plain: EntryHead = {
      topic: head.topic,
      partition: head.partition,
      generation: head.generation,
      from: head.from,
      to: head.to,
    };
    const parts: Buffer[] = [];
    let part: MailboxEvent[] = [];
    let bytes = 0;
    for (const event of this.toEvents()) {
      const size = eventBytes(event);
      const last = part[part.length - 1];
      if (last !== undefined && bytes + size > budget) {
        parts.push(encodeMailboxEntry({ ...plain, to: last.offset, events: part }, version));
        part = [];
        bytes = 0;
      }
      part.push(event);
      bytes += size;
    }
    parts.push(encodeMailboxEntry({ ...head, events: part }, version));
    return parts;
  }

  /** The events as MailboxEvents (JSON ones with `json` views into this builder), offset order. */
  toEvents(): MailboxEvent[] {
    const events: MailboxEvent[] = [];
    const json = this.json.bytes;
    const keys = readColumn(this.keys, this.count);
    const traces = readColumn(this.traces, this.count);
    const { rest } = this;
    let r = 0;
    let start = 0;
    for (let i = 0; i < this.count; i += 1) {
      const offset = this.offsets[i] as number;
      while (r < rest.length && (rest[r] as MailboxEvent).offset < offset) {
        events.push(rest[r] as MailboxEvent);
        r += 1;
      }
      const end = this.ends[i] as number;
      const event: MailboxEvent = {
        offset,
        timestamp: this.times[i] as number,
        json: json.subarray(start, end),
      };
      const key = keys?.[i];
      if (key !== undefined) event.key = key;
      const traceparent = traces?.[i];
      if (traceparent !== undefined) event.traceparent = traceparent;
      events.push(event);
      start = end + 1;
    }
    while (r < rest.length) events.push(rest[r++] as MailboxEvent);
    return events;
  }

  private grow(size: number): void {
    const offsets = new Float64Array(size);
    offsets.set(this.offsets.subarray(0, this.count));
    this.offsets = offsets;
    const times = new Float64Array(size);
    times.set(this.times.subarray(0, this.count));
    this.times = times;
    const ends = new Uint32Array(size);
    ends.set(this.ends.subarray(0, this.count));
    this.ends = ends;
  }

  private encodeV3(head: EntryHead): Buffer {
    const n = this.count;
    const { offsets, times } = this;
    let wide = false;
    let lastOffset = -1;
    let lastTime = 0;
    for (let i = 0; i < n; i += 1) {
      const offset = offsets[i] as number;
      const time = times[i] as number;
      // Steps must be exact as doubles: zigzag doubles the time step.
      if (
        !(offset > lastOffset && Number.isSafeInteger(offset) && Number.isSafeInteger(time)) ||
        Math.abs(time - lastTime) > MAX_TIME_STEP
      ) {
        wide = true;
        break;
      }
      lastOffset = offset;
      lastTime = time;
    }
    const packedRest = this.rest.length > 0 ? packRest(this.rest) : undefined;
    const keys = this.keys?.view;
    const traces = this.traces?.view;
    const topicBytes = Buffer.byteLength(head.topic);
    const json = this.json.used + 2;
    const columnBytes = (keys?.length ?? 0) + (traces?.length ?? 0);
    const out = take(sizeBound(topicBytes, n, columnBytes, packedRest?.length ?? 0, json));
    let flags = 0;
    if (keys !== undefined) flags |= FLAG_KEYS;
    if (traces !== undefined) flags |= FLAG_TRACES;
    if (wide) flags |= FLAG_WIDE;
    if (packedRest !== undefined) flags |= FLAG_REST;
    let at = writeHeader(out, head, flags, n, json, topicBytes);
    at = out.writeDoubleLE(offsets[0] as number, at);
    at = out.writeDoubleLE(times[0] as number, at);
    for (let i = 1; i < n; i += 1) {
      const offset = offsets[i] as number;
      const time = times[i] as number;
      if (wide) {
        at = out.writeDoubleLE(offset, at);
        at = out.writeDoubleLE(time, at);
        continue;
      }
      const offsetStep = offset - (offsets[i - 1] as number);
      const step = time - (times[i - 1] as number);
      const zigzag = step < 0 ? -step * 2 - 1 : step * 2;
      // One-byte steps inline: neighbouring offsets, one producer send.
      if (offsetStep < 0x80) out[at++] = offsetStep;
      else at = writeVarint(out, at, offsetStep);
      if (zigzag < 0x80) out[at++] = zigzag;
      else at = writeVarint(out, at, zigzag);
    }
    if (keys !== undefined) at += keys.copy(out, at);
    if (traces !== undefined) at += traces.copy(out, at);
    if (packedRest !== undefined) {
      at = out.writeUInt32LE(packedRest.length, at);
      at += packedRest.copy(out, at);
    }
    out[at++] = OPEN;
    at += this.json.bytes.copy(out, at, 0, this.json.used);
    out[at++] = CLOSE;
    return done(out, at);
  }
}

/** About the bytes an event takes in an entry (only used to cut a large one into parts). */
function eventBytes(event: MailboxEvent): number {
  const body =
    event.json?.length ??
    event.rawBytes?.length ??
    (event.value === undefined ? Buffer.byteLength(event.raw ?? '') : packedBytes(event));
  const key = event.key === undefined ? 0 : Buffer.byteLength(event.key);
  const trace = event.traceparent === undefined ? 0 : Buffer.byteLength(event.traceparent);
  return body + key + trace + 32;
}

function packedBytes(event: MailboxEvent): number {
  try {
    return packr.pack(event).length;
  } catch {
    return 0; // carried as a short malformed event (carriable.ts)
  }
}

/** A text column for event `i` onwards: the earlier events have none. */
function column(i: number): Bytes {
  const bytes = new Bytes(Buffer.allocUnsafe(Math.max(256, i * 2)));
  bytes.zeros(i);
  return bytes;
}

function readColumn(column: Bytes | undefined, n: number): (string | undefined)[] | undefined {
  if (column === undefined) return undefined;
  const texts = new Array<string | undefined>(n);
  const data = column.bytes;
  let at = 0;
  for (let i = 0; i < n; i += 1) {
    let length = 0;
    let scale = 1;
    for (;;) {
      const byte = data[at++] as number;
      length += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
    }
    if (length === 0) continue;
    texts[i] = data.toString('utf8', at, at + length - 1);
    at += length - 1;
  }
  return texts;
}

/** Reused builders: their buffers stay allocated instead of being made per flush. */
const pool: EntryBuilder[] = [];
const POOL_MAX = 512;
/** A builder grown past this (a rare huge range) is left to the collector. */
const POOL_MAX_BYTES = 256 * 1024;

export function entryBuilder(): EntryBuilder {
  return pool.pop() ?? new EntryBuilder();
}

/** Returns a builder whose entry is appended; it must not be used after. */
export function releaseEntryBuilder(builder: EntryBuilder): void {
  builder.reset();
  if (pool.length < POOL_MAX && builder.capacity <= POOL_MAX_BYTES) pool.push(builder);
}
