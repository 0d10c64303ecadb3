import type { MailboxEvent } from '@sluice/pipeline';
// The module itself, not the package index: compiled re-exports are getters.
import {
  entryBuilder,
  type EntryBuilder,
  releaseEntryBuilder,
} from '@sluice/pipeline/mailbox/entry-builder';
import { ENTRY_FLUSH_BYTES } from '@sluice/pipeline/mailbox/input-rules';
import type { BatchProgress } from './partition-session';

/** When a source partition's buffered Kafka batches are appended to the mailboxes. */
export interface CoalesceLimits {
  /** Append once this many events are buffered. */
  maxEvents: number;
  /** Append once the oldest buffered batch has waited this long; 0 appends every batch at once. */
  lingerMs: number;
  /** Append once the buffered messages hold this many bytes; default ENTRY_FLUSH_BYTES. */
  maxBytes?: number;
}

/**
 * Consecutive Kafka batches of one source partition, grouped by mailbox, not yet appended. The
 * events are copied into entry builders as they are added (see EntryBuilder): nothing of the
 * routed batch is held while the range lingers.
 */
export interface BufferedRange<T> {
  byMailbox: Map<number, EntryBuilder>;
  /** Last offset covered: the last batch's last offset. */
  to: number;
  events: number;
  /** Bytes of the buffered messages (their Kafka values). */
  bytes: number;
  batches: number;
  /** Join pipelines: the progress after the last batch (maxTime over all of them). */
  progress: BatchProgress | undefined;
  /** When the first batch was buffered (epoch ms). */
  since: number;
  /** Per-batch things to finish once the range is appended (consume spans). */
  attached: T[];
}

/** A batch older than what is buffered: the caller lost track of its partition's offsets. */
export class OutOfOrderBatchError extends Error {
  constructor(to: number, buffered: number) {
    super(`batch ending at ${to} does not follow the buffered range ending at ${buffered}`);
    this.name = 'OutOfOrderBatchError';
  }
}

/**
 * Coalesces consecutive Kafka batches of one source partition so that each mailbox gets one
 * entry per flush instead of one per Kafka batch (the mock and live streams deliver small
 * batches). Pure: the consumer owns the timers and the appends.
 *
 * An entry may cover several batches because `to` is the last offset of the range and `from` the
 * session's start; the events of each mailbox stay in offset order. A range that failed to append
 * goes back in front (`putBack`) so nothing later is ever appended before it: an actor that
 * applied a later entry first would move its `next` past the earlier events and skip them.
 */
export class PartitionBuffer<T = never> {
  private range: BufferedRange<T> | undefined;
  /** Nothing taken yet: the first range of a session is due at once (see `due`). */
  private first = true;

  constructor(private readonly limits: CoalesceLimits) {}

  get events(): number {
    return this.range?.events ?? 0;
  }

  get bytes(): number {
    return this.range?.bytes ?? 0;
  }

  /** The last offset buffered; undefined when nothing is. */
  get lastOffset(): number | undefined {
    return this.range?.to;
  }

  get empty(): boolean {
    return this.range === undefined;
  }

  /** Buffers one routed Kafka batch ending at offset `to`, whose messages hold `bytes`. */
  add(
    routed: ReadonlyMap<number, MailboxEvent[]>,
    to: number,
    now: number,
    progress?: BatchProgress,
    attached?: T,
    bytes = 0,
  ): void {
    const range = this.range;
    if (range === undefined) {
      const byMailbox = new Map<number, EntryBuilder>();
      for (const [mailbox, events] of routed) addEvents(byMailbox, mailbox, events);
      this.range = {
        byMailbox,
        to,
        events: countEvents(routed),
        bytes,
        batches: 1,
        progress,
        since: now,
        attached: attached === undefined ? [] : [attached],
      };
      return;
    }
    if (to <= range.to) throw new OutOfOrderBatchError(to, range.to);
    for (const [mailbox, events] of routed) addEvents(range.byMailbox, mailbox, events);
    range.to = to;
    range.events += countEvents(routed);
    range.bytes += bytes;
    range.batches += 1;
    range.progress = mergeProgress(range.progress, progress);
    if (attached !== undefined) range.attached.push(attached);
  }

  /** When the linger runs out; undefined when nothing is buffered. */
  dueAt(): number | undefined {
    const range = this.range;
    if (range === undefined) return undefined;
    return this.first ? range.since : range.since + this.limits.lingerMs;
  }

  /**
   * Due at the size limit or after the linger; the first range of a session at once, so that
   * every actor hears of a (re)assigned partition as soon as before coalescing: join actors take
   * a partition they have not heard from for a while as idle, and must not see the other
   * partitions' progress long before this one's.
   */
  due(now: number): boolean {
    const dueAt = this.dueAt();
    if (dueAt === undefined) return false;
    return this.full || now >= dueAt;
  }

  /** Full: nothing more may be buffered before a flush succeeds (bounds memory and entries). */
  get full(): boolean {
    return (
      this.events >= this.limits.maxEvents ||
      this.bytes >= (this.limits.maxBytes ?? ENTRY_FLUSH_BYTES)
    );
  }

  /** Removes and returns everything buffered. */
  take(): BufferedRange<T> | undefined {
    const range = this.range;
    this.range = undefined;
    if (range !== undefined) this.first = false;
    return range;
  }

  /** Returns a range whose append failed; it precedes whatever was buffered since. */
  putBack(range: BufferedRange<T>): void {
    const later = this.range;
    this.range = range;
    if (later === undefined) return;
    if (later.to <= range.to) throw new OutOfOrderBatchError(later.to, range.to);
    for (const [mailbox, builder] of later.byMailbox) {
      const earlier = range.byMailbox.get(mailbox);
      if (earlier === undefined) range.byMailbox.set(mailbox, builder);
      else {
        earlier.addAll(builder);
        releaseEntryBuilder(builder);
      }
    }
    range.to = later.to;
    range.events += later.events;
    range.bytes += later.bytes;
    range.batches += later.batches;
    range.progress = mergeProgress(range.progress, later.progress);
    range.attached.push(...later.attached);
  }
}

function addEvents(
  byMailbox: Map<number, EntryBuilder>,
  mailbox: number,
  events: readonly MailboxEvent[],
): void {
  let builder = byMailbox.get(mailbox);
  if (builder === undefined) byMailbox.set(mailbox, (builder = entryBuilder()));
  for (const event of events) builder.add(event);
}

/** Once a taken range is appended: its builders go back to the pool. */
export function releaseRange(range: BufferedRange<unknown>): void {
  for (const builder of range.byMailbox.values()) releaseEntryBuilder(builder);
  range.byMailbox.clear();
}

function countEvents(routed: ReadonlyMap<number, readonly MailboxEvent[]>): number {
  let count = 0;
  for (const events of routed.values()) count += events.length;
  return count;
}

/** maxTime only rises; caughtUp is the latest batch's. */
function mergeProgress(
  earlier: BatchProgress | undefined,
  later: BatchProgress | undefined,
): BatchProgress | undefined {
  if (earlier === undefined || later === undefined) return later ?? earlier;
  const maxTime =
    earlier.maxTime === undefined ||
    (later.maxTime !== undefined && later.maxTime > earlier.maxTime)
      ? later.maxTime
      : earlier.maxTime;
  return { maxTime, caughtUp: later.caughtUp };
}
