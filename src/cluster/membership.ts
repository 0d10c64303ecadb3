import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { closeRedis, keys } from '@sluice/redis';
import {
  assignmentVersion,
  deregister,
  heartbeat,
  listMembers,
  readAssignment,
} from '@sluice/redis/scripts';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { CLUSTER_REDIS } from './cluster-redis';
import { CoalescedRun } from './coalesced-run';
import {
  type ActorReport,
  type Member,
  type MemberRecord,
  parseMemberRecord,
  sluiceVersion,
} from './member';
import { parsePublishedAssignment, type PublishedAssignment } from './published-assignment';

/** Members silent this many timeouts are dropped from the member list altogether. */
const FORGET_AFTER_TIMEOUTS = 10;

/**
 * This process's membership of the cluster: registers at bootstrap and heartbeats every
 * HEARTBEAT_INTERVAL_MS (scored with Redis server time, so clocks never matter); a process silent
 * for MEMBER_TIMEOUT_MS counts as dead. Leaving (graceful shutdown) deregisters at once and runs
 * the leave hooks (the coordinator hands off), so the others re-place its actors without waiting.
 */
@Injectable()
export class ClusterMembership
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('ClusterMembership');
  private readonly startedAt = new Date().toISOString();
  private readonly leaveHooks: (() => Promise<void>)[] = [];
  private actorSource: (() => Record<string, ActorReport>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private leaving: Promise<void> | undefined;
  private readonly beats = new CoalescedRun(
    () => this.beatOnce(),
    (err) => this.logger.warn(`heartbeat failed: ${String(err)}`),
    () => !this.leaving,
  );
  private registered = false;
  private subscriber: Redis | undefined;
  private readonly events = new EventEmitter();

  constructor(
    @Inject(CLUSTER_REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  get id(): string {
    return this.config.instanceId;
  }

  get hasLeft(): boolean {
    return this.leaving !== undefined;
  }

  /** The owner role reports its actors here; they travel in every heartbeat. */
  reportActors(source: (() => Record<string, ActorReport>) | undefined): void {
    this.actorSource = source;
  }

  /** Runs while leaving, after deregistering; awaited by leave(). */
  onLeave(hook: () => Promise<void>): void {
    this.leaveHooks.push(hook);
  }

  /** Beat now (an actor changed state): the admin view and tests see changes without delay. */
  changed(): void {
    this.beat();
  }

  /**
   * Cluster events (`joined:<id>`, `left:<id>`, `assignment:<version>`) from any process. They only
   * make reactions faster: whoever misses one (a reconnect) catches up on its next poll.
   */
  onEvent(listener: (event: string) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  notify(event: string): void {
    this.redis
      .publish(keys.clusterEvents(), event)
      .catch((err: Error) => this.logger.debug(`cluster event not published: ${err.message}`));
  }

  async onApplicationBootstrap(): Promise<void> {
    const subscriber = this.redis.duplicate({
      connectionName: `sluice:${this.config.instanceId}:cluster-events`,
    });
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, event: string) => this.events.emit('event', event));
    await subscriber
      .subscribe(keys.clusterEvents())
      .catch((err: Error) => this.logger.warn(`cluster events not subscribed yet: ${err.message}`));
    this.timer = setInterval(() => this.beat(), this.config.heartbeatIntervalMs);
    this.beat();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.leave();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.leave();
    this.events.removeAllListeners();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    subscriber?.disconnect(false);
    await closeRedis(this.redis);
  }

  /** The published assignment when its version differs from `seen`, else undefined. */
  async assignmentSince(
    seen: number,
  ): Promise<{ version: number; assignment: PublishedAssignment | undefined } | undefined> {
    if ((await assignmentVersion(this.redis)) === seen) return undefined;
    const stored = await readAssignment(this.redis);
    return { version: stored.version, assignment: parsePublishedAssignment(stored.assignment) };
  }

  /** Deregisters and runs the leave hooks. Safe to call twice; later calls await the first. */
  leave(): Promise<void> {
    this.leaving ??= this.doLeave();
    return this.leaving;
  }

  /** Every member still listed, alive or not, with the age of its last heartbeat. */
  async members(): Promise<{ now: number; members: Member[] }> {
    const { now, members } = await listMembers(
      this.redis,
      FORGET_AFTER_TIMEOUTS * this.config.memberTimeoutMs,
    );
    return {
      now,
      members: members.map((row) => {
        const heartbeatAgeMs = Math.max(0, now - row.beatAt);
        return {
          ...parseMemberRecord(row.id, row.record),
          heartbeatAgeMs,
          alive: heartbeatAgeMs <= this.config.memberTimeoutMs,
        };
      }),
    };
  }

  private async doLeave(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.beats.current;
    try {
      await deregister(this.redis, this.id);
      this.notify(`left:${this.id}`);
      this.logger.log({ instance: this.id }, `left the cluster`);
    } catch (err) {
      // The heartbeat stops anyway: the others notice within MEMBER_TIMEOUT_MS.
      this.logger.warn(`could not deregister: ${String(err)}`);
    }
    for (const hook of this.leaveHooks) {
      await hook().catch((err: unknown) => this.logger.warn(`leave hook failed: ${String(err)}`));
    }
  }

  private beat(): void {
    this.beats.request();
  }

  private async beatOnce(): Promise<void> {
    await heartbeat(this.redis, this.id, JSON.stringify(this.record()));
    if (!this.registered) {
      this.registered = true;
      this.notify(`joined:${this.id}`);
      this.logger.log(
        { instance: this.id, roles: this.config.roles },
        `joined the cluster as ${this.id}`,
      );
    }
  }

  private record(): MemberRecord {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      roles: this.config.roles,
      version: sluiceVersion(),
      startedAt: this.startedAt,
      port: this.listeningPort(),
      actors: this.actorSource?.() ?? {},
    };
  }

  private listeningPort(): number | null {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as
      { address?: () => unknown } | undefined;
    const address = server?.address?.();
    return typeof address === 'object' && address !== null && 'port' in address
      ? Number(address.port)
      : null;
  }
}
