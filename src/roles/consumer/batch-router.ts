import { isUtf8 } from 'node:buffer';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { sourceEventTime } from '@sluice/pipeline/join';
// The modules themselves, not the package index: compiled re-exports are getters, called per
// message on this path.
import { scanJsonObject, UNSURE, VALID } from '@sluice/pipeline/mailbox/key-scan';
import { DEFAULT_MAX_MESSAGE_BYTES } from '@sluice/pipeline/mailbox/input-rules';
import { parseMessageBytes } from '@sluice/pipeline/mailbox/parse-message';
import { partitionOfPosition } from '@sluice/pipeline/mailbox/routing';
import type { CompiledSource, Hasher, MailboxEvent } from '@sluice/pipeline';

/** What the router needs of a Kafka message (kafkajs's KafkaMessage fits). */
export type RoutableMessage = Pick<KafkaMessage, 'offset' | 'timestamp' | 'value' | 'key'> & {
  headers?: IHeaders;
};

export interface RouteTarget {
  topic: string;
  partition: number;
  /** Pipeline partitions (mailboxes). */
  partitions: number;
  /** The topic's source in the pipeline; its routingKey picks the mailbox. */
  source: CompiledSource | undefined;
  /** Join pipelines read every event's time here (maxEventTime), so they need parsed values. */
  joined?: boolean;
  /** MAX_MESSAGE_BYTES: a larger message is dead-lettered (README "Input rules"). */
  maxMessageBytes?: number;
}

/**
 * How the events of a source travel: unparsed (`json`, routed by a scan of the bytes, see
 * key-scan.ts) when the consumer needs no field but a top-level routing key, else parsed here.
 */
type Unparsed = { field: Uint8Array | undefined } | undefined;

const unparsedBySource = new WeakMap<CompiledSource, Unparsed>();

function unparsedOf(target: RouteTarget): Unparsed {
  const { source } = target;
  if (source === undefined || target.joined) return undefined;
  if (unparsedBySource.has(source)) return unparsedBySource.get(source);
  const path = source.routingKey?.fieldPath;
  const mode: Unparsed =
    source.routingKey === undefined
      ? { field: undefined }
      : path?.length === 1 && path[0] !== undefined
        ? { field: Buffer.from(path[0], 'utf8') }
        : undefined;
  unparsedBySource.set(source, mode);
  return mode;
}

/**
 * Parses a Kafka batch and groups its events by target mailbox. Pure: no I/O, so the routing that
 * exactly-once depends on (a re-read message must reach the same mailbox) is unit-tested alone.
 * Malformed messages keep their text and the reason and are routed by position; they are never
 * dropped, because the actor dead-letters them in its checkpoint.
 */
export function routeBatch(
  messages: readonly RoutableMessage[],
  target: RouteTarget,
  hasher: Hasher,
): Map<number, MailboxEvent[]> {
  const byMailbox = new Map<number, MailboxEvent[]>();
  const unparsed = unparsedOf(target);
  const maxBytes = target.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // One producer send gives its messages one timestamp text: read it once.
  let timestampText = '';
  let timestamp = 0;
  for (const message of messages) {
    const offset = Number(message.offset);
    let event: MailboxEvent | undefined;
    let mailbox = -1;
    const bytes = message.value;
    // The scanner takes any byte from 0x80 up as it is: size and UTF-8 are checked first (it
    // refuses deeper nesting than the input rules allow, which the parse path then reports).
    if (
      unparsed !== undefined &&
      bytes !== null &&
      bytes.length > 0 &&
      bytes.length <= maxBytes &&
      isUtf8(bytes)
    ) {
      const scanned = scanJsonObject(bytes, unparsed.field);
      if (scanned !== UNSURE) {
        if (message.timestamp !== timestampText) {
          timestampText = message.timestamp;
          timestamp = Number(timestampText);
        }
        // All fields in one literal: a property added later costs a property store per event.
        event = { offset, timestamp, json: bytes };
        addKeyAndTrace(event, message);
        // VALID: no routing key, so the position rule of mailboxOf.
        mailbox =
          scanned === VALID
            ? mailboxOf(undefined, offset, target, hasher)
            : hasher.partitionOf(scanned, target.partitions);
      }
    }
    if (event === undefined) {
      // Unsure, or a source whose events the consumer needs parsed: the original way.
      const parsed = parseMessage(message, offset, maxBytes);
      event = parsed.event;
      mailbox = mailboxOf(parsed.value, offset, target, hasher);
    }
    const list = byMailbox.get(mailbox);
    if (list) list.push(event);
    else byMailbox.set(mailbox, [event]);
  }
  return byMailbox;
}

function mailboxOf(
  value: Readonly<Record<string, unknown>> | undefined,
  offset: number,
  target: RouteTarget,
  hasher: Hasher,
): number {
  const routingKey = target.source?.routingKey;
  if (value !== undefined && routingKey !== undefined) {
    try {
      return hasher.partitionOf(routingKey.key(value), target.partitions);
    } catch {
      // A key that cannot be evaluated is the actor's to dead-letter (stage dedup); any mailbox
      // will do as long as a re-read picks the same one.
    }
  }
  return partitionOfPosition(hasher, target.topic, target.partition, offset, target.partitions);
}

function eventOf(message: RoutableMessage, offset: number): MailboxEvent {
  const event: MailboxEvent = { offset, timestamp: Number(message.timestamp) };
  addKeyAndTrace(event, message);
  return event;
}

function addKeyAndTrace(event: MailboxEvent, message: RoutableMessage): void {
  if (message.key !== null && message.key.length > 0) event.key = message.key.toString('utf8');
  const traceparent = headerText(message.headers?.traceparent);
  if (traceparent !== undefined) event.traceparent = traceparent;
}

function parseMessage(
  message: RoutableMessage,
  offset: number,
  maxBytes: number,
): { event: MailboxEvent; value?: Readonly<Record<string, unknown>> } {
  const event = eventOf(message, offset);
  const parsed = parseMessageBytes(message.value, maxBytes);
  if (parsed.value === undefined) {
    const { raw, rawBytes, error } = parsed;
    return { event: rawBytes ? { ...event, rawBytes, error } : { ...event, raw, error } };
  }
  event.value = parsed.value;
  return { event, value: parsed.value };
}

function headerText(header: IHeaders[string]): string | undefined {
  const first = Array.isArray(header) ? header[0] : header;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

/**
 * The highest event time among parsed events (join pipelines stamp it on their entries, see
 * MailboxEntry.maxTime); events whose time cannot be read or is more than `maxFutureMs` ahead of
 * `now` are left out, the actor dead-letters them. Undefined when no event has a time.
 */
export function maxEventTime(
  routed: Iterable<readonly MailboxEvent[]>,
  source: CompiledSource | undefined,
  maxFutureMs: number,
  now = Date.now(),
): number | undefined {
  let max: number | undefined;
  for (const events of routed) {
    for (const event of events) {
      if (event.error !== undefined) continue;
      let time: number;
      try {
        const value = event.value as Record<string, unknown>;
        time = sourceEventTime(source?.eventTime, value, event.timestamp, now, maxFutureMs);
      } catch {
        continue;
      }
      if (Number.isFinite(time) && (max === undefined || time > max)) max = time;
    }
  }
  return max;
}
