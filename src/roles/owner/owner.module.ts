import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadHasher } from '@sluice/pipeline';
import {
  BATCH_QUEUE,
  BATCH_QUEUE_PREFIX,
  type BatchJob,
  closeRedis,
  createRedis,
} from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { ClusterMembership } from '../../cluster';
import { SLUICE_CONFIG, type SluiceConfig } from '../../config';
import { actorGauges } from '../../telemetry/actor-gauges';
import { TELEMETRY } from '../../telemetry/tokens';
import { REDIS, RedisModule } from '../../infra';
import { PipelineWatcher } from '../../pipelines';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';
import { ActorPlacement } from './actor-placement';
import type { ActorReport } from '../../cluster';
import { SinkSchemas } from './sink-schemas';

/**
 * The owner role runs the partition actors the placement coordinator assigns to this process
 * (see ActorPlacement and src/cluster). On shutdown it leaves the cluster first, so the
 * coordinator re-places its actors while they flush and release their leases here.
 */
@Injectable()
export class OwnerRole extends RoleService {
  protected readonly role = 'owner';
  private readonly logger = new Logger('OwnerRole');
  private schemas: SinkSchemas | undefined;
  private queueConnection: Redis | undefined;
  private queue: Queue<BatchJob> | undefined;
  private placement: ActorPlacement | undefined;
  private stopGauges: (() => void) | undefined;

  constructor(
    registry: RoleRegistry,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly watcher: PipelineWatcher,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
    private readonly membership: ClusterMembership,
  ) {
    super(registry);
  }

  /** Actors of this process, by `pipeline/partition`. */
  snapshot(): Record<string, ActorReport> {
    return this.placement?.snapshot() ?? {};
  }

  protected async start(): Promise<void> {
    const hasher = await loadHasher();
    this.queueConnection = createRedis(this.config.redisUrl, {
      tls: this.config.redisTls,
      connectionName: `sluice:${this.config.instanceId}:owner-queue`,
    });
    this.queueConnection.on('error', () => undefined);
    await this.queueConnection
      .connect()
      .catch((err: Error) => this.logger.warn(`queue connection not ready yet: ${err.message}`));
    this.queue = new Queue<BatchJob>(BATCH_QUEUE, {
      connection: this.queueConnection,
      prefix: BATCH_QUEUE_PREFIX,
    });
    this.queue.on('error', (err) => this.logger.warn(`batch queue: ${err.message}`));
    const schemas = new SinkSchemas(this.config.schemaRefreshMs, this.redis);
    this.schemas = schemas;
    const placement = new ActorPlacement({
      redis: this.redis,
      queue: this.queue,
      hasher,
      watcher: this.watcher,
      schemas,
      ownerId: this.config.instanceId,
      leaseTtlMs: this.config.leaseTtlMs,
      sync: this.config.redisSync,
      limits: this.config.bounds,
      logger: this.logger,
      telemetry: this.telemetry,
      membership: this.membership,
      onChange: () => this.membership.changed(),
      onClusterEvent: (listener) => this.membership.onEvent(listener),
    });
    this.placement = placement;
    this.membership.reportActors(() => placement.snapshot());
    this.stopGauges = this.telemetry.metrics.onScrape(
      actorGauges(this.redis, () => placement.actorList()),
    );
    placement.start();
  }

  /** Leaves the cluster, then flushes and checkpoints every actor and releases its lease. Safe to
   * call twice. */
  protected async stop(): Promise<void> {
    this.stopGauges?.();
    this.stopGauges = undefined;
    await this.membership.leave();
    await this.placement?.stop();
    const queue = this.queue;
    this.queue = undefined;
    await queue?.close().catch(() => undefined);
    if (this.queueConnection) await closeRedis(this.queueConnection);
    this.queueConnection = undefined;
    await this.schemas?.close();
  }
}

@Module({ imports: [RedisModule], providers: [OwnerRole] })
export class OwnerModule {}
