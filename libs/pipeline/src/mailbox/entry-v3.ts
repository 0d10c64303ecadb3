import { Packr } from 'msgpackr';
import { carriable } from './carriable';
import type { MailboxEntry, MailboxEvent } from './entry';

/**
 * Mailbox entry version 3: the layout of version 2 (the unparsed messages as one JSON array,
 * their offsets, timestamps, keys and trace contexts as columns, every other event as a version-1
 * event in `rest`) written by hand instead of through msgpack, so that neither side builds
 * per-event column arrays or walks them with a generic packer. Little-endian:
 *
 *   0   u8   0xc1, MessagePack's never-used byte: a version-1/2 decoder refuses the entry
 *   1   u8   3 (version)
 *   2   u8   flags (FLAG_*)
 *   3   u8   0
 *   4   i32  generation            8  u32 partition
 *   12  f64  from                  20 f64 to
 *   28  u32  JSON events (n)       32 u32 JSON array bytes (j)
 *   36  f64  maxTime, if FLAG_MAX_TIME; then u32 partitions, if FLAG_PARTITIONS
 *       u16  topic bytes, the topic (UTF-8)
 *       columns, n > 0: f64 first offset, f64 first timestamp; then per later event, FLAG_WIDE
 *         off: varint offset step (> 0), zigzag varint timestamp step; on: f64 offset, f64 time
 *       keys, if FLAG_KEYS, then traces, if FLAG_TRACES: per event varint (bytes + 1, 0 = none)
 *         and the UTF-8 bytes
 *       rest, if FLAG_REST: u32 bytes, msgpack of the version-1 events
 *       the JSON array (`[m1,m2,...]`), j bytes, to the end of the entry
 */
export const V3_MAGIC = 0xc1;
const VERSION = 3;
export const FLAG_KEYS = 1;
export const FLAG_TRACES = 2;
const FLAG_MAX_TIME = 4;
const FLAG_CAUGHT_UP = 8;
const FLAG_CAUGHT_UP_TRUE = 16;
const FLAG_PARTITIONS = 32;
export const FLAG_REST = 64;
/** Offsets not increasing or a value not a safe integer: raw doubles instead of steps. */
export const FLAG_WIDE = 128;
const FIXED = 36;
const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;
/** Most bytes of one event's two steps (two varints of up to 2^54). */
const STEP_BYTES = 16;
export const MAX_TIME_STEP = 2 ** 51;

export const packr = new Packr({ useRecords: true, moreTypes: false });

