import { Packr } from 'msgpackr';
import { carriable } from './carriable';
import { decodeV3, encodeV3, mergeByOffset, V3_MAGIC } from './entry-v3';

/**
 * One Kafka message as the consumer hands it to an actor. `value` is the parsed JSON; a message
 * that failed to parse keeps its text in `raw` and the reason in `error`, and still travels
 * through the actor, so that its dead-letter entry is written exactly once, in the checkpoint.
 */
export interface MailboxEvent {
  offset: number;
  /** Kafka message timestamp, epoch ms. */
  timestamp: number;
  value?: unknown;
  raw?: string;
  /** The original bytes of a malformed message that is not valid UTF-8 (`raw` would alter them):
   * its dead letter keeps them byte for byte. */
  rawBytes?: Uint8Array;
  error?: string;
  /** Kafka message key as text, when there is one. */
  key?: string;
  /** W3C trace context from the Kafka headers or started at consume time. */
  traceparent?: string;
  /**
   * Consumer side only: the message's bytes, already known to be one well-formed JSON object
   * (key-scan.ts), in place of `value`. The entry carries them unparsed and the decoder parses
   * them, so the message is parsed once, in the actor; decoded events have `value` instead.
   */
  json?: Uint8Array;
}

/**
 * One mailbox stream entry: the events of one Kafka batch of one source topic-partition bound
 * for one pipeline partition. `from`/`to` make out-of-order appends safe (docs/architecture.md):
 * `from` is the offset at which the appending consumer's session on this topic-partition started,
 * `to` the last offset of the Kafka batch; the actor applies the entry only when `from` does not
 * leave a gap after what it has applied.
 */
export interface MailboxEntry {
  topic: string;
  partition: number;
  /** Kafka consumer group generation of the appending consumer. */
  generation: number;
  from: number;
  to: number;
  events: MailboxEvent[];
  /** Join pipelines only (optional, so older entries still decode): the highest event time the
   * appending consumer session has read from this topic-partition up to `to`, over every event
   * whichever mailbox it went to. It lets every actor see each source partition's progress. */
  maxTime?: number;
  /** Join and dedup pipelines: what the appending session read reaches the partition's log end
   * offset (the batch's high watermark, or the log end fetched at a marks heartbeat). */
  caughtUp?: boolean;
  /** Join and dedup pipelines: how many partitions the source topic has. */
  partitions?: number;
}

/** The stream field holding the packed entry. */
export const MAILBOX_FIELD = 'e';
/**
 * The field of a stream entry that holds several packed entries (of different source partitions,
 * or consecutive ones of one), one such field per entry, applied in field order. A different
 * name than MAILBOX_FIELD so that an owner that reads only one entry per stream entry finds none
 * and dead-letters it visibly instead of applying the first and skipping the rest.
 */
export const MAILBOX_PARTS_FIELD = 'm';

// Records mode stores each object shape once per message, which keeps entries of many
// same-shaped events small; `structuredClone`-like extensions are not needed.
const packr = new Packr({ useRecords: true, moreTypes: false });

/**
 * Version 2 (version 3 replaced it; written only when asked, during an upgrade from owners that
 * do not read version 3): the JSON events' texts as one JSON array with their offsets,
 * timestamps, keys and trace contexts as msgpack columns, the other events as version-1 events in
 * `rest`. It has no `events` field, so an older actor refused it visibly.
 */
interface WireEntryV2 extends Omit<MailboxEntry, 'events'> {
  v: 2;
  json: Uint8Array;
  offsets: number[];
  timestamps: number[];
  /** Present when any of the JSON events has one; null for those without. */
  keys?: (string | null)[];
  traces?: (string | null)[];
  rest: MailboxEvent[];
}

/** The versions a consumer may write for unparsed events (MAILBOX_ENTRY_VERSION). */
export type UnparsedEntryVersion = 2 | 3;

/**
 * Version 1 (msgpack records) when no event carries its JSON unparsed (join sources, or nothing
 * the key scan was sure of, or no event at all); otherwise `version` (entry-v3.ts by default).
 */
