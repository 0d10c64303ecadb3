import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import { type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  BATCH_QUEUE,
  BATCH_QUEUE_PREFIX,
  BATCH_WORKER_OPTIONS,
  type BatchJob,
  closeRedis,
  createRedis,
} from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { SLUICE_CONFIG, type SluiceConfig } from '../../config';
import { TELEMETRY } from '../../telemetry/tokens';
import { ClickHouseModule, REDIS, RedisModule } from '../../infra';
import { PipelineWatcher } from '../../pipelines';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';
import { BatchWriter, type BatchOutcome } from './batch-writer';
import { SinkClients } from './sink-clients';
import { TableWatch } from './table-watch';

/** The writer role takes batches from the BullMQ queue and inserts them into ClickHouse. */
@Injectable()
export class WriterRole extends RoleService {
  protected readonly role = 'writer';
  private readonly logger = new Logger(WriterRole.name);
  private worker: Worker<BatchJob, BatchOutcome> | undefined;
  private connection: Redis | undefined;
  private sinks: SinkClients | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    registry: RoleRegistry,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly watcher: PipelineWatcher,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {
    super(registry);
  }

  protected start(): Promise<void> {
    // Below the lease TTL (design: writers' insert timeouts stay below the lease time).
    const insertTimeoutMs = Math.max(1_000, Math.floor(this.config.leaseTtlMs * 0.75));
    this.sinks = new SinkClients(insertTimeoutMs, this.config.writerConcurrency);
    const writer = new BatchWriter(this.redis, this.watcher, this.sinks, {
      insertTimeoutMs,
      stuckAfterMs: this.config.writerStuckAfterMs,
      tables: new TableWatch(this.config.schemaRefreshMs),
      telemetry: this.telemetry,
    });
    // BullMQ blocks on its connection, which needs maxRetriesPerRequest null: its own one.
    this.connection = createRedis(this.config.redisUrl, {
      tls: this.config.redisTls,
      connectionName: `sluice:${this.config.instanceId}:writer`,
      maxRetriesPerRequest: null,
    });
    this.connection.on('error', (err: Error) => this.logger.warn(`writer redis: ${err.message}`));
    this.worker = new Worker<BatchJob, BatchOutcome>(
      BATCH_QUEUE,
      (job: Job<BatchJob>, token?: string) => writer.process(job, token),
      {
        connection: this.connection,
        prefix: BATCH_QUEUE_PREFIX,
        concurrency: this.config.writerConcurrency,
        ...BATCH_WORKER_OPTIONS,
      },
    );
    this.worker.on('error', (err: Error) => this.logger.warn(`writer worker: ${err.message}`));
    this.worker.on('failed', (job, err) => {
      this.logger.error(`batch ${job?.id ?? '?'} failed: ${err.message}`);
    });
    this.logger.log(
      `writer consuming ${BATCH_QUEUE} (concurrency ${this.config.writerConcurrency}, insert timeout ${insertTimeoutMs} ms)`,
    );
    return Promise.resolve();
  }

  /** Waits for in-flight batches, then closes; safe to call twice (both calls await one close). */
  protected stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    const { worker, connection, sinks } = this;
    const results = await Promise.allSettled([worker?.close()]);
    await Promise.allSettled([connection ? closeRedis(connection) : undefined, sinks?.close()]);
    for (const result of results) {
      if (result.status === 'rejected') {
        this.logger.warn(`writer close: ${String(result.reason)}`);
      }
    }
  }
}

@Module({ imports: [RedisModule, ClickHouseModule], providers: [WriterRole] })
export class WriterModule {}