/** The texts' count is known by the caller (at least one event carries `json`). */
export function encodeV3(entry: MailboxEntry, texts: number, textBytes: number): Buffer {
  const { events } = entry;
  let flags = 0;
  let columnBytes = 0;
  let wide = false;
  let lastOffset = -1;
  let lastTime = 0;
  const rest: MailboxEvent[] = [];
  for (const event of events) {
    if (event.json === undefined) {
      rest.push(event);
      continue;
    }
    if (event.key !== undefined) columnBytes += Buffer.byteLength(event.key) + 5;
    if (event.traceparent !== undefined) columnBytes += Buffer.byteLength(event.traceparent) + 5;
    if (event.key !== undefined) flags |= FLAG_KEYS;
    if (event.traceparent !== undefined) flags |= FLAG_TRACES;
    const { offset, timestamp } = event;
    // Steps must be exact as doubles: zigzag doubles the time step.
    if (
      !(offset > lastOffset && Number.isSafeInteger(offset) && Number.isSafeInteger(timestamp)) ||
      Math.abs(timestamp - lastTime) > MAX_TIME_STEP
    ) {
      wide = true;
    }
    lastOffset = offset;
    lastTime = timestamp;
  }
  if (flags & FLAG_KEYS) columnBytes += texts * 5;
  if (flags & FLAG_TRACES) columnBytes += texts * 5;
  const packedRest = rest.length > 0 ? packRest(rest) : undefined;
  const topicBytes = Buffer.byteLength(entry.topic);
  const json = textBytes + Math.max(texts - 1, 0) + 2;
  const out = take(sizeBound(topicBytes, texts, columnBytes, packedRest?.length ?? 0, json));
  if (wide) flags |= FLAG_WIDE;
  if (packedRest !== undefined) flags |= FLAG_REST;
  let at = writeHeader(out, entry, flags, texts, json, topicBytes);

  let offset = 0;
  let time = 0;
  let first = true;
  for (const event of events) {
    if (event.json === undefined) continue;
    if (first || wide) {
      at = out.writeDoubleLE(event.offset, at);
      at = out.writeDoubleLE(event.timestamp, at);
      first = false;
    } else {
      at = writeVarint(out, at, event.offset - offset);
      const step = event.timestamp - time;
      at = writeVarint(out, at, step < 0 ? -step * 2 - 1 : step * 2);
    }
    offset = event.offset;
    time = event.timestamp;
  }
  if (flags & FLAG_KEYS) at = writeTexts(out, at, events, 'key');
  if (flags & FLAG_TRACES) at = writeTexts(out, at, events, 'traceparent');
  if (packedRest !== undefined) {
    at = out.writeUInt32LE(packedRest.length, at);
    at += packedRest.copy(out, at);
  }
  // The texts, filled in place: one copy per message.
  out[at++] = OPEN;
  let comma = false;
  for (const event of events) {
    const text = event.json;
    if (text === undefined) continue;
    if (comma) out[at++] = COMMA;
    out.set(text, at);
    at += text.length;
    comma = true;
  }
  out[at++] = CLOSE;
  return done(out, at);
}

/** The rest column; an event that cannot be packed is dead-lettered alone (see `carriable`). */
export function packRest(rest: readonly MailboxEvent[]): Buffer {
  try {
    return packr.pack(rest);
  } catch {
    return packr.pack(carriable(packr, rest));
  }
}

/** Head of an entry: everything but the events. */
export type EntryHead = Omit<MailboxEntry, 'events'>;

/**
 * Bytes an entry can take at most (both encoders cut their buffer by it): the fixed header, both
 * optional join fields (maxTime f64, partitions u32), the topic with its u16 length, the first
 * step as two doubles, up to STEP_BYTES per further step, the key/trace columns, the rest with
 * its u32 length and the JSON array.
 */
export function sizeBound(
  topicBytes: number,
  steps: number,
  columnBytes: number,
  restBytes: number,
  jsonBytes: number,
): number {
  return (
    FIXED + 12 + 2 + topicBytes + 16 + steps * STEP_BYTES + columnBytes + 4 + restBytes + jsonBytes
  );
}

/**
 * The fixed header, the optional join fields and the topic; returns where the columns start.
 * `flags` carries the column flags (keys, traces, rest, wide); the head's own are added here.
 */
export function writeHeader(
  out: Buffer,
  entry: EntryHead,
  flags: number,
  texts: number,
  json: number,
  topicBytes: number,
): number {
  if (entry.maxTime !== undefined) flags |= FLAG_MAX_TIME;
  if (entry.caughtUp !== undefined)
    flags |= FLAG_CAUGHT_UP | (entry.caughtUp ? FLAG_CAUGHT_UP_TRUE : 0);
  if (entry.partitions !== undefined) flags |= FLAG_PARTITIONS;
  out[0] = V3_MAGIC;
  out[1] = VERSION;
  out[2] = flags;
  out[3] = 0;
  out.writeInt32LE(entry.generation, 4);
  out.writeUInt32LE(entry.partition, 8);
  out.writeDoubleLE(entry.from, 12);
  out.writeDoubleLE(entry.to, 20);
  out.writeUInt32LE(texts, 28);
  out.writeUInt32LE(json, 32);
  let at = FIXED;
  if (entry.maxTime !== undefined) at = out.writeDoubleLE(entry.maxTime, at);
  if (entry.partitions !== undefined) at = out.writeUInt32LE(entry.partitions, at);
  at = out.writeUInt16LE(topicBytes, at);
  return at + out.write(entry.topic, at, 'utf8');
}

