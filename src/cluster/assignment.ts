/**
 * Sticky, balanced placement of partition actors over owner processes. Pure: no Nest, no I/O.
 *
 * Guarantees, for any input:
 * - every actor of every given pipeline has exactly one owner (when there is any owner);
 * - per pipeline, owners hold floor(n/m) or ceil(n/m) of its n actors (spreads each pipeline);
 * - over all pipelines, owners' totals differ by at most one: each pipeline's extra actors go to
 *   the owners with the smallest running totals, which keeps the totals within {t, t+1};
 * - sticky: an actor stays with its previous owner while that owner is live and under its quota,
 *   and ties in who gets a pipeline's extra actors favour owners already holding more of it, so a
 *   join moves about n/(m+1) actors and a leave moves the leaver's actors.
 * Pipelines that already had an assignment are placed first, so adding a pipeline never moves
 * existing actors.
 */

/** Actor name -> owner instance id. */
export type ActorAssignment = Record<string, string>;

export interface PlacementInput {
  pipelines: ReadonlyArray<{ id: string; partitions: number }>;
  /** Live owner processes. */
  owners: readonly string[];
  previous: Readonly<ActorAssignment>;
}

export function actorName(pipeline: string, partition: number): string {
  return `${pipeline}/${partition}`;
}

export function computeAssignment(input: PlacementInput): ActorAssignment {
  const owners = [...new Set(input.owners)].sort();
  const result: ActorAssignment = {};
  if (owners.length === 0) return result;
  const live = new Set(owners);
  const totals = new Map<string, number>(owners.map((o) => [o, 0]));
  const known = (id: string, partitions: number) =>
    Array.from({ length: partitions }, (_, p) => input.previous[actorName(id, p)]).some(
      (o) => o !== undefined,
    );
  const pipelines = [...input.pipelines].sort(
    (a, b) =>
      Number(known(b.id, b.partitions)) - Number(known(a.id, a.partitions)) ||
      a.id.localeCompare(b.id),
  );
  for (const { id, partitions } of pipelines) {
    const names = Array.from({ length: partitions }, (_, p) => actorName(id, p));
    const held = new Map<string, number>();
    for (const name of names) {
      const owner = input.previous[name];
      if (owner !== undefined && live.has(owner)) held.set(owner, (held.get(owner) ?? 0) + 1);
    }
    const base = Math.floor(partitions / owners.length);
    const extra = partitions % owners.length;
    const order = [...owners].sort(
      (a, b) =>
        totals.get(a)! - totals.get(b)! ||
        (held.get(b) ?? 0) - (held.get(a) ?? 0) ||
        a.localeCompare(b),
    );
    const quota = new Map<string, number>(order.map((o, i) => [o, base + (i < extra ? 1 : 0)]));
    const unplaced: string[] = [];
    for (const name of names) {
      const owner = input.previous[name];
      const left = owner === undefined ? 0 : (quota.get(owner) ?? 0);
      if (owner !== undefined && left > 0) {
        result[name] = owner;
        quota.set(owner, left - 1);
      } else unplaced.push(name);
    }
    let cursor = 0;
    for (const name of unplaced) {
      while ((quota.get(order[cursor]!) ?? 0) === 0) cursor += 1;
      const owner = order[cursor]!;
      result[name] = owner;
      quota.set(owner, quota.get(owner)! - 1);
    }
    for (const name of names) {
      const owner = result[name]!;
      totals.set(owner, totals.get(owner)! + 1);
    }
  }
  return result;
}

/** Actors whose owner differs between two assignments (new and removed actors not counted). */
export function movedActors(before: Readonly<ActorAssignment>, after: Readonly<ActorAssignment>) {
  return Object.keys(after).filter(
    (name) => before[name] !== undefined && before[name] !== after[name],
  );
}

/** Actors per owner; owners with none are listed with 0. */
export function actorsPerOwner(
  assignment: Readonly<ActorAssignment>,
  owners: readonly string[],
): Map<string, number> {
  const counts = new Map<string, number>(owners.map((o) => [o, 0]));
  for (const owner of Object.values(assignment)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return counts;
}

export function sameAssignment(
  a: Readonly<ActorAssignment>,
  b: Readonly<ActorAssignment>,
): boolean {
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((name) => a[name] === b[name]);
}
