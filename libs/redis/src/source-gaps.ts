import type { Redis } from 'ioredis';
import { keys } from './keys';

/** Newest source-gap records kept per pipeline in Redis (the totals hash keeps counting). */
export const SOURCE_GAPS_KEPT = 1_000;

/**
 * How input was lost: `offset-reset` when kafkajs jumped over offsets the broker no longer held
 * (the consumer's SourceGapMonitor), `accepted-gap` when an operator accepted a gap in an actor's
 * mailbox (Redis went back in time; `POST /pipelines/:id/partitions/:n/accept-gap`).
 */
export type SourceGapOrigin = 'offset-reset' | 'accepted-gap';

/** One record of the pipeline's source-gaps stream, as the roles and the admin plane write it. */
export interface SourceGapWrite {
  topic: string;
  partition: number;
  /** The offset that was to be read (or applied) next; undefined when it was not known. */
  expected: number | undefined;
  /** The first offset read (or applied) after the gap; undefined while unknown. */
  resumedAt: number | undefined;
  /** Offsets in [expected, resumedAt) never read or applied; undefined while unknown. */
  skipped: number | undefined;
  resets: number;
  /** Epoch ms. */
  at: number;
  origin: SourceGapOrigin;
  /** `accepted-gap`: the pipeline partition (actor) whose mailbox had the gap. */
  pipelinePartition?: number;
}

/**
 * Appends the record (newest SOURCE_GAPS_KEPT kept) and adds it to the pipeline's totals:
 * `resets` and `skippedOffsets` for offset resets; `acceptedGaps` for accepted mailbox gaps, whose
 * ranges are per actor (the same source offsets may be given up by several actors, each for the
 * events routed to it), so they are not added to `skippedOffsets`.
 */
export async function recordSourceGap(
  redis: Redis,
  pipeline: string,
  gap: SourceGapWrite,
): Promise<void> {
  const num = (n: number | undefined) => (n === undefined ? '' : String(n));
  const fields = [
    'topic',
    gap.topic,
    'partition',
    String(gap.partition),
    'expected',
    num(gap.expected),
    'resumedAt',
    num(gap.resumedAt),
    'skipped',
    num(gap.skipped),
    'resets',
    String(gap.resets),
    'at',
    String(gap.at),
    'origin',
    gap.origin,
    'pipelinePartition',
    num(gap.pipelinePartition),
  ];
  const tx = redis
    .multi()
    .xadd(keys.sourceGaps(pipeline), 'MAXLEN', '~', SOURCE_GAPS_KEPT, '*', ...fields);
  const totals = keys.sourceGapTotals(pipeline);
  if (gap.origin === 'accepted-gap') tx.hincrby(totals, 'acceptedGaps', 1);
  else {
    tx.hincrby(totals, 'resets', gap.resets);
    tx.hincrby(totals, 'skippedOffsets', gap.skipped ?? 0);
  }
  await tx.exec();
}
