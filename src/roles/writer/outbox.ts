import { unpack } from 'msgpackr';
import type { BatchJob } from '@sluice/redis';
import type { OutboxBatch } from '@sluice/redis/scripts';

// The owner encodes the entry (libs/redis/src/scripts/outbox.ts); this is its checked decoder.

/** An outbox entry or a job that does not have the agreed shape: a bug, never retried. */
export class MalformedBatchError extends Error {
  override readonly name = 'MalformedBatchError';
}

export function decodeOutboxBatch(data: Buffer, job: BatchJob): OutboxBatch {
  let value: unknown;
  try {
    value = unpack(data);
  } catch (err) {
    throw new MalformedBatchError(`outbox entry ${job.batchId} is not msgpack: ${String(err)}`);
  }
  const batch = value as Partial<OutboxBatch> | null;
  if (
    batch === null ||
    typeof batch !== 'object' ||
    typeof batch.database !== 'string' ||
    typeof batch.table !== 'string' ||
    !Array.isArray(batch.rows)
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
  return batch as OutboxBatch;
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
