import {
  ConversionError,
  type CompiledPipeline,
  ExpressionError,
  type Hasher,
  type MailboxEntry,
  type MailboxEvent,
  type Row,
  type RowBuilder,
} from '@sluice/pipeline';
import { DedupState } from '@sluice/pipeline/dedup';
import type { DeadLetter } from '@sluice/redis/scripts';
import { eventTimeMs } from './event-time';

/** Counters an actor owns (`written` belongs to the writer). */
export interface ActorCounters {
  consumed: number;
  filtered: number;
  duplicates: number;
  deadLettered: number;
  outOfOrderDropped: number;
  /** Events of applied entries skipped as already applied (re-read after a rebalance or crash). */
  staleSkipped: number;
}

export function zeroCounters(): ActorCounters {
  return {
    consumed: 0,
    filtered: 0,
    duplicates: 0,
    deadLettered: 0,
    outOfOrderDropped: 0,
    staleSkipped: 0,
  };
}

/** Where an entry ended up, for logs and tests. */
export type EntryOutcome = 'applied' | 'stale' | 'gap' | 'first';

/**
 * The pure part of an actor: applies mailbox entries in stream order to the open batch (rows,
 * dead letters, counters, watermarks, dedup adds). Everything it holds since the last `reset` is
 * pending; the actor writes it in one checkpoint and then calls `reset`. After a failed
 * checkpoint the actor throws the processor away and restores a new one from Redis.
 */
export class EntryProcessor {
  rows: Row[] = [];
  deadLetters: DeadLetter[] = [];
  counters = zeroCounters();
  /** Stream id of the last entry applied (or skipped). */
  cursor: string;
  /** Wall-clock ms of the first change since the last checkpoint; undefined when none. */
  pendingSince: number | undefined;
  readonly dedup: DedupState | undefined;
  private readonly perTopicDedup: boolean;
  private readonly transformColumns: readonly string[];

  constructor(
    private readonly pipeline: CompiledPipeline,
    private readonly rowBuilder: RowBuilder,
    private readonly hasher: Hasher,
    /** `topic/partition` -> first offset not yet applied. */
    readonly next: Map<string, number>,
    cursor: string,
  ) {
    this.cursor = cursor;
    // One bucketed state per actor; with per-topic specs the widest window is used and the key
    // is scoped by topic so topics never deduplicate each other.
    let windowMs = 0;
    for (const source of pipeline.sources.values()) {
      if (source.dedup) windowMs = Math.max(windowMs, source.dedup.windowMs);
    }
    this.dedup = windowMs > 0 ? new DedupState(windowMs) : undefined;
    const dedupSpec = pipeline.definition.dedup;
    this.perTopicDedup = dedupSpec !== undefined && typeof dedupSpec.key !== 'string';
    this.transformColumns = pipeline.columns.map((c) => c.column);
  }

  get hasPending(): boolean {
    return this.pendingSince !== undefined;
  }

  /** Applies one stream entry under the gap rule of docs/architecture.md. */
  apply(streamId: string, entry: MailboxEntry, now: number): EntryOutcome {
    this.cursor = streamId;
    this.pendingSince ??= now;
    const tp = `${entry.topic}/${entry.partition}`;
    const known = this.next.get(tp);
    if (known !== undefined && entry.from > known) {
      this.counters.outOfOrderDropped += 1;
      return 'gap';
    }
    const next = known ?? Number.NEGATIVE_INFINITY;
    let applied = false;
    for (const event of entry.events) {
      if (event.offset < next) {
        this.counters.staleSkipped += 1;
        continue;
      }
      applied = true;
      this.process(entry.topic, entry.partition, event, now);
    }
    this.next.set(tp, Math.max(known ?? 0, entry.to + 1));
    if (known === undefined) return 'first';
    return applied ? 'applied' : 'stale';
  }

  /** A stream entry that does not decode: counted and dead-lettered, so nothing is silent. */
  applyUnreadable(streamId: string, reason: string, now: number): void {
    this.cursor = streamId;
    this.pendingSince ??= now;
    this.counters.consumed += 1;
    this.counters.deadLettered += 1;
    this.deadLetters.push({
      stage: 'parse',
      error: reason,
      topic: '',
      partition: '',
      offset: '',
      message: '',
      at: now,
    });
  }

  /** After a successful checkpoint: the open batch starts empty. */
  reset(): void {
    this.rows = [];
    this.deadLetters = [];
    this.counters = zeroCounters();
    this.pendingSince = undefined;
    this.dedup?.commit();
  }

  private process(topic: string, partition: number, event: MailboxEvent, now: number): void {
    this.counters.consumed += 1;
    const dead = (stage: string, error: string, message?: string) => {
      this.counters.deadLettered += 1;
      this.deadLetters.push({
        stage,
        error,
        topic,
        partition,
        offset: event.offset,
        message: message ?? safeJson(event.value),
        at: now,
      });
    };
    if (event.error !== undefined) return dead('parse', event.error, event.raw ?? '');
    const source = this.pipeline.sources.get(topic);
    if (source === undefined)
      return dead('parse', `topic ${topic} is not a source of this pipeline`);
    const value = event.value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return dead('parse', 'the message is not a JSON object', event.raw ?? safeJson(value));
    }
    const input = value as Record<string, unknown>;

    if (this.pipeline.filter) {
      try {
        if (!this.pipeline.filter.test(input)) {
          this.counters.filtered += 1;
          return;
        }
      } catch (err) {
        return dead('filter', errorText(err));
      }
    }

    let dedupHash: bigint | undefined;
    let dedupTime = 0;
    if (source.dedup && this.dedup) {
      try {
        const key = source.dedup.key.key(input);
        dedupHash = this.hasher.hash64(this.perTopicDedup ? `${topic}\u0000${key}` : key);
        dedupTime = source.eventTime
          ? eventTimeMs(source.eventTime.evaluate(input))
          : event.timestamp;
      } catch (err) {
        return dead('dedup', errorText(err));
      }
      if (this.dedup.isDuplicate(dedupHash, dedupTime)) {
        this.counters.duplicates += 1;
        return;
      }
    }

    let row: Row;
    try {
      const values = this.pipeline.columns.map((c, i) => {
        try {
          return c.expression.evaluate(input);
        } catch (err) {
          throw new ConversionError(this.transformColumns[i] ?? c.column, errorText(err));
        }
      });
      row = this.rowBuilder.build(input, values);
    } catch (err) {
      return dead('transform', errorText(err));
    }
    // Marked seen only once the row exists: a key in the dedup state always has a written row.
    if (dedupHash !== undefined) this.dedup?.add(dedupHash, dedupTime);
    this.rows.push(row);
  }
}

function errorText(err: unknown): string {
  if (err instanceof ExpressionError || err instanceof ConversionError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
