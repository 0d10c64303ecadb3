import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import { currentCoordinator, readAssignment } from '@sluice/redis/scripts';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { CLUSTER_REDIS } from './cluster-redis';
import { type ActivePipeline, PipelineWatcher } from '../pipelines/pipeline-watcher';
import { actorName } from './assignment';
import { ClusterMembership } from './membership';
import { parsePublishedAssignment } from './published-assignment';

export interface ClusterActorView {
  partition: number;
  /** Who the coordinator placed it on. */
  assignedTo: string | null;
  /** Who holds its lease now, and under which epoch (the truth for fencing). */
  leaseHolder: string | null;
  epoch: number | null;
  /** State reported by the lease holder's last heartbeat. */
  state: string | null;
}

/** The cluster as Redis knows it: members, coordinator, assignment and every actor's lease. */
@Injectable()
export class ClusterView {
  constructor(
    @Inject(CLUSTER_REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    private readonly membership: ClusterMembership,
    private readonly watcher: PipelineWatcher,
  ) {}

  async describe() {
    const [{ members }, coordinator, stored] = await Promise.all([
      this.membership.members(),
      currentCoordinator(this.redis),
      readAssignment(this.redis),
    ]);
    const published = parsePublishedAssignment(stored.assignment);
    const pipelines = [...this.watcher.current().values()];
    const leases = await this.leases(pipelines);
    const assignedPer = new Map<string, number>();
    for (const owner of Object.values(published?.actors ?? {})) {
      assignedPer.set(owner, (assignedPer.get(owner) ?? 0) + 1);
    }
    const states = new Map<string, { state: string; epoch: number }>();
    for (const m of members)
      for (const [name, a] of Object.entries(m.actors)) states.set(`${m.id}|${name}`, a);
    return {
      instanceId: this.config.instanceId,
      memberTimeoutMs: this.config.memberTimeoutMs,
      coordinator: parseHolder(coordinator),
      assignment: published
        ? {
            version: stored.version,
            coordinator: published.coordinator,
            epoch: published.epoch,
            owners: published.owners,
            publishedAt: published.publishedAt,
          }
        : null,
      members: members
        .sort((a, b) => a.id.localeCompare(b.id))
        .map(({ actors, ...member }) => ({
          ...member,
          actorsHeld: Object.keys(actors).length,
          actorsActive: Object.values(actors).filter((a) => a.state === 'Active').length,
          actorsAssigned: assignedPer.get(member.id) ?? 0,
          actors,
        })),
      pipelines: pipelines.map(({ pipeline, status }) => ({
        id: pipeline.id,
        status,
        partitions: pipeline.partitions,
        actors: Array.from({ length: pipeline.partitions }, (_, partition): ClusterActorView => {
          const name = actorName(pipeline.id, partition);
          const lease = parseHolder(leases.get(name) ?? null);
          const reported = lease ? states.get(`${lease.id}|${name}`) : undefined;
          return {
            partition,
            assignedTo: published?.actors[name] ?? null,
            leaseHolder: lease?.id ?? null,
            epoch: lease?.epoch ?? null,
            state: reported && reported.epoch === lease?.epoch ? reported.state : null,
          };
        }),
      })),
    };
  }

  /** Every actor's lease in one round trip. */
  private async leases(pipelines: ActivePipeline[]): Promise<Map<string, string | null>> {
    const names: string[] = [];
    const batch = this.redis.pipeline();
    for (const { pipeline } of pipelines) {
      for (let p = 0; p < pipeline.partitions; p++) {
        names.push(actorName(pipeline.id, p));
        batch.get(keys.lease(pipeline.id, p));
      }
    }
    if (names.length === 0) return new Map();
    const replies = (await batch.exec()) ?? [];
    return new Map(
      names.map((name, i) => {
        const reply = replies[i];
        return [name, reply && !reply[0] ? (reply[1] as string | null) : null];
      }),
    );
  }
}

/** `<id>:<epoch>` (ids may contain ':') -> parts. */
function parseHolder(value: string | null): { id: string; epoch: number } | null {
  if (value === null) return null;
  const at = value.lastIndexOf(':');
  if (at <= 0) return null;
  return { id: value.slice(0, at), epoch: Number(value.slice(at + 1)) };
}
