import type { KeyHash } from '../mailbox/routing';
import { DedupState, SOURCE_IDLE_MS } from './dedup-state';
import { HashSet96, splitHash } from './hash-set96';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

/** A 96-bit value as the hasher gives it: low 64 bits, high 32. */
function k96(value: bigint): KeyHash {
  return { low: BigInt.asUintN(64, value), high: Number(BigInt.asUintN(32, value >> 64n)) };
}

function h(n: number): KeyHash {
  // Spread test keys over all 96 bits like real Hasher.hash96 values.
  return k96(BigInt(n) * 0x9e3779b97f4a7c15f39cc060n);
}

/** A hash as the bucket strings and forget lists hold it: 12 bytes, little endian. */
function hashBytes(hash: KeyHash): Buffer {
  const out = Buffer.alloc(12);
  out.writeBigUInt64LE(hash.low, 0);
  out.writeUInt32LE(hash.high, 8);
  return out;
}

/** A 64-bit hash as a version before 96-bit hashes wrote it: 8 bytes, little endian. */
function legacyBytes(hash: KeyHash): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(hash.low, 0);
  return out;
}

describe('HashSet96', () => {
  it('adds, finds, grows and round-trips its pending bytes', () => {
    const set = new HashSet96();
    // From h(1): h(0) is the all-zero hash, which a bucket string read back skips (forgotten).
    for (let i = 1; i <= 10_000; i++) expect(set.add(...splitHash(h(i)))).toBe(true);
    expect(set.add(...splitHash(h(5)))).toBe(false);
    expect(set.size).toBe(10_000);
    expect(set.has(...splitHash(h(10_000)))).toBe(true);
    expect(set.has(...splitHash(h(10_001)))).toBe(false);

    const copy = new HashSet96();
    copy.addBytes(set.pendingBytes());
    expect(copy.size).toBe(10_000);
    expect(copy.pendingSize).toBe(0);
    expect(copy.has(...splitHash(h(1_234)))).toBe(true);

    set.commit();
    set.add(...splitHash(h(20_000)));
    expect(set.pendingBytes()).toEqual(hashBytes(h(20_000)));
  });

  it('rolls back exactly the keys added since the commit, whatever their probe runs', () => {
    // A small table and many keys make long runs, so deletes must shift entries back.
    let seed = 7;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const set = new HashSet96();
    const kept: [number, number, number][] = [];
    for (let i = 0; i < 3_000; i++) {
      const key: [number, number, number] = [random(), random(), random()];
      set.add(...key);
      kept.push(key);
    }
    set.commit();
    const rolled: [number, number, number][] = [];
    for (let i = 0; i < 3_000; i++) {
      const key: [number, number, number] = [random(), random(), random()];
      set.add(...key);
      rolled.push(key);
    }
    set.add(0, 0, 0);
    set.rollback();
    expect(set.size).toBe(3_000);
    expect(set.pendingSize).toBe(0);
    expect(kept.every((k) => set.has(...k))).toBe(true);
    expect(rolled.some((k) => set.has(...k))).toBe(false);
    expect(set.has(0, 0, 0)).toBe(false);
  });

  it('keeps the zero hash apart from empty slots', () => {
    const set = new HashSet96();
    expect(set.has(0, 0, 0)).toBe(false);
    set.add(0, 0, 0);
    expect(set.has(0, 0, 0)).toBe(true);
    // Zero low lanes with a high one set are an ordinary key, not the empty-slot marker.
    expect(set.has(0, 0, 1)).toBe(false);
    set.add(0, 0, 1);
    expect(set.has(0, 0, 1)).toBe(true);
    expect(set.pendingBytes()).toEqual(
      Buffer.concat([Buffer.alloc(12), hashBytes(k96(2n ** 64n))]),
    );
  });

  it('is compact: at most 24 bytes per key growing, under 16.5 once compacted', () => {
    const set = new HashSet96();
    let worst = 0;
    for (let i = 1; i <= 300_000; i++) {
      set.add(...splitHash(h(i)));
      if (i % 1_000 === 0) {
        set.commit();
        if (i >= 10_000) worst = Math.max(worst, set.memoryBytes / set.size);
      }
    }
    // 24 right after a growth by 1.5 (half full), plus the kept pending list.
    expect(worst).toBeLessThanOrEqual(25);
    set.compact();
    expect(set.memoryBytes / set.size).toBeLessThan(16.5);
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
    expect(changes.appends.get(state.bucketOf(T0))).toEqual(
      Buffer.concat([hashBytes(h(1)), hashBytes(h(2))]),
    );
    state.commit();
    expect(state.hasChanges).toBe(false);
    state.add(h(4), T0, 'p/0', T0);
    expect(state.changes().appends.get(state.bucketOf(T0))).toEqual(hashBytes(h(4)));
  });

  it('forgets a key in the bucket of its time only, and tells the checkpoint to zero it', () => {
    const state = new DedupState(HOUR);
    const later = T0 + 3 * state.bucketMs;
    state.add(h(1), T0, 'p/0', T0);
    state.add(h(1), later + 2 * HOUR, 'p/0', T0);
    state.add(h(2), later, 'p/0', T0);
    state.commit();
    const bytes = (n: number) => hashBytes(h(n));
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
    const data = Buffer.concat([Buffer.alloc(24), hashBytes(h(5))]);
    state.load(state.bucketOf(T0), data);
    expect(state.size).toBe(1);
    expect(state.isDuplicate(h(5), T0)).toBe(true);
    expect(state.isDuplicate(k96(0n), T0)).toBe(false);
  });

  it('tells apart keys whose hashes share the low 64 bits and differ in the high 32', () => {
    // Two distinct events whose 64-bit hashes collide: before 96-bit hashes the second was
    // dropped as a duplicate of the first.
    const { low } = h(7);
    const first = { low, high: 0x11111111 };
    const second = { low, high: 0x22222222 };
    const state = new DedupState(HOUR);
    expect(state.seen(first, T0, 'p/0', T0)).toBe(false);
    expect(state.seen(second, T0, 'p/0', T0)).toBe(false);
    expect(state.seen(first, T0, 'p/0', T0)).toBe(true);
    expect(state.seen(second, T0, 'p/0', T0)).toBe(true);
    // And after a restore from the bucket strings the checkpoint wrote.
    const restored = new DedupState(HOUR);
    for (const [start, data] of state.changes().appends) restored.load(start, data);
    expect(restored.isDuplicate(first, T0)).toBe(true);
    expect(restored.isDuplicate(second, T0)).toBe(true);
    expect(restored.isDuplicate({ low, high: 0x33333333 }, T0)).toBe(false);
  });

  it('loads a bucket of 64-bit hashes an earlier version wrote and still finds its keys', () => {
    const state = new DedupState(HOUR);
    const start = state.bucketOf(T0);
    // Keys 1 and 2 recorded before the upgrade (8-byte records, one zeroed by a forget), key 3
    // after it, in the same time bucket's own string of 12-byte records.
    const old = Buffer.concat([legacyBytes(h(1)), Buffer.alloc(8), legacyBytes(h(2))]);
    state.load(start, old, 8);
    state.load(start, hashBytes(h(3)));
    expect(state.size).toBe(3);
    // The full 96-bit hash of an old key matches its record on the low 64 bits.
    expect(state.isDuplicate(h(1), T0)).toBe(true);
    expect(state.isDuplicate(h(2), T0 + 1)).toBe(true);
    expect(state.isDuplicate(h(3), T0)).toBe(true);
    expect(state.isDuplicate(h(4), T0)).toBe(false);
    expect(state.seen(h(1), T0, 'p/0', T0)).toBe(true);
    expect(state.seen(h(4), T0, 'p/0', T0)).toBe(false);
    // New keys are written as 12-byte records only, never into the old string.
    expect(state.changes().appends).toEqual(new Map([[start, hashBytes(h(4))]]));
    state.commit();

    // A row of an old key dead-lettered at insert: forgotten by its 8-byte hash, zeroed in the
    // old string; a rollback of that step brings it back.
    expect(state.forget(hashBytes(h(2)).subarray(0, 8), T0)).toBe(true);
    expect(state.isDuplicate(h(2), T0)).toBe(false);
    const changes = state.changes();
    expect(changes.forgottenLegacy).toEqual(new Map([[start, legacyBytes(h(2))]]));
    expect(changes.forgotten.size).toBe(0);
    state.rollback();
    expect(state.isDuplicate(h(2), T0)).toBe(true);

    // The bucket expires whole, old records with it.
    state.add(h(9), T0 + 3 * HOUR, 'p/0', T0 + SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([start]);
    state.commit();
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    expect(state.size).toBe(1);
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
    // 12-byte slots at a load of 1/2 to 3/4 (2/3 of that with 64-bit hashes, before 96).
    expect(perKey).toBeLessThan(25);
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
    expect(state.memoryBytes / state.size).toBeLessThan(17.5);
    expect(state.isDuplicate(h(49_999), T0)).toBe(true);
    // A late key for the compacted bucket still lands and is found.
    state.add(h(60_000), T0 + 1, 'p/0', 2);
    expect(state.isDuplicate(h(60_000), T0 + 2)).toBe(true);
    // The window moves on past both: their tables go.
    state.add(h(70_000), T0 + 3 * HOUR, 'p/0', SOURCE_IDLE_MS);
    expect(state.changes().expired).toHaveLength(2);
    state.commit();
    expect(state.size).toBe(1);
    // One small table and its pending list (64 keys) left, not the 50,000 keys' tables.
    expect(state.memoryBytes).toBeLessThan(1_200);
  });

  it('splits each hash for itself, whatever was looked up or added just before', () => {
    const state = new DedupState(HOUR);
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    state.add(h(2), T0, 'p/0', T0);
    expect(state.isDuplicate(h(2), T0)).toBe(true);
    expect(state.isDuplicate(h(1), T0)).toBe(false);
    // A hash equal in value but another object, and the all-zero and all-one hashes.
    expect(state.isDuplicate({ ...h(2) }, T0)).toBe(true);
    state.add(k96(0n), T0, 'p/0', T0);
    state.add(k96(2n ** 96n - 1n), T0, 'p/0', T0);
    expect(state.isDuplicate(k96(0n), T0)).toBe(true);
    expect(state.isDuplicate(k96(2n ** 96n - 1n), T0)).toBe(true);
    expect(state.isDuplicate(k96(0xffffffffffffffff00000000n), T0)).toBe(false);
    expect(state.isDuplicate(k96(0xffffffff00000000ffffffffn), T0)).toBe(false);
    expect(state.isDuplicate(k96(0x00000000ffffffffffffffffn), T0)).toBe(false);
    expect(splitHash(k96(0x0badf00dfedcba9876543210n))).toEqual([
      0x76543210, 0xfedcba98, 0x0badf00d,
    ]);
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
    expect([...state.changes().appends.values()].map((b) => b.length)).toEqual([12]);
  });
});

describe('HashSet96 single-probe add', () => {
  it('finds an existing key before placing, at every fill level up to a growth', () => {
    const set = new HashSet96(8);
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
