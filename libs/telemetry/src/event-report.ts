import type { IndexRecord } from './event-index';

/** One known outcome of a key, as the REST API reports it. */
export interface EventOutcomeReport {
  stage: 'written' | 'pending' | 'filtered' | 'duplicate' | 'dead-lettered';
  reason?: string;
  deadLetterStage?: string;
  batchId?: string;
  traceId?: string;
  sampled?: boolean;
  at: string;
  partition: number;
}

export interface FoundRecord {
  partition: number;
  record: IndexRecord;
}

/**
 * Turns the records found for a key into reports, newest first. A `written` record whose batch
 * is still in the outbox is `pending` (committed by the actor, not yet acknowledged by
 * ClickHouse); a duplicate names the batch of the first event when that is known.
 */
export function reportOutcomes(
  found: readonly FoundRecord[],
  batchIdOf: (partition: number, record: IndexRecord) => string,
  pending: ReadonlySet<string>,
): EventOutcomeReport[] {
  const sorted = [...found].sort((a, b) => b.record.at - a.record.at || rank(b) - rank(a));
  const firstWritten = sorted.find((f) => f.record.stage === 'written');
  return sorted.map(({ partition, record }) => {
    const report: EventOutcomeReport = {
      stage: record.stage,
      at: new Date(record.at).toISOString(),
      partition,
    };
    if (record.traceId !== undefined) {
      report.traceId = record.traceId;
      report.sampled = record.sampled ?? false;
    }
    switch (record.stage) {
      case 'written': {
        const id = batchIdOf(partition, record);
        report.batchId = id;
        if (pending.has(id)) report.stage = 'pending';
        break;
      }
      case 'filtered':
        report.reason = 'the filter expression was false';
        break;
      case 'duplicate': {
        const first = firstWritten && batchIdOf(firstWritten.partition, firstWritten.record);
        report.reason = first
          ? `duplicate: its key was written in batch ${first} within the dedup window`
          : 'duplicate: its key was seen within the dedup window';
        break;
      }
      case 'dead-lettered':
        report.deadLetterStage = record.deadLetterStage;
        report.reason = `${record.deadLetterStage ?? 'unknown'}: ${record.reason ?? ''}`.trim();
        break;
    }
    return report;
  });
}

// A duplicate is processed after the event it repeats: at equal seconds it is the newer one.
function rank(f: FoundRecord): number {
  return f.record.stage === 'duplicate' ? 1 : 0;
}
