import { ClickHouseError } from '@clickhouse/client';
import { Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import { isRetryable } from '@sluice/clickhouse';
import type { CompiledPipeline } from '@sluice/pipeline';
import {
  type BatchJob,
  batchRows,
  checkBatchJob,
  decodeOutboxBatch,
  keys,
  MalformedBatchError,
  retryDelayMs,
} from '@sluice/redis';
import { InsertTelemetry, type Telemetry } from '@sluice/telemetry';
import type { PipelineWatcher } from '../../pipelines';
import type { SinkClients } from './sink-clients';
import { WriterScripts } from './writer.lua';

/** What became of one job; the job's return value, for logs and tests. */
export type BatchOutcome = 'written' | 'dead-lettered' | 'gone' | 'orphaned';

export interface BatchWriterOptions {
  /** Below the actor lease TTL: a stalled insert is abandoned (and retried) before that. */
  insertTimeoutMs: number;
  telemetry?: Telemetry;
}

/**
 * Writes one announced batch: outbox entry -> ClickHouse (token = batch id) -> one Redis script
 * that deletes the entry and counts the rows. Every step may run twice (a crash, a lost BullMQ
 * lock, a re-announced batch) and the result is the same: the token makes ClickHouse drop a
 * repeated insert and only the script run that deletes the entry counts it.
 */
export class BatchWriter {
  private readonly logger = new Logger('Writer');
  private readonly scripts: WriterScripts;

  constructor(
    private readonly redis: Redis,
    private readonly watcher: PipelineWatcher,
    private readonly sinks: SinkClients,
    private readonly options: BatchWriterOptions,
  ) {
    this.scripts = new WriterScripts(redis);
  }

  async process(job: Job<BatchJob>, token: string | undefined): Promise<BatchOutcome> {
    try {
      return await this.write(job);
    } catch (err) {
      if (err instanceof MalformedBatchError) throw new UnrecoverableError(err.message);
      // Retryable inserts and Redis hiccups alike: the batch stays in the outbox and comes back.
      return this.retryLater(job, token, err);
    }
  }

  private async write(job: Job<BatchJob>): Promise<BatchOutcome> {
    // A malformed job or entry throws MalformedBatchError: retrying cannot fix it, and failing
    // the job keeps it visible in BullMQ's failed set while the entry stays in the outbox.
    const ref = checkBatchJob(job.data);
    const data = await this.redis.getBuffer(
      keys.outboxBatch(ref.pipeline, ref.partition, ref.batchId),
    );
    // Written already (by an earlier run of this job or a duplicate announcement).
    if (data === null) return 'gone';
    const batch = decodeOutboxBatch(data, ref);

    const pipeline = await this.pipelineOf(ref.pipeline);
    if (pipeline === undefined) {
      // Deleted pipeline: its sink (and credentials) are gone with it. The entry stays in the
      // outbox, so nothing is lost: a pipeline created again under this id re-announces it
      // when its actor starts, and deleting a pipeline's state removes it for good.
      this.logger.warn(
        `batch ${ref.batchId}: pipeline ${ref.pipeline} is not defined; its ${batch.count} rows stay in the outbox`,
      );
      return 'orphaned';
    }

    const inserter = this.sinks.inserter(pipeline.sink);
    const tel =
      this.options.telemetry &&
      new InsertTelemetry(this.options.telemetry, {
        ...ref,
        table: batch.table,
        rows: batch.count,
        traceparent: batch.traceparent,
        times: batch.times,
      });
    try {
      await inserter.insertJsonEachRow(
        batch.database,
        batch.table,
        batch.body,
        ref.batchId,
        AbortSignal.timeout(this.options.insertTimeoutMs),
      );
    } catch (err) {
      if (isRetryable(err)) {
        tel?.failed(err);
        throw err;
      }
      const reason = describe(err);
      const moved = await this.scripts.deadLetter(
        ref,
        batchRows(batch),
        reason,
        pipeline.dlq.maxEntries,
      );
      tel?.deadLettered(reason, moved);
      if (moved) {
        this.logger.warn(
          `batch ${ref.batchId}: ClickHouse refused ${batch.count} rows for good, dead-lettered: ${reason}`,
        );
      }
      return 'dead-lettered';
    }
    const counted = await this.scripts.complete(ref, batch.count);
    tel?.written(counted);
    return 'written';
  }

  private async pipelineOf(id: string): Promise<CompiledPipeline | undefined> {
    const known = this.watcher.current().get(id);
    if (known !== undefined) return known.pipeline;
    // A pipeline created moments ago may not have reached this process's poll yet.
    await this.watcher.refresh();
    return this.watcher.current().get(id)?.pipeline;
  }

  /**
   * Re-schedules the job with a capped delay and without spending one of its attempts: the
   * job's own backoff spends an attempt each time (batchJobOptions), and a job
   * that runs out of attempts is failed for good while its batch still waits in the outbox.
   */
  private async retryLater(
    job: Job<BatchJob>,
    token: string | undefined,
    err: unknown,
  ): Promise<never> {
    const delay = retryDelayMs(job.attemptsStarted);
    this.logger.warn(
      `batch ${job.id ?? '?'}: attempt ${job.attemptsStarted} failed, retrying in ${delay} ms: ${describe(err)}`,
    );
    // Without a lock token the job cannot be moved; BullMQ's own retry takes it then.
    if (token === undefined) throw err;
    try {
      await job.moveToDelayed(Date.now() + delay, token);
    } catch (moveErr) {
      // Redis is away too; the failed attempt falls back to the job's backoff or, when even
      // that cannot be recorded, to BullMQ's stalled-job recovery.
      this.logger.warn(`batch ${job.id ?? '?'}: could not delay the retry: ${describe(moveErr)}`);
      throw err;
    }
    throw new DelayedError();
  }
}

/** One line for logs and dead letters, e.g. `ClickHouse CANNOT_PARSE_INPUT_... (27): Cannot parse`. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const text = err.message.trim();
  const message = text.length > 2_000 ? `${text.slice(0, 2_000)}...` : text;
  if (err instanceof ClickHouseError) {
    return `ClickHouse ${err.type ?? 'error'} (${err.code}): ${message}`;
  }
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number'
    ? `${err.name} ${code}: ${message}`
    : `${err.name}: ${message}`;
}
