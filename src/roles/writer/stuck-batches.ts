import type { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { type BatchJob, clearHold, setHold } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';

/**
 * What the writer adds to a job's data while its batch keeps failing. Kept in the job (Redis),
 * not in this process, so the time a batch has been failing survives writer restarts and counts
 * across the writers that pick it up.
 */
interface FailingJob {
  /** Epoch ms of the first failed attempt. */
  failingSince?: number;
  /** Set once the batch was reported stuck (counted once). */
  stuckSince?: number;
}

/**
 * Reports batches that keep failing to insert: after `stuckAfterMs` of failures a 'stuck' hold
 * on the batch's partition (pipeline status, `/health/ready`, `sluice_partition_held`) and
 * `sluice_insert_stuck_total`. The batch is still retried; the hold goes when a batch of the
 * partition lands (another still failing sets it again at its next attempt).
 */
export class StuckBatches {
  constructor(
    private readonly redis: Redis,
    private readonly stuckAfterMs: number,
    private readonly logger: Logger,
    private readonly telemetry?: Telemetry,
    private readonly now: () => number = Date.now,
  ) {}

  /** One more failed attempt of `job`, failing with `reason`. Never throws. */
  async failed(job: Job<BatchJob>, reason: string): Promise<void> {
    const { pipeline, partition, batchId } = job.data;
    const data = job.data as BatchJob & FailingJob;
    const now = this.now();
    const since = data.failingSince ?? now;
    const stuck = now - since >= this.stuckAfterMs;
    try {
      if (data.failingSince === undefined || (stuck && data.stuckSince === undefined)) {
        const next: BatchJob & FailingJob = { ...data, failingSince: since };
        if (stuck) next.stuckSince = now;
        await job.updateData(next);
      }
      if (!stuck) return;
      if (data.stuckSince === undefined) {
        this.telemetry?.metrics.insertStuck.inc({ pipeline, partition: String(partition) });
        this.logger.error(
          `batch ${batchId}: failing to insert for ${Math.round((now - since) / 1000)} s, reported stuck (still retried): ${reason}`,
        );
      }
      await setHold(this.redis, pipeline, {
        reason: 'stuck',
        partition,
        detail: `batch ${batchId} has failed to insert since ${new Date(since).toISOString()} (still retried): ${reason}`,
        since,
      });
    } catch (err) {
      // Redis is away too: the next attempt reports it.
      this.logger.warn(`batch ${batchId}: could not record the failure: ${String(err)}`);
    }
  }

  /** The batch landed or was settled: its partition is no longer stuck because of it. */
  async settled(job: Job<BatchJob>): Promise<void> {
    const data = job.data as BatchJob & FailingJob;
    if (data.failingSince === undefined) return;
    try {
      await clearHold(this.redis, data.pipeline, 'stuck', data.partition);
    } catch (err) {
      this.logger.warn(`batch ${data.batchId}: could not clear the stuck hold: ${String(err)}`);
    }
  }
}