/**
 * Entries are cut from a shared slab, as msgpackr does with its own: a fresh ArrayBuffer per
 * entry of ~40 kB is external memory that V8 counts towards its next collection.
 */
const SLAB_BYTES = 1 << 20;
let slab = Buffer.allocUnsafe(0);
let slabUsed = 0;

export function take(size: number): Buffer {
  if (slab.length - slabUsed < size) {
    slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
    slabUsed = 0;
  }
  return slab.subarray(slabUsed, slabUsed + size);
}

/** Keeps the used part; the next entry starts after it (8-aligned). */
export function done(out: Buffer, used: number): Buffer {
  if (out.buffer === slab.buffer) slabUsed += (used + 7) & ~7;
  return out.subarray(0, used);
}

function writeTexts(
  out: Buffer,
  at: number,
  events: readonly MailboxEvent[],
  field: 'key' | 'traceparent',
): number {
  for (const event of events) {
    if (event.json === undefined) continue;
    const text = event[field];
    if (text === undefined) {
      out[at++] = 0;
      continue;
    }
    // Reserve one varint byte, then move the bytes if the length needs more.
    const length = out.write(text, at + 1, 'utf8');
    const width = varintBytes(length + 1);
    if (width > 1) out.copyWithin(at + width, at + 1, at + 1 + length);
    writeVarint(out, at, length + 1);
    at += width + length;
  }
  return at;
}

export function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n += 1;
  }
  return n;
}

/** LEB128 of a non-negative safe integer (arithmetic, not 32-bit operators). */
export function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

class Malformed extends Error {
  constructor(what: string) {
    super(`malformed mailbox entry (version 3): ${what}`);
    this.name = 'MalformedMailboxEntry';
  }
}

/** Decoder position, returned beside a value by readVarint and readText (one call at a time). */
let cursor = 0;

function readVarint(data: Buffer, at: number): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = data[at++];
    if (byte === undefined || scale > 2 ** 49) throw new Malformed('truncated column');
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 0x80;
  }
  cursor = at;
  return value;
}

function readTexts(data: Buffer, at: number, n: number, end: number): (string | undefined)[] {
  const texts = new Array<string | undefined>(n);
  for (let i = 0; i < n; i += 1) {
    const length = readVarint(data, at) - 1;
    at = cursor;
    if (length < 0) continue;
    if (at + length > end) throw new Malformed('truncated text column');
    texts[i] = data.toString('utf8', at, at + length);
    at += length;
  }
  cursor = at;
  return texts;
}