export function encodeMailboxEntry(entry: MailboxEntry, version: UnparsedEntryVersion = 3): Buffer {
  let bytes = 0;
  let texts = 0;
  for (const event of entry.events) {
    if (event.json === undefined) continue;
    bytes += event.json.length;
    texts += 1;
  }
  if (texts === 0) {
    try {
      return packr.pack(entry);
    } catch {
      return packr.pack({ ...entry, events: carriable(packr, entry.events) });
    }
  }
  return version === 3 && fitsV3(entry) ? encodeV3(entry, texts, bytes) : encodeV2(entry);
}

/** Version 3's fixed-width header fields; anything else (never seen from Kafka) goes as v2. */
export function fitsV3({
  generation,
  partition,
  partitions,
  topic,
}: Omit<MailboxEntry, 'events'>): boolean {
  return (
    generation === (generation | 0) &&
    partition === partition >>> 0 &&
    (partitions === undefined || partitions === partitions >>> 0) &&
    topic.length <= 0x3fff
  );
}

const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;

function encodeV2(entry: MailboxEntry): Buffer {
  const { events, ...head } = entry;
  let length = 1;
  for (const event of events) if (event.json !== undefined) length += event.json.length + 1;
  // Filled in place (`[`, texts, commas, `]`): one copy per message, no chunk list to concat.
  const json = Buffer.allocUnsafe(length);
  json[0] = OPEN;
  let at = 1;
  const offsets: number[] = [];
  const timestamps: number[] = [];
  const keys: (string | null)[] = [];
  const traces: (string | null)[] = [];
  let keyed = false;
  let traced = false;
  const rest: MailboxEvent[] = [];
  for (const event of events) {
    const text = event.json;
    if (text === undefined) {
      rest.push(event);
      continue;
    }
    if (offsets.length > 0) json[at++] = COMMA;
    json.set(text, at);
    at += text.length;
    offsets.push(event.offset);
    timestamps.push(event.timestamp);
    keys.push(event.key ?? null);
    traces.push(event.traceparent ?? null);
    keyed ||= event.key !== undefined;
    traced ||= event.traceparent !== undefined;
  }
  json[at++] = CLOSE;
  const wire: WireEntryV2 = {
    ...head,
    v: 2,
    json: json.subarray(0, at),
    offsets,
    timestamps,
    ...(keyed && { keys }),
    ...(traced && { traces }),
    rest,
  };
  try {
    return packr.pack(wire);
  } catch {
    return packr.pack({ ...wire, rest: carriable(packr, rest) });
  }
}

export function decodeMailboxEntry(data: Buffer): MailboxEntry {
  if (data[0] === V3_MAGIC) {
    if (data[1] !== 3) throw new Error(`mailbox entry version ${String(data[1])} is not supported`);
    return decodeV3(data);
  }
  const wire = packr.unpack(data) as (MailboxEntry & { v?: undefined }) | WireEntryV2 | undefined;
  if (!wire || typeof wire.topic !== 'string') throw new Error('malformed mailbox entry');
  if (wire.v === undefined) {
    if (!Array.isArray(wire.events)) throw new Error('malformed mailbox entry');
    return wire;
  }
  const version: unknown = wire.v;
  if (version !== 2) throw new Error(`mailbox entry version ${String(version)} is not supported`);
  return decodeV2(wire);
}

function decodeV2(wire: WireEntryV2): MailboxEntry {
  const { v, json, offsets, timestamps, keys, traces, rest, ...head } = wire;
  const text = Buffer.from(json.buffer, json.byteOffset, json.length).toString('utf8');
  const values = JSON.parse(text) as unknown;
  if (
    !Array.isArray(values) ||
    values.length !== offsets.length ||
    timestamps.length !== offsets.length ||
    !Array.isArray(rest)
  ) {
    throw new Error(`malformed mailbox entry (version ${v})`);
  }
  const events = mergeByOffset(offsets, timestamps, values, keys, traces, rest);
  return { ...head, events };
}
