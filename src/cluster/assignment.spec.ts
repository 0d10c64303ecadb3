import {
  type ActorAssignment,
  actorsPerOwner,
  computeAssignment,
  movedActors,
  sameAssignment,
} from './assignment';

const spread = (a: ActorAssignment, owners: string[]) => {
  const counts = [...actorsPerOwner(a, owners).values()];
  return Math.max(...counts) - Math.min(...counts);
};

function perPipelineSpread(a: ActorAssignment, owners: string[], pipeline: string): number {
  const only = Object.fromEntries(
    Object.entries(a).filter(([name]) => name.startsWith(`${pipeline}/`)),
  );
  return spread(only, owners);
}

/** mulberry32, so a failing case can be replayed. */
function rng(seed: number) {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('computeAssignment', () => {
  const one = [{ id: 'orders', partitions: 16 }];

  it('assigns nothing without owners', () => {
    expect(computeAssignment({ pipelines: one, owners: [], previous: {} })).toEqual({});
  });

  it('places every actor, balanced within one, and is stable when nothing changed', () => {
    const owners = ['a', 'b', 'c'];
    const first = computeAssignment({ pipelines: one, owners, previous: {} });
    expect(Object.keys(first)).toHaveLength(16);
    expect(spread(first, owners)).toBeLessThanOrEqual(1);
    const again = computeAssignment({ pipelines: one, owners, previous: first });
    expect(sameAssignment(first, again)).toBe(true);
  });

  it('a join moves exactly the new owner share, a leave exactly the leaver actors', () => {
    const three = computeAssignment({ pipelines: one, owners: ['a', 'b', 'c'], previous: {} });
    const four = computeAssignment({
      pipelines: one,
      owners: ['a', 'b', 'c', 'd'],
      previous: three,
    });
    expect(movedActors(three, four)).toHaveLength(4);
    expect(spread(four, ['a', 'b', 'c', 'd'])).toBe(0);
    const left = computeAssignment({ pipelines: one, owners: ['a', 'c', 'd'], previous: four });
    const moved = movedActors(four, left);
    expect(moved.sort()).toEqual(
      Object.keys(four)
        .filter((n) => four[n] === 'b')
        .sort(),
    );
    expect(spread(left, ['a', 'c', 'd'])).toBeLessThanOrEqual(1);
  });

  it('adding a pipeline moves no existing actor', () => {
    const owners = ['a', 'b', 'c'];
    const before = computeAssignment({
      pipelines: [{ id: 'z', partitions: 7 }],
      owners,
      previous: {},
    });
    const after = computeAssignment({
      pipelines: [
        { id: 'z', partitions: 7 },
        { id: 'a', partitions: 5 },
      ],
      owners,
      previous: before,
    });
    expect(movedActors(before, after)).toEqual([]);
    expect(spread(after, owners)).toBeLessThanOrEqual(1);
  });

  it('random joins and leaves: always balanced overall and per pipeline, few moves', () => {
    const random = rng(7);
    for (let run = 0; run < 200; run += 1) {
      const pipelines = Array.from({ length: 1 + Math.floor(random() * 4) }, (_, i) => ({
        id: `p${i}`,
        partitions: 1 + Math.floor(random() * 24),
      }));
      const total = pipelines.reduce((sum, p) => sum + p.partitions, 0);
      let owners = ['o0', 'o1', 'o2'];
      let current = computeAssignment({ pipelines, owners, previous: {} });
      for (let step = 0; step < 6; step += 1) {
        const leaving = owners.length > 1 && random() < 0.5;
        let leaverHeld = 0;
        if (leaving) {
          const gone = owners[Math.floor(random() * owners.length)]!;
          leaverHeld = Object.values(current).filter((o) => o === gone).length;
          owners = owners.filter((o) => o !== gone);
        } else owners = [...owners, `o${run}-${step}`];
        const next = computeAssignment({ pipelines, owners, previous: current });
        expect(Object.keys(next)).toHaveLength(total);
        expect(spread(next, owners)).toBeLessThanOrEqual(1);
        for (const p of pipelines)
          expect(perPipelineSpread(next, owners, p.id)).toBeLessThanOrEqual(1);
        const moved = movedActors(current, next).length;
        // The least a join can move is the newcomer's share; a leave, the leaver's actors. Each
        // pipeline's ±1 may shift at most one more actor per pipeline.
        const least = leaving ? leaverHeld : Math.floor(total / owners.length);
        expect(moved).toBeLessThanOrEqual(least + pipelines.length);
        current = next;
      }
    }
  });
});
