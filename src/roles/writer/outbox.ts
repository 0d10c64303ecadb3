import { unpack } from 'msgpackr';
import type { BatchJob } from '@sluice/redis';
import type { StoredOutboxBatch } from '@sluice/redis/scripts';

// The owner encodes the entry (libs/redis/src/scripts/outbox.ts); this is its checked decoder.

/** An outbox entry or a job that does not have the agreed shape: a bug, never retried. */
export class MalformedBatchError extends Error {
  override readonly name = 'MalformedBatchError';
}

/** A stored batch: its rows as JSONEachRow text (the insert body) and their count. */
export interface DecodedBatch {
  batchId?: string;
  database: string;
  table: string;
  /** UTF-8 bytes as the owner stores them now, a string in entries of earlier versions. */
  body: string | Buffer;
  count: number;
  /** W3C context of the owner's batch span, when the batch was traced. */
  traceparent?: string;
  /** (Kafka timestamp ms, rows) pairs, for the end-to-end latency histogram. */
  times?: number[];
}

/** The rows of a batch as objects; only dead-lettering needs them. */
export function batchRows(batch: DecodedBatch): Record<string, unknown>[] {
  return batch.body
    .toString()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function decodeOutboxBatch(data: Buffer, job: BatchJob): DecodedBatch {
  let value: unknown;
  try {
    value = unpack(data);
  } catch (err) {
    throw new MalformedBatchError(`outbox entry ${job.batchId} is not msgpack: ${String(err)}`);
  }
  const batch = value as (Partial<StoredOutboxBatch> & { rows?: Record<string, unknown>[] }) | null;
  if (
    batch === null ||
    typeof batch !== 'object' ||
    typeof batch.database !== 'string' ||
    typeof batch.table !== 'string' ||
    !(Array.isArray(batch.rows) || (isBody(batch.body) && typeof batch.count === 'number'))
  ) {
    throw new MalformedBatchError(
      `outbox entry ${job.batchId} lacks database, table or rows (keys: ${
        batch !== null && typeof batch === 'object' ? Object.keys(batch).join(',') : typeof batch
      })`,
    );
  }
  // The entry is found by the job's coordinates; a mismatching id would mean keys were mixed up.
  if (batch.batchId !== undefined && batch.batchId !== job.batchId) {
    throw new MalformedBatchError(`outbox entry ${job.batchId} holds batch ${batch.batchId}`);
  }
  const { database, table, batchId } = batch;
  const traceparent = typeof batch.traceparent === 'string' ? batch.traceparent : undefined;
  const times = Array.isArray(batch.times) ? batch.times : undefined;
  if (isBody(batch.body) && typeof batch.count === 'number') {
    // msgpackr hands binary out as a view of `data`: no copy of the rows.
    const body = typeof batch.body === 'string' ? batch.body : asBuffer(batch.body);
    return { batchId, database, table, body, count: batch.count, traceparent, times };
  }
  // An entry written before the outbox held JSONEachRow text.
  const rows = batch.rows ?? [];
  const body = rows.map((row) => `${JSON.stringify(row)}\n`).join('');
  return { batchId, database, table, body, count: rows.length, traceparent, times };
}

/** Job data is checked because a job is only a pointer: a wrong one must not touch other keys. */
export function checkBatchJob(data: unknown): BatchJob {
  const job = data as Partial<BatchJob> | null;
  if (
    job === null ||
    typeof job !== 'object' ||
    typeof job.pipeline !== 'string' ||
    typeof job.batchId !== 'string' ||
    typeof job.partition !== 'number' ||
    !Number.isInteger(job.partition)
  ) {
    throw new MalformedBatchError(`job data is not a BatchJob: ${JSON.stringify(data)}`);
  }
  return { pipeline: job.pipeline, partition: job.partition, batchId: job.batchId };
}

function isBody(body: unknown): body is string | Uint8Array {
  return typeof body === 'string' || body instanceof Uint8Array;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
