import { pack } from 'msgpackr';

/** A flushed batch as stored under `keys.outboxBatch` (msgpackr `pack`); the writer unpacks it. */
export interface OutboxBatch {
  pipeline: string;
  partition: number;
  batchId: string;
  database: string;
  table: string;
  /** Already converted for a JSONEachRow insert. */
  rows: Record<string, unknown>[];
  createdAt: number;
  /** W3C context of the batch span; the writer's insert span continues it. */
  traceparent?: string;
  /** (Kafka timestamp ms, rows) pairs of the rows, for the end-to-end latency histogram. */
  times?: number[];
}

export function encodeOutboxBatch(batch: OutboxBatch): Buffer {
  return pack(batch);
}
