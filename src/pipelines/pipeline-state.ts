import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { keys, streamEntryTime } from '@sluice/redis';
import { REDIS } from '../infra/tokens';

/** Counters every pipeline reports. */
export const COUNTER_NAMES = [
  'consumed',
  'filtered',
  'duplicates',
  'written',
  'deadLettered',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type PipelineCounters = Record<CounterName, number>;

export interface CounterSums {
  counters: PipelineCounters;
  /** Any other counter the roles keep (e.g. outOfOrderDropped), summed the same way. */
  other: Record<string, number>;
}

/** One source offset reset as the consumer recorded it (see SourceGapMonitor). */
export interface SourceGapRecord {
  id: string;
  topic: string;
  partition: number;
  /** The offset the consumer was to read next; null when it was not known. */
  expected: number | null;
  /** The first offset read after the reset; null when nothing was read before the consumer
   * stopped. */
  resumedAt: number | null;
  /** Offsets never read (resumedAt - expected); 0 for a reset backwards; null when unknown. */
  skipped: number | null;
  resets: number;
  at: string;
  /** `offset-reset` (kafkajs jumped over offsets) or `accepted-gap` (an operator accepted a gap
   * in a mailbox; `pipelinePartition` names the actor). */
  origin: string;
  pipelinePartition: number | null;
}

export interface SourceGapSummary {
  resets: number;
  skippedOffsets: number;
  /** Mailbox gaps accepted by an operator (their ranges are per actor, not in skippedOffsets). */
  acceptedGaps: number;
  /** Newest first. */
  recent: SourceGapRecord[];
}

const SCAN_COUNT = 1_000;

/**
 * The per-partition data of a pipeline in Redis as the admin API sees it: summed counters, the
 * dead letters, and removal of everything a deleted pipeline left behind. Each call is one
 * pipelined round trip per step, whatever the number of partitions.
 */
@Injectable()
export class PipelineState {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async counters(id: string, partitions: number): Promise<CounterSums> {
    const pipeline = this.redis.pipeline();
    for (let p = 0; p < partitions; p++) pipeline.hgetall(keys.counters(id, p));
    const results = (await pipeline.exec()) ?? [];
    const counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as PipelineCounters;
    const other: Record<string, number> = {};
    for (const [err, value] of results) {
      if (err) throw err;
      for (const [name, text] of Object.entries((value ?? {}) as Record<string, string>)) {
        const n = Number(text);
        if (!Number.isFinite(n)) continue;
        if (isCounterName(name)) counters[name] += n;
        else other[name] = (other[name] ?? 0) + n;
      }
    }
    return { counters, other };
  }

  /** Totals of the source offset resets recorded for the pipeline and the newest `limit`. */
  async sourceGaps(id: string, limit: number): Promise<SourceGapSummary> {
    const [totals, entries] = await Promise.all([
      this.redis.hgetall(keys.sourceGapTotals(id)),
      this.redis.xrevrange(keys.sourceGaps(id), '+', '-', 'COUNT', limit),
    ]);
    return {
      resets: Number(totals.resets ?? 0),
      skippedOffsets: Number(totals.skippedOffsets ?? 0),
      acceptedGaps: Number(totals.acceptedGaps ?? 0),
      recent: entries.map(([entryId, flat]) => toSourceGap(entryId, flat)),
    };
  }

  /**
   * Deletes every key of the pipeline's partitions (mailbox, checkpoint, lease, epoch, dedup
   * buckets and index, outbox, counters, dead letters) and pipeline-wide keys. SCAN rather than
   * a list of known names so that keys added later, and dedup buckets whose index entry is
   * gone, are removed too. Returns how many keys were removed.
   */
  async purge(id: string): Promise<number> {
    return this.unlinkMatching([`{sl:${id}:*`, `{sl:${id}}*`], () => true);
  }

  /**
   * A reset's drop (README "Editing a pipeline"): every per-partition key of the pipeline
   * (mailboxes, checkpoints, leases, dedup and join state, forget lists, the outbox, event
   * index) except its dead letters, its counters (totals, not state) and its fencing epochs
   * (an epoch must never go back). Pipeline-wide keys (holds, source gaps) stay.
   */
  async purgeForReset(id: string): Promise<number> {
    const kept = /^\{sl:[^}]*\}:(dlq|counters|epoch)$/;
    return this.unlinkMatching([`{sl:${id}:*`], (key) => !kept.test(key));
  }

  private async unlinkMatching(
    patterns: readonly string[],
    wanted: (key: string) => boolean,
  ): Promise<number> {
    let removed = 0;
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, all] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        cursor = next;
        const found = all.filter(wanted);
        if (found.length === 0) continue;
        // One key per command: keys of different partitions live in different cluster slots.
        const pipeline = this.redis.pipeline();
        for (const key of found) pipeline.unlink(key);
        for (const [err, n] of (await pipeline.exec()) ?? []) {
          if (err) throw err;
          removed += Number(n);
        }
      } while (cursor !== '0');
    }
    return removed;
  }
}

function isCounterName(name: string): name is CounterName {
  return (COUNTER_NAMES as readonly string[]).includes(name);
}

function fieldsOf(flat: string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  return fields;
}

function toSourceGap(id: string, flat: string[]): SourceGapRecord {
  const fields = fieldsOf(flat);
  const num = (name: string): number | null => {
    const text = fields.get(name) ?? '';
    return text === '' || !Number.isFinite(Number(text)) ? null : Number(text);
  };
  return {
    id,
    topic: fields.get('topic') ?? '',
    partition: num('partition') ?? -1,
    expected: num('expected'),
    resumedAt: num('resumedAt'),
    skipped: num('skipped'),
    resets: num('resets') ?? 1,
    at: streamEntryTime(fields.get('at'), id),
    origin: fields.get('origin') || 'offset-reset',
    pipelinePartition: num('pipelinePartition'),
  };
}
