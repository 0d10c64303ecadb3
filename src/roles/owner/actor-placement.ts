import type { Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CompiledPipeline, Hasher } from '@sluice/pipeline';
import type { BatchJob } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { acquireLease } from '@sluice/redis/scripts';
import { type ActorReport, actorName, type ClusterMembership } from '../../cluster';
import type { ActivePipeline, PipelineWatcher } from '../../pipelines';
import type { ActorLimits } from './actor-bounds';
import { PartitionActor } from './actor';
import type { SinkSchemas } from './sink-schemas';

/**
 * How often the published assignment is polled and leases of assigned actors are tried: a dead
 * owner's actor starts here at most this long after its lease expires, a released one as soon.
 */
const FOLLOW_INTERVAL_MS = 250;
/** A sink table that could not be described is tried again after this long. */
const SCHEMA_RETRY_MS = 2_000;

export interface PlacementDeps {
  redis: Redis;
  queue: Queue<BatchJob>;
  hasher: Hasher;
  watcher: PipelineWatcher;
  schemas: SinkSchemas;
  ownerId: string;
  leaseTtlMs: number;
  /** REDIS_MIN_REPLICAS for the actors' checkpoints. */
  sync: { replicas: number; timeoutMs: number };
  /** Where an actor stops taking entries (see ActorBounds). */
  limits: ActorLimits;
  logger: Logger;
  telemetry: Telemetry;
  /** Called when the actors or their states changed (the membership heartbeats at once). */
  onChange: () => void;
  membership: Pick<ClusterMembership, 'assignmentSince'>;
  /** Subscribes to cluster events; an `assignment:` event makes this owner follow at once. */
  onClusterEvent: (listener: (event: string) => void) => () => void;
}

/**
 * Runs on this owner exactly the actors the coordinator assigned to it: starts each one once its
 * lease can be taken (a released lease at once, a dead owner's after its TTL), and gracefully
 * stops (flush, checkpoint, release) the ones assigned elsewhere, so their new owner starts at
 * once. The assignment is advice for liveness and balance; the lease and its epoch remain what
 * keeps two owners from writing for one actor.
 */
export class ActorPlacement {
  private readonly actors = new Map<string, PartitionActor>();
  private readonly schemaRetryAt = new Map<string, number>();
  private readonly waiting = new Set<string>();
  private mine = new Set<string>();
  private seenVersion = -1;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private unsubscribeEvents: (() => void) | undefined;
  private placeAgain = false;
  private placing: Promise<void> | undefined;
  private lastReport = '';
  private stopped = false;

  constructor(private readonly deps: PlacementDeps) {}

  start(): void {
    if (this.timer || this.stopped) return;
    this.unsubscribe = this.deps.watcher.onChange(() => this.schedule());
    this.unsubscribeEvents = this.deps.onClusterEvent((event) => {
      if (event.startsWith('assignment:')) this.schedule();
    });
    this.timer = setInterval(() => this.schedule(), FOLLOW_INTERVAL_MS);
    this.schedule();
  }

  /** Flushes, checkpoints and releases every actor. Safe to call twice. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.unsubscribeEvents?.();
    this.unsubscribeEvents = undefined;
    await this.placing;
    const actors = [...this.actors.values()];
    this.actors.clear();
    await Promise.allSettled(actors.map((a) => a.stop()));
    this.report();
  }

  /** The actors this process runs now (for scrape-time gauges). */
  actorList(): Iterable<PartitionActor> {
    return this.actors.values();
  }

