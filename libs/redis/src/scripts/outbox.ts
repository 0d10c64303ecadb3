import { pack } from 'msgpackr';

/** A flushed batch as the owner hands it over: rows already converted for JSONEachRow. */
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

/**
 * What is stored under `keys.outboxBatch` (msgpackr `pack`): the rows as JSONEachRow text, one
 * row per line, so the writer sends the stored bytes as the insert body. Packing row objects
 * instead cost an unpack and a per-row JSON encoding in the writer on every batch (profiled).
 * Entries of the earlier shape (`rows` as objects) are still read by the writer.
 */
export interface StoredOutboxBatch extends Omit<OutboxBatch, 'rows'> {
  body: string;
  count: number;
}

export function encodeOutboxBatch(batch: OutboxBatch): Buffer {
  const { rows, ...rest } = batch;
  let body = '';
  for (const row of rows) body += `${JSON.stringify(row)}\n`;
  const stored: StoredOutboxBatch = { ...rest, body, count: rows.length };
  return pack(stored);
}
