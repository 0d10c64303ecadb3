import { type JoinChanges, type JoinEvent, type JoinOptions, JoinState } from './join-state';

const WINDOW = 10_000;
const BASE = 1_767_225_600_000;

function options(type: 'inner' | 'left' = 'inner'): JoinOptions {
  return {
    type,
    windowMs: WINDOW,
    latenessMs: 0,
    idleTimeoutMs: 60_000,
    leftTopic: 'orders',
    rightTopic: 'customers',
  };
}

let offset = 0;
function ev(key: string, dt: number, value: Record<string, unknown> = {}): JoinEvent {
  offset += 1;
  return { key, time: BASE + dt, partition: 0, offset, value: { id: offset, ...value } };
}

/** Both sources report progress up to `dt`, so the watermark becomes BASE + dt. */
function progress(state: JoinState, dt: number, now = 0): void {
  state.observe('orders', 0, { maxTime: BASE + dt, partitions: 1 }, now);
  state.observe('customers', 0, { maxTime: BASE + dt, partitions: 1 }, now);
}

const ids = (pairs: unknown) =>
  (pairs as { left: JoinEvent; right?: JoinEvent }[]).map((p) => [
    p.left.value.id,
    p.right?.value.id,
  ]);

/** What Redis holds after the checkpoints: APPENDed strings, deleted when released. */
class FakeRedis {
  readonly buckets = new Map<string, { data: Buffer; matched: Buffer }>();
  meta = '';
  write(changes: JoinChanges): void {
    const get = (side: string, start: number) => {
      const key = `${side}:${start}`;
      let b = this.buckets.get(key);
      if (!b) this.buckets.set(key, (b = { data: Buffer.alloc(0), matched: Buffer.alloc(0) }));
      return b;
    };
    for (const a of changes.appends) {
      const b = get(a.side, a.start);
      b.data = Buffer.concat([b.data, a.data]);
    }
    for (const m of changes.matched) {
      const b = get(m.side, m.start);
      b.matched = Buffer.concat([b.matched, m.data]);
    }
    for (const r of changes.released) this.buckets.delete(`${r.side}:${r.start}`);
    this.meta = changes.meta;
  }
  restore(type: 'inner' | 'left'): JoinState {
    const state = new JoinState(options(type));
    state.restoreMeta(this.meta, 0);
    for (const [key, b] of this.buckets) {
      const [side, start] = key.split(':');
      state.load(side as 'left' | 'right', Number(start), b.data, b.matched);
    }
    return state;
  }
}