export function decodeV3(data: Buffer): MailboxEntry {
  if (data.length < FIXED + 2 || data[1] !== VERSION) throw new Malformed('short header');
  const flags = data[2] as number;
  const n = data.readUInt32LE(28);
  const jsonBytes = data.readUInt32LE(32);
  const jsonStart = data.length - jsonBytes;
  let at = FIXED;
  const head: Omit<MailboxEntry, 'events' | 'topic'> = {
    partition: data.readUInt32LE(8),
    generation: data.readInt32LE(4),
    from: data.readDoubleLE(12),
    to: data.readDoubleLE(20),
  };
  if (flags & FLAG_MAX_TIME) {
    head.maxTime = data.readDoubleLE(at);
    at += 8;
  }
  if (flags & FLAG_CAUGHT_UP) head.caughtUp = (flags & FLAG_CAUGHT_UP_TRUE) !== 0;
  if (flags & FLAG_PARTITIONS) {
    head.partitions = data.readUInt32LE(at);
    at += 4;
  }
  const topicBytes = data.readUInt16LE(at);
  at += 2;
  if (at + topicBytes > jsonStart) throw new Malformed('truncated topic');
  const topic = data.toString('utf8', at, at + topicBytes);
  at += topicBytes;

  const offsets = new Float64Array(n);
  const times = new Float64Array(n);
  const wide = (flags & FLAG_WIDE) !== 0;
  let offset = 0;
  let time = 0;
  for (let i = 0; i < n; i += 1) {
    if (i === 0 || wide) {
      if (at + 16 > jsonStart) throw new Malformed('truncated column');
      offset = data.readDoubleLE(at);
      time = data.readDoubleLE(at + 8);
      at += 16;
    } else {
      // One-byte steps inline: the common case (neighbouring offsets, one producer send).
      let step = data[at] as number;
      if (step < 0x80) at += 1;
      else {
        step = readVarint(data, at);
        at = cursor;
      }
      if (!(step > 0)) throw new Malformed('offsets not increasing');
      offset += step;
      let zigzag = data[at] as number;
      if (zigzag < 0x80) at += 1;
      else {
        zigzag = readVarint(data, at);
        at = cursor;
      }
      time += zigzag % 2 === 1 ? -(zigzag + 1) / 2 : zigzag / 2;
    }
    offsets[i] = offset;
    times[i] = time;
  }
  const keys = flags & FLAG_KEYS ? readTexts(data, at, n, jsonStart) : undefined;
  if (keys !== undefined) at = cursor;
  const traces = flags & FLAG_TRACES ? readTexts(data, at, n, jsonStart) : undefined;
  if (traces !== undefined) at = cursor;
  let rest: MailboxEvent[] = [];
  if (flags & FLAG_REST) {
    if (at + 4 > jsonStart) throw new Malformed('truncated rest');
    const length = data.readUInt32LE(at);
    at += 4;
    if (at + length > jsonStart) throw new Malformed('truncated rest');
    rest = packr.unpack(data.subarray(at, at + length)) as MailboxEvent[];
    if (!Array.isArray(rest)) throw new Malformed('rest is not a list');
    at += length;
  }
  if (at !== jsonStart) throw new Malformed('columns do not end where the JSON starts');
  const values = n === 0 ? [] : (JSON.parse(data.toString('utf8', jsonStart)) as unknown);
  if (!Array.isArray(values) || values.length !== n) throw new Malformed('JSON count');

  const events = mergeByOffset(offsets, times, values, keys, traces, rest);
  return { topic, ...head, events };
}

/**
 * The events of an entry of version 2 or 3: the JSON events from their columns (`values[i]` at
 * `offsets[i]`, `times[i]`, with its key and trace context when it has one), merged with the
 * other events (`rest`) by offset. Both lists are in offset order, and the entry's events must
 * be too (dedup keeps the first).
 */
export function mergeByOffset(
  offsets: ArrayLike<number>,
  times: ArrayLike<number>,
  values: readonly unknown[],
  keys: readonly (string | null | undefined)[] | undefined,
  traces: readonly (string | null | undefined)[] | undefined,
  rest: readonly MailboxEvent[],
): MailboxEvent[] {
  const events: MailboxEvent[] = [];
  let r = 0;
  for (let i = 0; i < offsets.length; i += 1) {
    const offset = offsets[i] as number;
    while (r < rest.length && (rest[r] as MailboxEvent).offset < offset) {
      events.push(rest[r] as MailboxEvent);
      r += 1;
    }
    const event: MailboxEvent = { offset, timestamp: times[i] as number, value: values[i] };
    const key = keys?.[i];
    if (key !== undefined && key !== null) event.key = key;
    const traceparent = traces?.[i];
    if (traceparent !== undefined && traceparent !== null) event.traceparent = traceparent;
    events.push(event);
  }
  while (r < rest.length) {
    events.push(rest[r] as MailboxEvent);
    r += 1;
  }
  return events;
}
