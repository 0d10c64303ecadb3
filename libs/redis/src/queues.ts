/**
 * The BullMQ queue that carries flushed batches from actors to writers. One queue for all
 * pipelines: a writer process serves every pipeline, and a job is only a pointer to the batch's
 * outbox entry. The prefix is a hash tag so BullMQ's keys also work on Redis Cluster.
 */
export const BATCH_QUEUE = 'sluice-batches';
export const BATCH_QUEUE_PREFIX = '{sluice-bull}';

/** Job data of BATCH_QUEUE; the job id is the batch id. */
export interface BatchJob {
  pipeline: string;
  partition: number;
  batchId: string;
}

/**
 * Batch ids: `<pipeline>.<partition>.<epoch>.<seq>`. Unique across owners (the epoch grows on
 * every takeover) and free of ':' which BullMQ refuses in custom job ids.
 */
export function batchId(pipeline: string, partition: number, epoch: number, seq: number): string {
  return `${pipeline}.${partition}.${epoch}.${seq}`;
}