describe('JoinState', () => {
  it('counts the bytes of buffered events its next checkpoint appends', () => {
    const s = new JoinState(options());
    s.offer('left', ev('a', 0, { pad: 'x'.repeat(100_000) }));
    s.offer('right', ev('b', 0, { pad: 'y'.repeat(50_000) }));
    expect(s.pendingAppendBytes).toBeGreaterThan(150_000);
    expect(s.pendingAppendBytes).toBeLessThan(151_000);
    const appended = s.changes().appends.reduce((sum, a) => sum + a.data.length, 0);
    expect(s.pendingAppendBytes).toBe(appended);
    s.commit();
    expect(s.pendingAppendBytes).toBe(0);
  });

  it('joins within the window, inclusive at exactly the window, not 1 ms beyond', () => {
    const s = new JoinState(options());
    const l = ev('a', 0);
    s.offer('left', l);
    expect(ids(s.offer('right', ev('a', WINDOW)))).toEqual([[l.value.id, offset]]);
    expect(s.offer('right', ev('a', WINDOW + 1))).toEqual([]);
    expect(ids(s.offer('right', ev('a', -WINDOW)))).toEqual([[l.value.id, offset]]);
    expect(s.offer('right', ev('a', -WINDOW - 1))).toEqual([]);
    expect(s.offer('right', ev('b', 0))).toEqual([]);
    expect(s.counters.joined).toBe(2);
  });

  it('is one-to-many both ways and emits each pair once, when its second event arrives', () => {
    const s = new JoinState(options());
    const r1 = ev('k', 0);
    const r2 = ev('k', 1_000);
    expect(s.offer('right', r1)).toEqual([]);
    expect(s.offer('right', r2)).toEqual([]);
    const l1 = ev('k', 500);
    expect(ids(s.offer('left', l1))).toEqual([
      [l1.value.id, r1.value.id],
      [l1.value.id, r2.value.id],
    ]);
    const l2 = ev('k', 600);
    expect(ids(s.offer('left', l2))).toEqual([
      [l2.value.id, r1.value.id],
      [l2.value.id, r2.value.id],
    ]);
    const r3 = ev('k', 700);
    expect(ids(s.offer('right', r3))).toEqual([
      [l1.value.id, r3.value.id],
      [l2.value.id, r3.value.id],
    ]);
    expect(s.counters.joined).toBe(6);
  });

  it('calls an event older than the watermark late and buffers nothing for it', () => {
    const s = new JoinState(options());
    progress(s, 50_000);
    s.advance(0);
    expect(s.watermark.value).toBe(BASE + 50_000);
    expect(s.offer('left', ev('a', 49_999))).toBe('late');
    expect(s.offer('left', ev('a', 50_000))).toEqual([]);
    expect(s.counters.late).toBe(1);
    expect(s.size.records).toBe(1);
  });

  it('releases passed buckets: left join writes unmatched lefts once, inner counts them', () => {
    for (const type of ['inner', 'left'] as const) {
      const s = new JoinState(options(type));
      const alone = ev('solo', 0);
      s.offer('left', alone);
      s.offer('left', ev('pair', 0));
      s.offer('right', ev('pair', 100));
      s.offer('right', ev('nobody', 0));
      progress(s, WINDOW); // the window of the events is not over yet
      expect(s.advance(0)).toEqual([]);
      progress(s, 5 * WINDOW);
      const out = s.advance(0);
      expect(ids(out)).toEqual(type === 'left' ? [[alone.value.id, undefined]] : []);
      expect(s.counters).toMatchObject({ joined: 1, unmatchedLeft: 1, expiredRight: 1 });
      expect(s.size).toEqual({ records: 0, buckets: 0 });
      expect(s.advance(0)).toEqual([]);
      expect(s.changes().released).toHaveLength(2);
    }
  });

  it('restores from what its checkpoints wrote, matched flags included', () => {
    const redis = new FakeRedis();
    const s = new JoinState(options('left'));
    const l1 = ev('x', 0, { name: 'first' });
    s.offer('left', l1);
    s.offer('left', ev('y', 0));
    redis.write(s.changes());
    s.commit();
    expect(s.changes().appends).toEqual([]);
    // Matched after it was checkpointed: the flag goes to the matched-flags string.
    s.offer('right', ev('x', 10));
    redis.write(s.changes());
    s.commit();

    const restored = redis.restore('left');
    expect(restored.size.records).toBe(3);
    const r2 = ev('x', 20);
    expect(ids(restored.offer('right', r2))).toEqual([[l1.value.id, r2.value.id]]);
    progress(restored, 5 * WINDOW);
    const out = restored.advance(0);
    // Only `y` comes out alone; `x` had partners before and after the restart.
    expect(out.map((p) => p.left.key)).toEqual(['y']);
    expect(out[0]?.left.value).toEqual({ id: expect.any(Number) });
    redis.write(restored.changes());
    expect(redis.buckets.size).toBe(0);
  });

  it('releases a hot key bucket by bucket in linear time', () => {
    const s = new JoinState(options('inner'));
    const HOT = 50_000;
    // Half in the first bucket, half a window later: releasing the first keeps the second half.
    for (let i = 0; i < HOT; i++) s.offer('left', ev('hot', i < HOT / 2 ? 0 : 3 * WINDOW));
    expect(s.size.records).toBe(HOT);
    progress(s, 2 * WINDOW + 1);
    s.advance(0);
    expect(s.size.records).toBe(HOT / 2);
    const r = ev('hot', 3 * WINDOW);
    expect(s.offer('right', r)).toHaveLength(HOT / 2);
  });

  it("keeps an event's Kafka timestamp and trace context through a restore (optional fields)", () => {
    const redis = new FakeRedis();
    const s = new JoinState(options('inner'));
    const tp = `00-${'ab'.repeat(16)}-00f067aa0ba902b7-01`;
    const l1 = { ...ev('x', 0), timestamp: BASE + 7, traceparent: tp };
    const l2 = { ...ev('y', 0), timestamp: BASE + 8 };
    s.offer('left', l1);
    s.offer('left', l2);
    s.offer('left', ev('z', 0));
    redis.write(s.changes());
    const restored = redis.restore('inner');
    const lefts = ['x', 'y', 'z'].map((key) => {
      const pairs = restored.offer('right', ev(key, 1));
      return pairs === 'late' ? undefined : pairs[0]?.left;
    });
    expect(lefts.map((l) => [l?.timestamp, l?.traceparent])).toEqual([
      [BASE + 7, tp],
      [BASE + 8, undefined],
      [undefined, undefined],
    ]);
  });
});
