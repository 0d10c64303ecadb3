import { DedupState, SOURCE_IDLE_MS } from './dedup-state';
import { HashSet64, splitHash } from './hash-set64';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

function h(n: number): bigint {
  // Spread test keys over all 64 bits like real xxhash64 values.
  return (BigInt(n) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
}

describe('HashSet64', () => {
  it('adds, finds, grows and round-trips its pending bytes', () => {
    const set = new HashSet64();
    // From h(1): h(0) is the all-zero hash, which a bucket string read back skips (forgotten).
    for (let i = 1; i <= 10_000; i++) expect(set.add(...splitHash(h(i)))).toBe(true);
    expect(set.add(...splitHash(h(5)))).toBe(false);
    expect(set.size).toBe(10_000);
    expect(set.has(...splitHash(h(10_000)))).toBe(true);
    expect(set.has(...splitHash(h(10_001)))).toBe(false);

    const copy = new HashSet64();
    copy.addBytes(set.pendingBytes());
    expect(copy.size).toBe(10_000);
    expect(copy.pendingSize).toBe(0);
    expect(copy.has(...splitHash(h(1_234)))).toBe(true);

    set.commit();
    set.add(...splitHash(h(20_000)));
    expect(set.pendingBytes()).toEqual(Buffer.from(new BigUint64Array([h(20_000)]).buffer));
  });

  it('rolls back exactly the keys added since the commit, whatever their probe runs', () => {
    // A small table and many keys make long runs, so deletes must shift entries back.
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const set = new HashSet64();
    const kept: [number, number][] = [];
    for (let i = 0; i < 3_000; i++) {
      const key: [number, number] = [random(), random()];
      set.add(...key);
      kept.push(key);
    }
    set.commit();
    const rolled: [number, number][] = [];
    for (let i = 0; i < 3_000; i++) {
      const key: [number, number] = [random(), random()];
      set.add(...key);
      rolled.push(key);
    }
    set.add(0, 0);
    set.rollback();
    expect(set.size).toBe(3_000);
    expect(set.pendingSize).toBe(0);
    expect(kept.every((k) => set.has(...k))).toBe(true);
    expect(rolled.some((k) => set.has(...k))).toBe(false);
    expect(set.has(0, 0)).toBe(false);
  });

  it('keeps the zero hash apart from empty slots', () => {
    const set = new HashSet64();
    expect(set.has(0, 0)).toBe(false);
    set.add(0, 0);
    expect(set.has(0, 0)).toBe(true);
    expect(set.pendingBytes()).toEqual(Buffer.alloc(8));
  });

  it('is compact: at most 16 bytes per key growing, under 11 once compacted', () => {
    const set = new HashSet64();
    let worst = 0;
    for (let i = 1; i <= 300_000; i++) {
      set.add(...splitHash(h(i)));
      if (i % 1_000 === 0) {
        set.commit();
        if (i >= 10_000) worst = Math.max(worst, set.memoryBytes / set.size);
      }
    }
    // 16 right after a growth by 1.5 (half full), plus the kept pending list.
    expect(worst).toBeLessThanOrEqual(17);
    set.compact();
    expect(set.memoryBytes / set.size).toBeLessThan(11);
    expect(set.has(...splitHash(h(123_456)))).toBe(true);
    expect(set.has(...splitHash(h(300_001)))).toBe(false);
  });
});

describe('DedupState', () => {
  it('keeps the first within the window and writes again after it', () => {
    const state = new DedupState(HOUR);
    expect(state.seen(h(1), T0, 'p/0', T0)).toBe(false);
    expect(state.seen(h(1), T0 + 10 * 60_000, 'p/0', T0 + 10 * 60_000)).toBe(true);
    expect(state.seen(h(2), T0, 'p/0', T0)).toBe(false);
    // Well past the window (plus one bucket of slack): written again.
    expect(
      state.seen(h(1), T0 + HOUR + state.bucketMs + 1, 'p/0', T0 + HOUR + state.bucketMs + 1),
    ).toBe(false);
  });

  it('honours the window to within one bucket', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'p/0', T0);
    expect(state.isDuplicate(h(1), T0 + HOUR - state.bucketMs)).toBe(true);
    expect(state.isDuplicate(h(1), T0 + HOUR + state.bucketMs)).toBe(false);
    // Out-of-order event time before the first one, within the window: still a duplicate.
    expect(state.isDuplicate(h(1), T0 - 10 * 60_000)).toBe(true);
  });

  it('reports pending appends per bucket and commits them', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'p/0', T0);
    state.add(h(2), T0 + 1, 'p/0', T0 + 1);
    state.add(h(3), T0 + state.bucketMs, 'p/0', T0 + state.bucketMs);
    const changes = state.changes();
    expect([...changes.appends.keys()].sort()).toEqual([
      state.bucketOf(T0),
      state.bucketOf(T0 + state.bucketMs),
    ]);
    expect(changes.appends.get(state.bucketOf(T0))).toHaveLength(16);
    state.commit();
    expect(state.hasChanges).toBe(false);
    state.add(h(4), T0, 'p/0', T0);
    expect(state.changes().appends.get(state.bucketOf(T0))).toHaveLength(8);
  });

  it('forgets a key in the bucket of its time only, and tells the checkpoint to zero it', () => {
    const state = new DedupState(HOUR);
    const later = T0 + 3 * state.bucketMs;
    state.add(h(1), T0, 'p/0', T0);
    state.add(h(1), later + 2 * HOUR, 'p/0', T0);
    state.add(h(2), later, 'p/0', T0);
    state.commit();
    const bytes = (n: number) => {
      const [lo, hi] = splitHash(h(n));
      const out = Buffer.alloc(8);
      out.writeUInt32LE(lo, 0);
      out.writeUInt32LE(hi, 4);
      return out;
    };
    expect(state.forget(bytes(1), T0 + 1)).toBe(true);
    expect(state.forget(bytes(1), T0 + 1)).toBe(false);
    expect(state.forget(bytes(3), later)).toBe(false);
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    // The same key recorded for a later event, in another bucket, stays.
    expect(state.isDuplicate(h(1), later + 2 * HOUR)).toBe(true);
    expect(state.isDuplicate(h(2), later)).toBe(true);
    expect(state.hasChanges).toBe(true);
    const changes = state.changes();
    expect(changes.forgotten).toEqual(new Map([[state.bucketOf(T0), bytes(1)]]));
    expect(changes.appends.size).toBe(0);
    state.commit();
    expect(state.hasChanges).toBe(false);
    expect(state.changes().forgotten.size).toBe(0);
    // Seen again after the forget: recorded again.
    expect(state.seen(h(1), T0, 'p/0', T0)).toBe(false);
    expect(state.isDuplicate(h(1), T0)).toBe(true);
  });

  it('skips zeroed (forgotten) entries of a bucket string on load', () => {
    const state = new DedupState(HOUR);
    const data = Buffer.alloc(24);
    const [lo, hi] = splitHash(h(5));
    data.writeUInt32LE(lo, 16);
    data.writeUInt32LE(hi, 20);
    state.load(state.bucketOf(T0), data);
    expect(state.size).toBe(1);
    expect(state.isDuplicate(h(5), T0)).toBe(true);
    expect(state.isDuplicate(0n, T0)).toBe(false);
  });

  it('rolls back uncommitted adds', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'p/0', T0);
    state.commit();
    state.add(h(2), T0, 'p/0', T0);
    state.add(h(3), T0 + 5 * state.bucketMs, 'p/0', T0 + 5 * state.bucketMs);
    state.rollback();
    expect(state.isDuplicate(h(1), T0)).toBe(true);
    expect(state.isDuplicate(h(2), T0)).toBe(false);
    expect(state.isDuplicate(h(3), T0 + 5 * state.bucketMs)).toBe(false);
    expect(state.bucketCount).toBe(1);
    expect(state.hasChanges).toBe(false);
  });

  it('expires buckets a window older than the newest event time of the source', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'p/0', 0);
    state.commit();
    state.add(h(2), T0 + 2 * HOUR, 'p/0', SOURCE_IDLE_MS);
    const changes = state.changes();
    expect(changes.expired).toEqual([state.bucketOf(T0)]);
    state.commit();
    expect(state.bucketCount).toBe(1);
    // A late event for an expired bucket is not kept.
    state.add(h(3), T0, 'p/0', SOURCE_IDLE_MS + 1);
    expect(state.hasChanges).toBe(false);
  });

  it('expiry follows the slowest active source partition, not the fastest', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'orders/0', 0);
    // Another partition read far ahead in event time (a replay, a clock far ahead)...
    state.add(h(2), T0 + 2 * HOUR, 'orders/1', SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([]);
    state.commit();
    // ...does not expire what the slower partition still needs.
    state.add(h(3), T0 + 1_000, 'orders/0', SOURCE_IDLE_MS + 1);
    expect(state.isDuplicate(h(1), T0 + 500)).toBe(true);
    // Once the slower one has moved on too, the old bucket goes.
    state.add(h(4), T0 + 2 * HOUR, 'orders/0', SOURCE_IDLE_MS + 2);
    expect(state.changes().expired).toEqual([state.bucketOf(T0)]);
  });

  it('never expires past a window below the source floor (a join watermark held by a backlog)', () => {
    let floor = Number.NEGATIVE_INFINITY;
    const state = new DedupState(HOUR, () => floor);
    state.add(h(1), T0, 'orders/0', 0);
    state.add(h(2), T0 + 3 * HOUR, 'orders/0', SOURCE_IDLE_MS);
    state.add(h(3), T0 + 3 * HOUR, 'orders/0', SOURCE_IDLE_MS + 1);
    // orders/1 has sent nothing yet (not fetched, paused): its backlog holds the watermark.
    expect(state.changes().expired).toEqual([]);
    expect(state.isDuplicate(h(1), T0 + 1_000)).toBe(true);
    floor = T0 + HOUR + 2 * state.bucketMs;
    state.add(h(4), T0 + 3 * HOUR, 'orders/0', SOURCE_IDLE_MS + 2);
    expect(state.changes().expired).toEqual([state.bucketOf(T0)]);
  });

  it('a source partition quiet for SOURCE_IDLE_MS no longer holds expiry back', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'orders/0', 0);
    state.add(h(2), T0 + 2 * HOUR, 'orders/1', 1_000);
    expect(state.changes().expired).toEqual([]);
    state.add(h(3), T0 + 2 * HOUR, 'orders/1', SOURCE_IDLE_MS + 1);
    expect(state.changes().expired).toEqual([state.bucketOf(T0)]);
  });

  it('expires nothing until every source had SOURCE_IDLE_MS to report', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'orders/0', 0);
    state.add(h(2), T0 + 2 * HOUR, 'orders/1', SOURCE_IDLE_MS - 1);
    state.add(h(3), T0 + 2 * HOUR, 'orders/0', SOURCE_IDLE_MS - 1);
    expect(state.changes().expired).toEqual([]);
  });

  it('after every source was quiet, waits again for all to report before expiring', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'orders/0', 0);
    state.add(h(2), T0, 'orders/1', SOURCE_IDLE_MS);
    state.changes();
    state.commit();
    // Five minutes of silence, then one partition comes back far ahead in event time.
    const back = SOURCE_IDLE_MS + 300_000;
    state.add(h(3), T0 + 2 * HOUR, 'orders/1', back);
    expect(state.changes().expired).toEqual([]);
    expect(state.isDuplicate(h(1), T0)).toBe(true);
  });

  it('restores from bucket strings', () => {
    const a = new DedupState(HOUR);
    for (let i = 0; i < 1_000; i++) a.add(h(i + 1), T0 + i * 1_000, 'p/0', T0 + i * 1_000);
    const { appends } = a.changes();
    const b = new DedupState(HOUR);
    for (const [start, data] of appends) b.load(start, data);
    expect(b.size).toBe(1_000);
    expect(b.hasChanges).toBe(false);
    expect(b.isDuplicate(h(500), T0 + 500_000)).toBe(true);
    expect(b.isDuplicate(h(5_000), T0)).toBe(false);
  });

  it('measures in-process memory per key', () => {
    const state = new DedupState(7 * 24 * HOUR);
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      state.add(h(i), T0 + i * 1_000, 'p/0', T0 + i * 1_000);
      if (i % 1_000 === 999) state.commit();
    }
    const perKey = state.memoryBytes / state.size;
    process.stdout.write(`dedup in-process memory: ${perKey.toFixed(1)} bytes/key\n`);
    expect(perKey).toBeLessThan(16.5);
  });

  it('compacts a bucket once it is no longer the newest, and releases expired ones', () => {
    const state = new DedupState(HOUR);
    for (let i = 0; i < 50_000; i++) state.add(h(i), T0, 'p/0', 0);
    state.commit();
    const open = state.memoryBytes;
    // The next bucket opens: the first one takes no new keys and is cut down to fit.
    state.add(h(50_000), T0 + state.bucketMs, 'p/0', 1);
    state.commit();
    expect(state.memoryBytes).toBeLessThan(open);
    expect(state.memoryBytes / state.size).toBeLessThan(11.5);
    expect(state.isDuplicate(h(49_999), T0)).toBe(true);
    // A late key for the compacted bucket still lands and is found.
    state.add(h(60_000), T0 + 1, 'p/0', 2);
    expect(state.isDuplicate(h(60_000), T0 + 2)).toBe(true);
    // The window moves on past both: their tables go.
    state.add(h(70_000), T0 + 3 * HOUR, 'p/0', SOURCE_IDLE_MS);
    expect(state.changes().expired).toHaveLength(2);
    state.commit();
    expect(state.size).toBe(1);
    expect(state.memoryBytes).toBeLessThan(1_000);
  });

  it('splits each hash for itself, whatever was looked up or added just before', () => {
    const state = new DedupState(HOUR);
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    state.add(h(2), T0, 'p/0', T0);
    expect(state.isDuplicate(h(2), T0)).toBe(true);
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    // A hash equal in value but another bigint, and the all-zero and all-one hashes.
    expect(state.isDuplicate(BigInt(`${h(2)}`), T0)).toBe(true);
    state.add(0n, T0, 'p/0', T0);
    state.add(0xffffffffffffffffn, T0, 'p/0', T0);
    expect(state.isDuplicate(0n, T0)).toBe(true);
    expect(state.isDuplicate(0xffffffffffffffffn, T0)).toBe(true);
    expect(state.isDuplicate(0xffffffff00000000n, T0)).toBe(false);
    expect(state.isDuplicate(0x00000000ffffffffn, T0)).toBe(false);
    expect(splitHash(0xfedcba9876543210n)).toEqual([0x76543210, 0xfedcba98]);
  });

  it('adds into a bucket a rollback dropped, and reports it', () => {
    const state = new DedupState(HOUR);
    state.add(h(1), T0, 'p/0', T0);
    state.rollback();
    expect(state.bucketCount).toBe(0);
    state.add(h(2), T0, 'p/0', T0);
    expect(state.bucketCount).toBe(1);
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    expect(state.isDuplicate(h(2), T0)).toBe(true);
    expect([...state.changes().appends.values()].map((b) => b.length)).toEqual([8]);
  });
});

describe('HashSet64 single-probe add', () => {
  it('finds an existing key before placing, at every fill level up to a growth', () => {
    const set = new HashSet64(8);
    for (let i = 1; i <= 5_000; i++) {
      expect(set.add(...splitHash(h(i)))).toBe(true);
      expect(set.add(...splitHash(h(i)))).toBe(false);
      expect(set.add(...splitHash(h(1 + (i >> 1))))).toBe(false);
    }
    expect(set.size).toBe(5_000);
    expect(set.pendingSize).toBe(5_000);
    for (let i = 1; i <= 5_000; i++) expect(set.has(...splitHash(h(i)))).toBe(true);
  });
});
