import { Inject, Injectable, Logger, Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { registerCompressionCodecs } from '@sluice/kafka';
import { consumerFacet, loadHasher, type Hasher } from '@sluice/pipeline';
import { closeRedis, createRedis, ReplicaSync } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { SLUICE_CONFIG, type SluiceConfig } from '../../config';
import { TELEMETRY } from '../../telemetry/tokens';
import { ReadinessRegistry } from '../../health';
import { KafkaModule, REDIS, RedisModule } from '../../infra';
import { PipelineWatcher, type ActivePipeline } from '../../pipelines';
import { RoleRegistry } from '../role-registry';
import { RoleService } from '../role-service';
import { PipelineConsumer, type ConsumerStats } from './pipeline-consumer';
import { noSourceGaps, type SourceGapTotals } from './source-gaps';

/**
 * The consumer role reads Kafka topics and appends their events to the pipeline partitions'
 * mailboxes in Redis: one consumer group per running pipeline, started and stopped as the
 * pipeline watcher reports changes.
 */
@Injectable()
export class ConsumerRole extends RoleService {
  protected readonly role = 'consumer';
  private readonly logger = new Logger(ConsumerRole.name);
  private readonly consumers = new Map<string, { consumer: PipelineConsumer; json: string }>();
  /** Per pipeline, source offset resets since this process started (across its consumers). */
  private readonly gapTotals = new Map<string, SourceGapTotals>();
  private hasher: Hasher | undefined;
  /** The consumers' own connection: a WAIT blocks the connection it runs on (see replicaSync). */
  private conn: Redis | undefined;
  private replicaSync: ReplicaSync | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Reconciliations run one after another, so a consumer is never started and stopped at once. */
  private reconciling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    registry: RoleRegistry,
    private readonly watcher: PipelineWatcher,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
    readiness: ReadinessRegistry,
  ) {
    super(registry);
    // Reported, not failed on: a reset already happened and no restart brings the events back.
    readiness.report('sourceGaps', () => this.sourceGaps());
  }

  /**
   * Source offset resets seen by this process since it started (lost input, see
   * SourceGapMonitor): totals and, per pipeline that had any, its own.
   */
  sourceGaps(): Record<string, unknown> {
    let resets = 0;
    let skippedOffsets = 0;
    const pipelines: Record<string, SourceGapTotals> = {};
    for (const [id, gaps] of this.gapTotals) {
      if (gaps.resets === 0) continue;
      resets += gaps.resets;
      skippedOffsets += gaps.skippedOffsets;
      pipelines[id] = { ...gaps };
    }
    return { resets, skippedOffsets, pipelines };
  }

  /** Per running pipeline, for metrics and the admin API. */
  stats(): Record<string, ConsumerStats> {
    const result: Record<string, ConsumerStats> = {};
    for (const [id, { consumer }] of this.consumers) result[id] = consumer.stats;
    return result;
  }

  private gapTotal(id: string): SourceGapTotals {
    let totals = this.gapTotals.get(id);
    if (!totals) this.gapTotals.set(id, (totals = noSourceGaps()));
    return totals;
  }

  protected async start(): Promise<void> {
    registerCompressionCodecs();
    this.hasher = await loadHasher();
    this.openConnection();
    this.unsubscribe = this.watcher.onChange((pipelines) => this.schedule(pipelines));
    this.schedule(this.watcher.current());
    await this.reconciling;
  }

  protected async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.reconciling;
    const all = [...this.consumers.values()];
    this.consumers.clear();
    await Promise.all(all.map(({ consumer }) => consumer.stop()));
    if (this.conn) await closeRedis(this.conn);
    this.conn = undefined;
  }

  /**
   * With REDIS_MIN_REPLICAS, appends are confirmed by WAIT on the connection that wrote them; a
   * WAIT blocks that connection (up to REDIS_REPLICA_WAIT_MS while replicas lag), so the
   * consumers write on their own instead of stalling the shared one (leases, heartbeats, health).
   */
  private openConnection(): void {
    const conn = createRedis(this.config.redisUrl, {
      tls: this.config.redisTls,
      connectionName: `sluice:${this.config.instanceId}:consumer`,
    });
    conn.on('error', () => undefined);
    conn.connect().catch((err: Error) => this.logger.warn(`consumer redis: ${err.message}`));
    const failures = this.telemetry.metrics.replicaWaitFailures;
    let lastLog = 0;
    this.replicaSync = new ReplicaSync(conn, {
      ...this.config.redisSync,
      onFailure: ({ acked, required, command }) => {
        failures.inc({ role: 'consumer' });
        if (Date.now() - lastLog < 10_000) return;
        lastLog = Date.now();
        this.logger.warn(
          `only ${acked} of ${required} Redis replica(s) acknowledged mailbox appends within ` +
            `${this.config.redisSync.timeoutMs} ms (${command}): Kafka offsets are not committed ` +
            'until they do (REDIS_MIN_REPLICAS)',
        );
      },
    });
    this.conn = conn;
  }

  private schedule(pipelines: ReadonlyMap<string, ActivePipeline>): void {
    this.reconciling = this.reconciling
      .then(() => this.reconcile(pipelines))
      .catch((err: Error) => this.logger.error(`consumer reconcile failed: ${err.message}`));
  }

  /** Starts a consumer per running pipeline; stops those of stopped, deleted or changed ones. */
  private async reconcile(pipelines: ReadonlyMap<string, ActivePipeline>): Promise<void> {
    if (this.stopped || !this.hasher) return;
    const wanted = new Map<string, { active: ActivePipeline; json: string }>();
    for (const [id, active] of pipelines) {
      // A reset under way keeps the consumers off while the actors apply what was read.
      if (active.status !== 'running' || active.resetting) continue;
      // Only what the consumer reads: an edit of the filter, transform, batch or DLQ settings
      // reaches the actors without the group rejoining (libs/pipeline definition/edit.ts).
      wanted.set(id, { active, json: consumerFacet(active.pipeline.definition) });
    }
    const stopping: Promise<void>[] = [];
    for (const [id, current] of this.consumers) {
      if (wanted.get(id)?.json === current.json) continue;
      this.consumers.delete(id);
      this.logger.log({ pipeline: id }, `stopping the consumer of pipeline ${id}`);
      stopping.push(current.consumer.stop());
    }
    await Promise.all(stopping);
    // A deleted pipeline's totals go (a re-created id starts from none); a stopped or changed
    // one keeps them.
    for (const id of this.gapTotals.keys()) if (!pipelines.has(id)) this.gapTotals.delete(id);
    for (const [id, { active, json }] of wanted) {
      if (this.consumers.has(id)) continue;
      const consumer = new PipelineConsumer(active.pipeline, {
        redis: this.conn ?? this.redis,
        replicaSync: this.replicaSync,
        hasher: this.hasher,
        clientId: this.config.kafkaClientId,
        fallbackBrokers: this.config.kafkaBrokers,
        mailboxMaxEntries: this.config.mailboxMaxEntries,
        coalesce: this.config.coalesce,
        maxMessageBytes: this.config.maxMessageBytes,
        fetchMaxWaitMs: this.config.fetchMaxWaitMs,
        sessionTimeoutMs: this.config.kafkaSessionTimeoutMs,
        entryVersion: this.config.mailboxEntryVersion,
        telemetry: this.telemetry,
        sourceGaps: this.gapTotal(id),
      });
      this.consumers.set(id, { consumer, json });
      this.logger.log({ pipeline: id }, `starting the consumer of pipeline ${id}`);
      consumer.start();
    }
  }
}

@Module({ imports: [RedisModule, KafkaModule], providers: [ConsumerRole] })
export class ConsumerModule {}
