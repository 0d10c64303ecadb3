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
  /**
   * Linger flushes take every idle partition's range along, and the entries bound for one
   * mailbox go into stream entries of up to this many bytes (mergeAppends); 0: one partition per
   * flush and one stream entry per entry (version-2 rollouts: older owners read one per entry).
   */
  mergeBytes?: number;
}

const RETRY_MS = 500;

interface Slot {
  buffer: PartitionBuffer<AppendSpans>;
  /** The running or last flush; never rejects. */
  chain: Promise<void>;
  timer: NodeJS.Timeout | undefined;
  /** Flushes chained and not yet finished: a linger flush takes only idle partitions along. */
  running: number;
}

interface Taken {
  state: PartitionSession;
  slot: Slot;
  range: BufferedRange<AppendSpans>;
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
    return this.flushGroup([[state, this.slot(state)]]);
  }

  /**
   * The partition's linger ran out: appends its range together with those of every other
   * partition that has something buffered and no flush running (their lingers would run out
   * within one linger anyway), so that each mailbox gets one stream entry for all of them instead
   * of one per source partition. A full range (a backlog) goes alone, as `flush`.
   */
  flushDue(state: PartitionSession): Promise<void> {
    const slot = this.slot(state);
    if (!this.options.mergeBytes || slot.buffer.full) return this.flush(state);
    const group: [PartitionSession, Slot][] = [[state, slot]];
    for (const [other, s] of this.slots) {
      if (other !== state && s.running === 0 && !s.buffer.empty) group.push([other, s]);
    }
    return this.flushGroup(group);
  }

  /** Chains one append of the group's ranges behind each partition's running flush. */
  private flushGroup(group: [PartitionSession, Slot][]): Promise<void> {
    const slots = group.map(([, s]) => s);
    const result = Promise.all(slots.map((s) => s.chain)).then(() => this.append(group));
    const settled = result.catch(() => undefined);
    for (const s of slots) {
      s.running += 1;
      s.chain = settled.then(() => {
        s.running -= 1;
      });
    }
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
        running: 0,
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
        this.flushDue(state).catch((err: unknown) => this.options.failed(state, err));
      },
      Math.max(0, dueAt - Date.now()),
    );
  }

  private async append(group: [PartitionSession, Slot][]): Promise<void> {
    const taken: Taken[] = [];
    for (const [state, slot] of group) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = undefined;
      const range = slot.buffer.take();
      if (range !== undefined) taken.push({ state, slot, range });
    }
    if (taken.length === 0) return;
    try {
      const perRange = taken.map((t) => this.entries(t.state, t.range));
      const { sync, redis, pipelineId, mergeBytes } = this.options;
      const since = sync?.session ?? 0;
      const longest = await appendToMailboxes(redis, pipelineId, perRange.flat(), mergeBytes);
      // Until replicated, the range is not appended: its offsets must not be committed. The
      // partition's later flushes wait behind this one (and kafkajs behind them: backpressure).
      // Waiting again is enough while the connection lasts; after a reconnect the range is
      // appended again (duplicates are harmless: actors skip what they applied).
      await sync?.confirm(since, () => !this.closed);
      taken.forEach(({ state, range }, i) => {
        for (const spans of range.attached) spans.end();
        state.appended(range.byMailbox.keys(), range.to, range.progress);
        releaseRange(range);
        const entries = perRange[i]?.length ?? 0;
        this.options.flushed({ state, longest, entries, batches: range.batches });
      });
    } catch (err) {
      this.options.appendFailed?.();
      for (const { state, slot, range } of taken) {
        for (const spans of range.attached) spans.fail(err);
        range.attached = [];
        slot.buffer.putBack(range);
        // Retried after a pause (not in a tight loop while Redis is down), or sooner by the next
        // batch of the partition.
        this.schedule(state, slot, Date.now() + RETRY_MS);
      }
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
