import { ClickHouseError } from '@clickhouse/client';
import { Logger } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  classifyInsertError,
  type InsertOptions,
  serverCodeOf,
  suggestsSchemaChange,
} from '@sluice/clickhouse';
import type { CompiledPipeline } from '@sluice/pipeline';
import {
  type BatchJob,
  checkBatchJob,
  clearHold,
  type DecodedBatch,
  decodeOutboxBatch,
  insertDeadLetters,
  keys,
  MalformedBatchError,
  retryDelayMs,
  setHold,
} from '@sluice/redis';
import { InsertTelemetry, type Telemetry } from '@sluice/telemetry';
import type { PipelineWatcher } from '../../pipelines';
import { insertAroundRefusals } from './refused-rows';
import type { SinkClient, SinkClients } from './sink-clients';
import { StuckBatches } from './stuck-batches';
import { type TableState, type TableWatch, unknownFields } from './table-watch';
import { type BatchRef, WriterScripts } from './writer.lua';

/** What became of one job; the job's return value, for logs and tests. */
export type BatchOutcome = 'written' | 'dead-lettered' | 'gone' | 'orphaned';

export interface BatchWriterOptions {
  /** Below the actor lease TTL: a stalled insert is abandoned (and retried) before that. */
  insertTimeoutMs: number;
  /** A batch failing for longer is reported stuck (and still retried). */
  stuckAfterMs: number;
  /** The target tables, described again at least every SCHEMA_REFRESH_MS. */
  tables: TableWatch;
  telemetry?: Telemetry;
}

/** The target table cannot be written exactly once now: the batch waits in the outbox. */
class TableHeldError extends Error {
  override readonly name = 'TableHeldError';
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
  /** Per pipeline: the DESCRIBE (checkedAt) after which this process last cleared its table hold. */
  private readonly tableCleared = new Map<string, number>();
  /** Per pipeline: when this process last marked its table changed for the owners. */
  private readonly markedAt = new Map<string, number>();
  private readonly stuck: StuckBatches;

  constructor(
    private readonly redis: Redis,
    private readonly watcher: PipelineWatcher,
    private readonly sinks: SinkClients,
    private readonly options: BatchWriterOptions,
  ) {
    this.scripts = new WriterScripts(redis);
    this.stuck = new StuckBatches(redis, options.stuckAfterMs, this.logger, options.telemetry);
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
    if (data === null) {
      await this.stuck.settled(job);
      return 'gone';
    }
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

    const sink = this.sinks.sink(pipeline.sink);
    const table = await this.options.tables.state(
      sink.client,
      sink.key,
      batch.database,
      batch.table,
    );
    await this.holdUnlessExactlyOnce(ref.pipeline, table);
    const tel =
      this.options.telemetry &&
      new InsertTelemetry(this.options.telemetry, {
        ...ref,
        table: batch.table,
        rows: batch.count,
        traceparent: batch.traceparent,
        times: batch.times,
        definitionVersion: batch.definitionVersion,
      });
    try {
      await this.insert(sink, batch, batch.body, ref.batchId);
    } catch (err) {
      if (classifyInsertError(err) === 'retry') {
        if (suggestsSchemaChange(err)) {
          this.options.tables.invalidate(sink.key, batch.database, batch.table);
        }
        tel?.failed(err, String(serverCodeOf(err) ?? 'other'));
        throw err;
      }
      const outcome = await this.settleRefused(ref, pipeline, sink, batch, err, Date.now(), tel);
      await this.stuck.settled(job);
      return outcome;
    }
    const counted = await this.scripts.complete(ref, batch.count);
    tel?.written(counted);
    await this.stuck.settled(job);
    return 'written';
  }

