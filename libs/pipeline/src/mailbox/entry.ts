import { Packr } from 'msgpackr';

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
  error?: string;
  /** Kafka message key as text, when there is one. */
  key?: string;
  /** W3C trace context from the Kafka headers or started at consume time. */
  traceparent?: string;
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
  /** Join pipelines only: the Kafka batch reached the partition's high watermark. */
  caughtUp?: boolean;
  /** Join pipelines only: how many partitions the source topic has. */
  partitions?: number;
}

/** The stream field holding the packed entry. */
export const MAILBOX_FIELD = 'e';

// Records mode stores each object shape once per message, which keeps entries of many
// same-shaped events small; `structuredClone`-like extensions are not needed.
const packr = new Packr({ useRecords: true, moreTypes: false });

export function encodeMailboxEntry(entry: MailboxEntry): Buffer {
  return packr.pack(entry);
}

export function decodeMailboxEntry(data: Buffer): MailboxEntry {
  const entry = packr.unpack(data) as MailboxEntry;
  if (!entry || typeof entry.topic !== 'string' || !Array.isArray(entry.events)) {
    throw new Error('malformed mailbox entry');
  }
  return entry;
}
