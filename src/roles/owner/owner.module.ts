import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type CompiledPipeline, type Hasher, loadHasher } from '@sluice/pipeline';
import {
  BATCH_QUEUE,
  BATCH_QUEUE_PREFIX,
  type BatchJob,
  closeRedis,
  createRedis,
} from '@sluice/redis';
import { acquireLease } from '@sluice/redis/scripts';
import type { Telemetry } from '@sluice/telemetry';
import { SLUICE_CONFIG, type SluiceConfig } from '../../config';
import { actorGauges } from '../../telemetry/actor-gauges';
import { TELEMETRY } from '../../telemetry/tokens';
import { REDIS, RedisModule } from '../../infra';
import { type ActivePipeline, PipelineWatcher } from '../../pipelines';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';
import { PartitionActor } from './actor';
import { SinkSchemas } from './sink-schemas';

/** How often free leases are tried: a dead owner's actors move within TTL + this. */
const PLACEMENT_INTERVAL_MS = 2_000;

/**
 * The owner role runs the partition actors. Placement for now: every owner process tries to take
 * the lease of every partition of every running pipeline, every few seconds, so together they
 * cover all partitions and take over a dead owner's actors once its leases expire.
 */
@Injectable()
export class OwnerRole extends RoleService {
  protected readonly role = 'owner';
  private readonly logger = new Logger('OwnerRole');
  private readonly actors = new Map<string, PartitionActor>();
  private readonly schemas = new SinkSchemas();
  private queueConnection: Redis | undefined;
  private queue: Queue<BatchJob> | undefined;
  private hasher: Hasher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private placing: Promise<void> | undefined;
  private stopped = false;
  private stopGauges: (() => void) | undefined;

  constructor(
    registry: RoleRegistry,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly watcher: PipelineWatcher,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {
    super(registry);
  }

  /** Actors of this process, by `pipeline/partition`. */
  snapshot(): Record<string, { epoch: number; state: string }> {
    const out: Record<string, { epoch: number; state: string }> = {};
    for (const [name, actor] of this.actors) out[name] = { epoch: actor.epoch, state: actor.state };
    return out;
  }

  protected async start(): Promise<void> {
    this.hasher = await loadHasher();
    this.queueConnection = createRedis(this.config.redisUrl, {
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
    this.stopGauges = this.telemetry.metrics.onScrape(
      actorGauges(this.redis, () => this.actors.values()),
    );
    this.unsubscribe = this.watcher.onChange(() => this.schedule());
    this.timer = setInterval(() => this.schedule(), PLACEMENT_INTERVAL_MS);
    this.schedule();
  }

  /** Flushes and checkpoints every actor and releases its lease. Safe to call twice. */
  protected async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.stopGauges?.();
    await this.placing;
    const actors = [...this.actors.values()];
    this.actors.clear();
    await Promise.allSettled(actors.map((a) => a.stop()));
    const queue = this.queue;
    this.queue = undefined;
    await queue?.close().catch(() => undefined);
    if (this.queueConnection) await closeRedis(this.queueConnection);
    this.queueConnection = undefined;
    await this.schemas.close();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.placing ??= this.place()
      .catch((err: Error) => this.logger.warn(`placement failed: ${err.message}`))
      .finally(() => (this.placing = undefined));
  }

  private async place(): Promise<void> {
    const pipelines = this.watcher.current();
    await this.retire(pipelines);
    for (const { pipeline, status } of pipelines.values()) {
      if (this.stopped) return;
      if (status !== 'running') continue;
      await this.placePipeline(pipeline);
    }
  }

  /** Stops actors whose pipeline is gone, stopped or redefined, and forgets closed ones. */
  private async retire(pipelines: ReadonlyMap<string, ActivePipeline>): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const [name, actor] of this.actors) {
      const active = pipelines.get(actor.pipeline.id);
      const current =
        active?.status === 'running' &&
        JSON.stringify(active.pipeline.definition) === JSON.stringify(actor.pipeline.definition) &&
        actor.partition < active.pipeline.partitions;
      if (actor.state === 'Closed') this.actors.delete(name);
      else if (!current) {
        this.actors.delete(name);
        stopping.push(actor.stop());
      }
    }
    await Promise.allSettled(stopping);
  }

  private async placePipeline(pipeline: CompiledPipeline): Promise<void> {
    const free: number[] = [];
    for (let partition = 0; partition < pipeline.partitions; partition++) {
      if (!this.actors.has(`${pipeline.id}/${partition}`)) free.push(partition);
    }
    if (free.length === 0) return;
    let rowBuilder;
    try {
      rowBuilder = await this.schemas.rowBuilder(pipeline);
    } catch (err) {
      // Without the table's columns no row can be built; leave the leases to owners that can.
      this.logger.warn(`pipeline ${pipeline.id}: sink table not readable: ${String(err)}`);
      return;
    }
    for (const partition of free) {
      if (this.stopped || !this.queue || !this.hasher) return;
      const epoch = await acquireLease(
        this.redis,
        pipeline.id,
        partition,
        this.config.instanceId,
        this.config.leaseTtlMs,
      );
      if (epoch === undefined) continue;
      const actor = new PartitionActor(pipeline, partition, epoch, rowBuilder, {
        redis: this.redis,
        queue: this.queue,
        hasher: this.hasher,
        ownerId: this.config.instanceId,
        leaseTtlMs: this.config.leaseTtlMs,
        logger: this.logger,
        telemetry: this.telemetry,
      });
      this.actors.set(actor.name, actor);
      actor.start();
    }
  }
}

@Module({ imports: [RedisModule], providers: [OwnerRole] })
export class OwnerModule {}
