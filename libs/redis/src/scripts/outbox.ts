import { pack } from 'msgpackr';

interface OutboxMeta {
  pipeline: string;
  partition: number;
  batchId: string;
  database: string;
  table: string;
  createdAt: number;
  /** W3C context of the batch span; the writer's insert span continues it. */
  traceparent?: string;
  /** (Kafka timestamp ms, rows) pairs of the rows, for the end-to-end latency histogram. */
  times?: number[];
}

/**
 * A flushed batch as the owner hands it over: rows already converted for JSONEachRow, either as
 * objects or already as JSONEachRow text (one row per line) and its row count.
 */
export type OutboxBatch = OutboxMeta &
  ({ rows: Record<string, unknown>[] } | { body: Uint8Array; count: number });

/**
 * What is stored under `keys.outboxBatch` (msgpackr `pack`): the rows as JSONEachRow text, one
 * row per line, so the writer sends the stored bytes as the insert body (binary, so it needs no
 * UTF-8 decoding and encoding again on the way). Packing row objects
 * instead cost an unpack and a per-row JSON encoding in the writer on every batch (profiled).
 * Entries of the earlier shape (`rows` as objects) are still read by the writer.
 */
export interface StoredOutboxBatch extends OutboxMeta {
  /** A string, or (since the owner encodes rows as they are built) the UTF-8 bytes as binary. */
  body: string | Uint8Array;
  count: number;
}

export function encodeOutboxBatch(batch: OutboxBatch): Buffer {
  if ('body' in batch) return pack(batch satisfies StoredOutboxBatch);
  const { rows, ...rest } = batch;
  let body = '';
  for (const row of rows) body += `${JSON.stringify(row)}\n`;
  const stored: StoredOutboxBatch = { ...rest, body, count: rows.length };
  return pack(stored);
}
