import type { LogEntry } from 'kafkajs';

/**
 * The error kafkajs 2.2.4 logs (namespace ConsumerGroup, fields topic, partition, groupId,
 * memberId) when a fetch answers OFFSET_OUT_OF_RANGE: it then commits the topic's default
 * offset for the group (earliest with fromBeginning, else latest) and fetches from there. The
 * log line is the only trace it leaves: no instrumentation event, no error to the caller.
 */
export const OFFSET_RESET_MESSAGE = 'Offset out of range, resetting to default offset';

/** The topic-partition of a kafkajs offset-reset log entry; undefined for any other entry. */
export function offsetResetOf(entry: LogEntry): { topic: string; partition: number } | undefined {
  const { message, topic, partition } = entry.log as {
    message?: unknown;
    topic?: unknown;
    partition?: unknown;
  };
  if (message !== OFFSET_RESET_MESSAGE || entry.namespace !== 'ConsumerGroup') return undefined;
  if (typeof topic !== 'string' || typeof partition !== 'number') return undefined;
  return { topic, partition };
}

/**
 * One offset reset of a source partition: where the consumer meant to read next, and where it
 * read again. `skipped` counts offsets never read (events, unless the topic is compacted or
 * transactional); 0 when the reset went backwards (the read offset was past the log end).
 */
export interface SourceGap {
  topic: string;
  partition: number;
  /** The offset the consumer would have read next; undefined when it was not known. */
  expected: number | undefined;
  /** The first offset read after the reset; undefined until a batch arrives. */
  resumedAt: number | undefined;
  /** Offsets in [expected, resumedAt) that were never read; undefined while either is. */
  skipped: number | undefined;
  /** How many resets this record stands for (kafkajs may reset again before a batch). */
  resets: number;
  /** When the (first) reset was seen, epoch ms. */
  at: number;
}

const key = (topic: string, partition: number) => `${topic}/${partition}`;

/** The lower of two offsets, an unknown one (undefined) aside. */
const lowest = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.min(a, b);

/**
 * Pairs each offset reset with the first batch read after it. A reset is known the moment
 * kafkajs logs it, with the offset the consumer expected next; the offset it resumed at is
 * only known from the next batch of that partition.
 */
export class OffsetResetTracker {
  private readonly open = new Map<string, SourceGap>();

  /** Partitions reset and not read since. */
  get pending(): number {
    return this.open.size;
  }

  /**
   * Records a reset; a second reset before any batch only adds to the first's count, and to its
   * range: reading resumed after the lower of the two expected offsets.
   */
  reset(topic: string, partition: number, expected: number | undefined, now: number): SourceGap {
    const k = key(topic, partition);
    const found = this.open.get(k);
    if (found) {
      found.resets += 1;
      found.expected = lowest(found.expected, expected);
      return found;
    }
    const gap: SourceGap = {
      topic,
      partition,
      expected,
      resumedAt: undefined,
      skipped: undefined,
      resets: 1,
      at: now,
    };
    this.open.set(k, gap);
    return gap;
  }

  /**
   * A batch of `topic/partition` starting at `firstOffset` (null for a batch that filtering
   * emptied) is about to be read: closes and returns the partition's open reset, if any.
   */
  batch(topic: string, partition: number, firstOffset: number | null): SourceGap | undefined {
    if (this.open.size === 0 || firstOffset === null) return undefined;
    const k = key(topic, partition);
    const gap = this.open.get(k);
    if (!gap) return undefined;
    this.open.delete(k);
    gap.resumedAt = firstOffset;
    if (gap.expected !== undefined) gap.skipped = Math.max(0, firstOffset - gap.expected);
    return gap;
  }

  /**
   * The session that read `topic/partition` ended with only offsets before `next` appended: its
   * buffered rest is dropped, and after a reset nothing reads it again (kafkajs committed over
   * it), so an open reset of the partition counts it as skipped too.
   */
  lower(topic: string, partition: number, next: number): void {
    const gap = this.open.get(key(topic, partition));
    if (gap) gap.expected = lowest(gap.expected, next);
  }

  /** Forgets and returns the open resets of partitions `kept` says no (revoked in a rebalance). */
  revoke(kept: (topic: string, partition: number) => boolean): SourceGap[] {
    const gone: SourceGap[] = [];
    for (const [k, gap] of this.open) {
      if (kept(gap.topic, gap.partition)) continue;
      this.open.delete(k);
      gone.push(gap);
    }
    return gone;
  }

  /** Forgets every open reset (the session that would read them is over), returning them. */
  drain(): SourceGap[] {
    const all = [...this.open.values()];
    this.open.clear();
    return all;
  }
}

/** `topic/partition offsets a..b` text of a gap, for logs and messages. */
export function describeGap(gap: SourceGap): string {
  const where = `${gap.topic}/${gap.partition}`;
  const expected = gap.expected ?? '?';
  if (gap.resumedAt === undefined) return `${where} reset at offset ${expected}, not read since`;
  if (gap.skipped === 0) return `${where} reset from offset ${expected} back to ${gap.resumedAt}`;
  const last = gap.resumedAt - 1;
  const count = gap.skipped === undefined ? 'an unknown number of' : String(gap.skipped);
  return `${where} offsets ${expected}..${last} skipped (${count} offsets never read)`;
}