  /**
   * ClickHouse refused the batch with a data error. First a fresh DESCRIBE: rows built before a
   * column was dropped carry a field the table no longer has, and land once sent without it
   * (never a dead letter for that). Rows still refused are found by splitting the batch
   * (insertAroundRefusals); only those are dead-lettered, each with the server's message.
   */
  private async settleRefused(
    ref: BatchRef,
    pipeline: CompiledPipeline,
    sink: SinkClient,
    batch: DecodedBatch,
    refusal: unknown,
    refusedAt: number,
    tel: InsertTelemetry | undefined,
  ): Promise<BatchOutcome> {
    // Described after the refusal, so a column dropped before it shows as dropped.
    const table = await this.options.tables.state(
      sink.client,
      sink.key,
      batch.database,
      batch.table,
      refusedAt,
    );
    // Without a fresh DESCRIBE the refusal cannot be told from a schema change: retry later.
    if (table === undefined || table.checkedAt < refusedAt) {
      tel?.failed(refusal, String(serverCodeOf(refusal) ?? 'other'));
      throw refusal;
    }
    await this.holdUnlessExactlyOnce(ref.pipeline, table);
    const lines = bodyLines(batch.body);
    const dropped = unknownFields(lines, table.columns);
    const options: InsertOptions = { skipUnknownFields: dropped.length > 0 };
    let error = refusal;
    if (dropped.length > 0) {
      this.logger.warn(
        `batch ${ref.batchId}: ${batch.database}.${batch.table} no longer has ${dropped.join(', ')}; sending its rows without them`,
      );
      await this.markTableChanged(ref.pipeline);
      try {
        await this.insert(sink, batch, batch.body, ref.batchId, options);
        const counted = await this.scripts.complete(ref, batch.count);
        tel?.written(counted);
        return 'written';
      } catch (err) {
        if (classifyInsertError(err) === 'retry') throw err;
        error = err;
      }
    }
    const refused = await insertAroundRefusals(
      ref.batchId,
      lines.length,
      error,
      (from, to, token) => this.insert(sink, batch, lines.slice(from, to).join(''), token, options),
    );
    const rows = refused.map((r) => ({
      row: r.row,
      error: r.alone
        ? describe(r.error)
        : `${describe(r.error)} (in a range of rows not split further)`,
    }));
    const written = lines.length - refused.length;
    const moved = await this.scripts.settle(
      ref,
      written,
      insertDeadLetters(batch, rows, new Date().toISOString()),
    );
    const reason = rows[0]?.error ?? describe(error);
    tel?.partlyWritten(written, refused.length, reason, moved);
    if (moved) {
      this.logger.warn(
        `batch ${ref.batchId}: ClickHouse refused ${refused.length} of ${lines.length} rows, dead-lettered (first: ${reason}); ${written} written`,
      );
    }
    return refused.length > 0 ? 'dead-lettered' : 'written';
  }

  /**
   * Tells the owners (keys.schemaChanged) to describe the table now rather than at their next
   * periodic refresh, so they stop building rows with a dropped column. At most once a second
   * per pipeline from this process.
   */
  private async markTableChanged(pipeline: string): Promise<void> {
    const now = Date.now();
    if (now - (this.markedAt.get(pipeline) ?? 0) < 1_000) return;
    this.markedAt.set(pipeline, now);
    await this.redis.set(keys.schemaChanged(pipeline), now).catch(() => undefined);
  }

  private async insert(
    sink: SinkClient,
    batch: DecodedBatch,
    body: string | Buffer,
    token: string,
    options?: InsertOptions,
  ): Promise<void> {
    await sink.inserter.insertJsonEachRow(
      batch.database,
      batch.table,
      body,
      token,
      AbortSignal.timeout(this.options.insertTimeoutMs),
      options,
    );
  }

  /**
   * Holds the pipeline ('table' hold, the batch stays in the outbox and is retried) while its
   * table is gone or cannot deduplicate a retried insert: inserting then would fall silently to
   * at-least-once. Clears the hold once a check passes again.
   */
  private async holdUnlessExactlyOnce(
    pipeline: string,
    table: TableState | undefined,
  ): Promise<void> {
    if (table === undefined) return;
    if (table.problem === undefined) {
      // Once per DESCRIBE of the table in this process, not per batch.
      if (this.tableCleared.get(pipeline) !== table.checkedAt) {
        await clearHold(this.redis, pipeline, 'table', null);
        this.tableCleared.set(pipeline, table.checkedAt);
      }
      return;
    }
    this.tableCleared.delete(pipeline);
    await setHold(this.redis, pipeline, {
      reason: 'table',
      partition: null,
      detail: table.problem,
    });
    throw new TableHeldError(`held: ${table.problem}`);
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
    await this.stuck.failed(job, describe(err));
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

/** The batch's JSONEachRow lines, each with its newline. */
function bodyLines(body: string | Buffer): string[] {
  return body
    .toString()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => `${line}\n`);
}
