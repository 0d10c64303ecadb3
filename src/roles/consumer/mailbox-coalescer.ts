import type { Redis } from 'ioredis';
import type { MailboxEvent, UnparsedEntryVersion } from '@sluice/pipeline';
import type { ReplicaSync } from '@sluice/redis';
import { appendToMailboxes, type MailboxAppend } from './mailbox-appender';
import {
  type BufferedRange,
  type CoalesceLimits,
  PartitionBuffer,
  releaseRange,
} from './partition-buffer';
import type { BatchProgress, JoinMarks, PartitionSession } from './partition-session';

/** Consume spans of one batch: ended once its events are in the mailboxes. */
export interface AppendSpans {
  end(): void;
  fail(err: unknown): void;
}

export interface FlushResult {
  state: PartitionSession;
  /** Longest mailbox length seen by the append. */
  longest: number;
  entries: number;
  batches: number;
}

export interface MailboxCoalescerOptions {
  redis: Redis;
  /** REDIS_MIN_REPLICAS: a range counts as appended (and may be committed) once replicated. */
  sync?: ReplicaSync | undefined;
  pipelineId: string;
  generation: number;
  limits: CoalesceLimits;
  entryVersion: UnparsedEntryVersion;
  /** Join and dedup pipelines: the marks to stamp on entries ending with this progress. */
  marks: (state: PartitionSession, progress: BatchProgress) => JoinMarks;
  /** After every successful append (backpressure, counters). */
  flushed: (result: FlushResult) => void;
  /** A linger-timer flush failed; the range stays buffered and is tried again. */
  failed: (state: PartitionSession, err: unknown) => void;
  /** Every failed append, whoever awaited it (sluice_mailbox_append_failures_total). */
  appendFailed?: () => void;
}

const RETRY_MS = 500;

interface Slot {
  buffer: PartitionBuffer<AppendSpans>;
  /** The running or last flush; never rejects. */
  chain: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * The buffers of one consumer group session: per source partition, Kafka batches wait here until
 * the linger or the size limit is reached, then one entry per target mailbox is appended. Flushes
 * of one partition run one at a time and in offset order. Nothing is committed from here: the
 * session's commit only covers what a flush appended (PartitionSession.appended), so whatever is
 * still buffered when the session ends is read again by the next one.
 */
export class MailboxCoalescer {
  private readonly slots = new Map<PartitionSession, Slot>();
  private closed = false;

  constructor(private readonly options: MailboxCoalescerOptions) {}

  /** Resolves once no flush of the partition is running (whatever its outcome). */
  settled(state: PartitionSession): Promise<void> {
    return this.slot(state).chain;
  }

  full(state: PartitionSession): boolean {
    return this.slot(state).buffer.full;
  }

  /** The last offset buffered and not yet appended, if any. */
  bufferedTo(state: PartitionSession): number | undefined {
    return this.slot(state).buffer.lastOffset;
  }

  due(state: PartitionSession, now: number): boolean {
    return this.slot(state).buffer.due(now);
  }

  add(
    state: PartitionSession,
    routed: ReadonlyMap<number, MailboxEvent[]>,
    to: number,
    now: number,
    progress: BatchProgress | undefined,
    spans: AppendSpans | undefined,
    bytes = 0,
  ): void {
    const slot = this.slot(state);
    slot.buffer.add(routed, to, now, progress, spans, bytes);
    this.schedule(state, slot);
  }

  /** Appends what the partition has buffered; rejects (keeping the data) when the append fails. */
  flush(state: PartitionSession): Promise<void> {
    const slot = this.slot(state);
    const result = slot.chain.then(() => this.append(state, slot));
    slot.chain = result.catch(() => undefined);
    return result;
  }

  /** Stops the timers; buffered data is dropped (it was never committed). Safe twice. */
  close(): void {
    this.closed = true;
    for (const slot of this.slots.values()) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    this.slots.clear();
  }

  private slot(state: PartitionSession): Slot {
    let slot = this.slots.get(state);
    if (slot === undefined) {
      slot = {
        buffer: new PartitionBuffer(this.options.limits),
        chain: Promise.resolve(),
        timer: undefined,
      };
      this.slots.set(state, slot);
    }
    return slot;
  }

  private schedule(state: PartitionSession, slot: Slot, notBefore = 0): void {
    const due = slot.buffer.dueAt();
    if (this.closed || slot.timer !== undefined || due === undefined) return;
    const dueAt = Math.max(due, notBefore);
    slot.timer = setTimeout(
      () => {
        slot.timer = undefined;
        this.flush(state).catch((err: unknown) => this.options.failed(state, err));
      },
      Math.max(0, dueAt - Date.now()),
    );
  }

  private async append(state: PartitionSession, slot: Slot): Promise<void> {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = undefined;
    const range = slot.buffer.take();
    if (range === undefined) return;
    try {
      const appends = this.entries(state, range);
      const { sync } = this.options;
      const since = sync?.session ?? 0;
      const longest = await appendToMailboxes(this.options.redis, this.options.pipelineId, appends);
      // Until replicated, the range is not appended: its offsets must not be committed. The
      // partition's later flushes wait behind this one (and kafkajs behind them: backpressure).
      // Waiting again is enough while the connection lasts; after a reconnect the range is
      // appended again (duplicates are harmless: actors skip what they applied).
      await sync?.confirm(since, () => !this.closed);
      for (const spans of range.attached) spans.end();
      state.appended(range.byMailbox.keys(), range.to, range.progress);
      releaseRange(range);
      this.options.flushed({ state, longest, entries: appends.length, batches: range.batches });
    } catch (err) {
      this.options.appendFailed?.();
      for (const spans of range.attached) spans.fail(err);
      range.attached = [];
      slot.buffer.putBack(range);
      // Retried after a pause (not in a tight loop while Redis is down), or sooner by the next
      // batch of the partition.
      this.schedule(state, slot, Date.now() + RETRY_MS);
      throw err;
    }
  }

  private entries(state: PartitionSession, range: BufferedRange<AppendSpans>): MailboxAppend[] {
    const { topic, partition, from } = state;
    const marks = range.progress && this.options.marks(state, range.progress);
    const appends: MailboxAppend[] = [];
    const head = { topic, partition, generation: this.options.generation, from, to: range.to };
    const entry = { ...head, ...marks };
    for (const [mailbox, builder] of range.byMailbox) {
      // Parts of one mailbox follow each other in the append's pipeline, so in its stream.
      for (const part of builder.encodeParts(entry, this.options.entryVersion)) {
        appends.push({ mailbox, entry: part });
      }
    }
    return appends;
  }
}
