import type { SluiceProcess } from './sluice-process';

export interface ClusterActor {
  partition: number;
  assignedTo: string | null;
  leaseHolder: string | null;
  epoch: number | null;
  state: string | null;
}

export interface ClusterMember {
  id: string;
  pid: number;
  roles: string[];
  port: number | null;
  alive: boolean;
  heartbeatAgeMs: number;
  actorsHeld: number;
  actorsActive: number;
  actorsAssigned: number;
  actors: Record<string, { state: string; epoch: number }>;
}

export interface ClusterState {
  coordinator: { id: string; epoch: number } | null;
  assignment: { version: number; owners: string[] } | null;
  members: ClusterMember[];
  pipelines: { id: string; actors: ClusterActor[]; lag: number | null }[];
}

/** GET /api/v1/cluster without the Kafka lag (cheap enough to poll). */
export async function clusterState(proc: SluiceProcess, lag = false): Promise<ClusterState> {
  const { status, body } = await proc.get(`/api/v1/cluster${lag ? '' : '?lag=false'}`);
  if (status !== 200) throw new Error(`GET /api/v1/cluster: ${status} ${JSON.stringify(body)}`);
  return body as ClusterState;
}

export function actorsOf(state: ClusterState, pipeline: string): ClusterActor[] {
  return state.pipelines.find((p) => p.id === pipeline)?.actors ?? [];
}

/**
 * Settled: exactly `owners` are the live owners, every actor is Active on the owner it is
 * assigned to. Returns the actors per owner then, else undefined.
 */
export function settledCounts(
  state: ClusterState,
  pipeline: string,
  owners: readonly string[],
): Map<string, number> | undefined {
  const live = state.members
    .filter((m) => m.alive && m.roles.includes('owner'))
    .map((m) => m.id)
    .sort();
  const wanted = [...owners].sort().join(',');
  if (live.join(',') !== wanted) return undefined;
  // The coordinator has placed the actors over exactly these owners.
  if ([...(state.assignment?.owners ?? [])].sort().join(',') !== wanted) return undefined;
  const actors = actorsOf(state, pipeline);
  if (actors.length === 0) return undefined;
  const counts = new Map<string, number>(owners.map((o) => [o, 0]));
  for (const a of actors) {
    if (a.state !== 'Active' || a.leaseHolder === null || a.leaseHolder !== a.assignedTo) {
      return undefined;
    }
    if (!counts.has(a.leaseHolder)) return undefined;
    counts.set(a.leaseHolder, counts.get(a.leaseHolder)! + 1);
  }
  return counts;
}
