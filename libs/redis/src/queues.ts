import { randomBytes } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { MalformedBatchError } from './outbox';

/*
 * The batch job: how an actor announces a flushed batch and how writers take and retry it. The
 * owner adds jobs and the writer runs them; both take every name and option from here.
 */

/**
 * The BullMQ queue that carries flushed batches from actors to writers. One queue for all
 * pipelines: a writer process serves every pipeline, and a job is only a pointer to the batch's
 * outbox entry. The prefix is a hash tag so BullMQ's keys also work on Redis Cluster.
 */
export const BATCH_QUEUE = 'sluice-batches';
export const BATCH_QUEUE_PREFIX = '{sluice-bull}';
/** The name every batch job is added under. */
export const BATCH_JOB_NAME = 'batch';

/** Job data of BATCH_QUEUE; the job id is the batch id. */
export interface BatchJob {
  pipeline: string;
  partition: number;
  batchId: string;
}

/** Where a batch was flushed: the owner's lease epoch, the actor's run, its checkpoint seq. */
export interface BatchPosition {
  epoch: number;
  /** The actor run (newRunId); absent in ids written before runs existed. */
  run?: number;
  seq: number;
}

/**
 * Batch ids, also the ClickHouse insert tokens: `<pipeline>.<partition>.<epoch>.<run>.<seq>`
 * (run as 8 hex digits; ids stored before runs existed have no run part). Free of ':' which
 * BullMQ refuses in custom job ids.
 *
 * A token must never name two different sets of rows: ClickHouse drops an insert whose token it
 * has seen (within the table's deduplication window) while Sluice counts it written. Epoch and
 * seq alone come back: the epoch counter and the checkpoint seq are deleted with a pipeline (a
 * pipeline recreated under the same id starts at epoch 1, seq 1 again) and go back in time with
 * Redis (a replica promoted after a failover, everysec AOF, a restore from backup). The run is
 * drawn at random each time an actor restores, so ids of a new run differ from every id issued
 * before whatever Redis remembers; a batch already in the outbox keeps the id it was stored
 * under, so its retries stay the same insert.
 */
export function batchId(pipeline: string, partition: number, at: BatchPosition): string {
  return at.run === undefined
    ? `${pipeline}.${partition}.${at.epoch}.${at.seq}`
    : `${pipeline}.${partition}.${at.epoch}.${at.run.toString(16).padStart(8, '0')}.${at.seq}`;
}

/**
 * A new actor run: 32 random bits. Two runs of one (pipeline, partition, epoch) collide with
 * probability 2^-32, and only a collision whose seqs also meet while the earlier token is still in
 * the table's deduplication window could drop a batch; 32 bits also fit the find-my-event index.
 */
export function newRunId(): number {
  return randomBytes(4).readUInt32LE(0);
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

/** First retry of a failed insert waits about this long; each later one doubles it... */
export const RETRY_BASE_MS = 500;
/** ...up to this cap, so a batch is retried at least this often while ClickHouse is away. */
export const RETRY_MAX_MS = 10_000;

/**
 * Delay before retry number `attempt` (1 = the first retry): exponential, capped, with +-20%
 * jitter so the batches of a ClickHouse outage do not all come back in the same instant.
 */
export function retryDelayMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = RETRY_BASE_MS,
  maxMs = RETRY_MAX_MS,
): number {
  // 2^30 overflows nothing and is far past any cap; larger exponents would only risk Infinity.
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const delay = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.round(Math.min(maxMs, delay * (0.8 + 0.4 * random())));
}

/**
 * The backoff type batch jobs name. It must not be one of BullMQ's built-in types ('fixed',
 * 'exponential'): BullMQ consults the worker's `settings.backoffStrategy` only for other names,
 * and the built-in exponential one grows without a cap.
 */
export const BATCH_BACKOFF_TYPE = 'sluice-capped';

/**
 * How a batch job is retried: effectively forever (a job failed for good would leave its batch
 * in the outbox with its id blocking a new announcement), with the capped backoff of
 * BATCH_WORKER_OPTIONS. The writer normally delays retries itself (retryDelayMs) without
 * spending attempts; this backoff applies when it cannot.
 */
export function batchJobOptions(id: string) {
  return {
    jobId: id,
    removeOnComplete: true,
    removeOnFail: false,
    attempts: 1_000_000,
    backoff: { type: BATCH_BACKOFF_TYPE },
  } satisfies JobsOptions;
}

/**
 * Worker options for BATCH_QUEUE. A crashed writer leaves its jobs "stalled"; BullMQ fails a
 * job for good once it stalled more often than maxStalledCount, and a batch must never end up
 * failed while it waits in the outbox, so crashes are allowed practically without limit. A
 * killed writer's batches wait for its lock to expire and the next stalled check: shorter than
 * BullMQ's 30 s + 30 s so a crash delays them by seconds. Two writers running one batch (a lock
 * lost to a long pause) is harmless: the token and the DEL-guarded script absorb it.
 */
export const BATCH_WORKER_OPTIONS = {
  maxStalledCount: 1_000_000,
  lockDuration: 15_000,
  stalledInterval: 5_000,
  settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade) },
};