  /** Actors of this process, by `pipeline/partition`. */
  snapshot(): Record<string, ActorReport> {
    const out: Record<string, ActorReport> = {};
    for (const [name, actor] of this.actors) out[name] = { epoch: actor.epoch, state: actor.state };
    return out;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.placing) {
      this.placeAgain = true;
      return;
    }
    this.placing = this.place()
      .catch((err: Error) => this.deps.logger.warn(`placement failed: ${err.message}`))
      .finally(() => {
        this.placing = undefined;
        this.report();
        if (this.placeAgain) {
          this.placeAgain = false;
          this.schedule();
        }
      });
  }

  private async place(): Promise<void> {
    await this.follow();
    const pipelines = this.deps.watcher.current();
    await this.retire(pipelines);
    for (const { pipeline, status, version } of pipelines.values()) {
      if (this.stopped) return;
      if (status !== 'running') continue;
      await this.placePipeline(pipeline, version);
    }
  }

  /** Reloads the assignment when its version moved (one GET when it did not). */
  private async follow(): Promise<void> {
    const changed = await this.deps.membership.assignmentSince(this.seenVersion);
    if (changed === undefined) return;
    const mine = new Set<string>();
    for (const [name, owner] of Object.entries(changed.assignment?.actors ?? {})) {
      if (owner === this.deps.ownerId) mine.add(name);
    }
    this.mine = mine;
    this.seenVersion = changed.version;
    this.deps.logger.log(
      { version: changed.version, actors: mine.size },
      `assignment ${changed.version}: ${mine.size} actors for this owner`,
    );
  }

  /**
   * Stops actors assigned elsewhere or whose pipeline is gone, stopped or redefined. An edited
   * definition takes effect this way, at a checkpoint boundary: the actor flushes and
   * checkpoints what it applied under the old version, and the one started for the new version
   * restores from that checkpoint (README "Editing a pipeline").
   */
  private async retire(pipelines: ReadonlyMap<string, ActivePipeline>): Promise<void> {
    const stopping: Promise<void>[] = [];
    for (const [name, actor] of this.actors) {
      const active = pipelines.get(actor.pipeline.id);
      const current =
        active?.status === 'running' &&
        active.version === actor.definitionVersion &&
        JSON.stringify(active.pipeline.definition) === JSON.stringify(actor.pipeline.definition) &&
        actor.partition < active.pipeline.partitions &&
        this.mine.has(name);
      if (actor.state === 'Closed') this.actors.delete(name);
      else if (!current) {
        this.actors.delete(name);
        stopping.push(actor.stop());
      }
    }
    await Promise.allSettled(stopping);
  }

  private async placePipeline(pipeline: CompiledPipeline, version: number): Promise<void> {
    const wanted: number[] = [];
    for (let partition = 0; partition < pipeline.partitions; partition++) {
      const name = actorName(pipeline.id, partition);
      if (this.mine.has(name) && !this.actors.has(name)) wanted.push(partition);
    }
    if (wanted.length === 0 || Date.now() < (this.schemaRetryAt.get(pipeline.id) ?? 0)) return;
    let rowBuilder;
    try {
      rowBuilder = await this.deps.schemas.rowBuilder(pipeline);
      this.schemaRetryAt.delete(pipeline.id);
    } catch (err) {
      this.schemaRetryAt.set(pipeline.id, Date.now() + SCHEMA_RETRY_MS);
      this.deps.logger.warn(`pipeline ${pipeline.id}: sink table not readable: ${String(err)}`);
      return;
    }
    for (const partition of wanted) {
      if (this.stopped) return;
      const name = actorName(pipeline.id, partition);
      const { redis, ownerId, leaseTtlMs } = this.deps;
      const epoch = await acquireLease(redis, pipeline.id, partition, ownerId, leaseTtlMs);
      if (epoch === undefined) {
        // Its previous owner still holds it: released after a flush, or expiring after a crash.
        if (!this.waiting.has(name)) {
          this.waiting.add(name);
          this.deps.logger.log({ actor: name }, `actor ${name}: waiting for its lease`);
        }
        continue;
      }
      this.waiting.delete(name);
      const actor = new PartitionActor(pipeline, partition, epoch, rowBuilder, {
        redis,
        queue: this.deps.queue,
        hasher: this.deps.hasher,
        ownerId,
        leaseTtlMs,
        logger: this.deps.logger,
        telemetry: this.deps.telemetry,
        sync: this.deps.sync,
        limits: this.deps.limits,
        definitionVersion: version,
      });
      this.actors.set(name, actor);
      actor.start();
    }
  }

  /** Tells the membership when the actors or their states changed since the last report. */
  private report(): void {
    const snapshot = JSON.stringify(this.snapshot());
    if (snapshot === this.lastReport) return;
    this.lastReport = snapshot;
    this.deps.onChange();
  }
}
