import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  acquireCoordinator,
  publishAssignment,
  readAssignment,
  releaseCoordinator,
} from '@sluice/redis/scripts';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { CLUSTER_REDIS } from './cluster-redis';
import { PipelineWatcher } from '../pipelines/pipeline-watcher';
import {
  type ActorAssignment,
  actorsPerOwner,
  computeAssignment,
  movedActors,
  sameAssignment,
} from './assignment';
import { CoalescedRun } from './coalesced-run';
import { ClusterMembership } from './membership';
import { parsePublishedAssignment, type PublishedAssignment } from './published-assignment';

/** The coordinator looks at membership at least this often (and at every heartbeat interval). */
const MAX_TICK_MS = 500;

/**
 * Placement is decided by one coordinator at a time: every process campaigns for a Redis lock
 * (`{sl}:coordinator`, TTL = MEMBER_TIMEOUT_MS) that carries its own fencing epoch. The holder
 * reads the live members and the running pipelines, computes a sticky balanced assignment from
 * the previous one, and publishes it with a script that checks the lock, so a coordinator paused
 * past its lock cannot overwrite its successor's decision. Placement only decides who should run
 * an actor; the actor leases and their epochs keep the data safe whatever the assignment says.
 */
@Injectable()
export class Coordinator implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Coordinator');
  private timer: NodeJS.Timeout | undefined;
  private epoch: number | undefined;
  private stopped = false;
  private readonly ticks = new CoalescedRun(
    () => this.tick(),
    (err) => this.logger.warn(`coordinator tick failed: ${String(err)}`),
    () => !this.stopped,
  );
  private unsubscribe: (() => void) | undefined;

  constructor(
    @Inject(CLUSTER_REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly membership: ClusterMembership,
    private readonly watcher: PipelineWatcher,
  ) {}

  /** The epoch while this process coordinates. */
  get heldEpoch(): number | undefined {
    return this.epoch;
  }

  onApplicationBootstrap(): void {
    this.membership.onLeave(() => this.handOff());
    // A join or a graceful leave is acted on at once, not at the next tick.
    this.unsubscribe = this.membership.onEvent((event) => {
      if (event.startsWith('joined:') || event.startsWith('left:')) this.schedule();
    });
    const every = Math.min(MAX_TICK_MS, this.config.heartbeatIntervalMs);
    this.timer = setInterval(() => this.schedule(), every);
    this.schedule();
  }

  /** The hand-off ran when the membership left (before any connection closes); stop ticking. */
  onApplicationShutdown(): void {
    this.stopTicking();
  }

  private stopTicking(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.ticks.request();
  }

  private async tick(leaving = false): Promise<void> {
    const id = this.membership.id;
    const epoch = await acquireCoordinator(this.redis, id, this.config.memberTimeoutMs);
    if (epoch === undefined) {
      if (this.epoch !== undefined) this.logger.warn(`no longer the coordinator (lock lost)`);
      this.epoch = undefined;
      return;
    }
    if (epoch !== this.epoch) {
      this.logger.log({ epoch }, `coordinating placement (coordinator epoch ${epoch})`);
      this.epoch = epoch;
    }
    const pipelines = [...this.watcher.current().values()]
      .filter((p) => p.status === 'running')
      .map((p) => ({ id: p.pipeline.id, partitions: p.pipeline.partitions }));
    // Before the pipelines are loaded every actor would look deleted: decide nothing then.
    if (pipelines.length === 0) return;
    const { members } = await this.membership.members();
    const owners = members
      .filter((m) => m.alive && m.roles.includes('owner') && !(leaving && m.id === id))
      .map((m) => m.id)
      .sort();
    const stored = await readAssignment(this.redis);
    const previous = parsePublishedAssignment(stored.assignment);
    const actors = computeAssignment({ pipelines, owners, previous: previous?.actors ?? {} });
    if (
      previous &&
      sameAssignment(previous.actors, actors) &&
      previous.owners.join(',') === owners.join(',')
    ) {
      return;
    }
    await this.publish(epoch, owners, actors, previous);
  }

  private async publish(
    epoch: number,
    owners: string[],
    actors: ActorAssignment,
    previous: PublishedAssignment | undefined,
  ): Promise<void> {
    const assignment: PublishedAssignment = {
      coordinator: this.membership.id,
      epoch,
      owners,
      actors,
      publishedAt: new Date().toISOString(),
    };
    const version = await publishAssignment(
      this.redis,
      `${this.membership.id}:${epoch}`,
      JSON.stringify(assignment),
    );
    if (version === undefined) {
      this.logger.warn(`assignment not published: the coordinator lock moved on`);
      this.epoch = undefined;
      return;
    }
    this.membership.notify(`assignment:${version}`);
    const moved = previous ? movedActors(previous.actors, actors).length : 0;
    const counts = Object.fromEntries(actorsPerOwner(actors, owners));
    this.logger.log(
      { version, epoch, owners, moved, actorsPerOwner: counts },
      `assignment ${version}: ${Object.keys(actors).length} actors over ${owners.length} owners, ${moved} moved`,
    );
  }

  /** Leaving: a last assignment without this process, then the lock for a successor. */
  private async handOff(): Promise<void> {
    if (this.stopped) return;
    this.stopTicking();
    await this.ticks.current;
    if (this.epoch === undefined) return;
    const value = `${this.membership.id}:${this.epoch}`;
    try {
      await this.tick(true);
      await releaseCoordinator(this.redis, value);
      this.logger.log(`coordinator lock released`);
    } catch (err) {
      // The lock expires by itself after MEMBER_TIMEOUT_MS.
      this.logger.warn(`coordinator hand-off failed: ${String(err)}`);
    }
    this.epoch = undefined;
  }
}
