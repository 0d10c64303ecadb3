import { loadHasher, partitionOfPosition } from './routing';

describe('routing', () => {
  it('is stable: known xxhash64 values and partitions', async () => {
    const hasher = await loadHasher();
    expect(hasher.hash64('abc')).toBe(4952883123889572249n);
    expect(hasher.partitionOf('abc', 16)).toBe(Number(4952883123889572249n % 16n));
  });

  it('is stable: known 96-bit dedup hashes, whose low 64 bits are the 64-bit hash', async () => {
    const hasher = await loadHasher();
    // xxhash32('abc', seed 0x9e3779b1) = 0xa1ae7709 above xxhash64('abc') = 0x44bc2cf5ad770999.
    expect(hasher.hash96('abc')).toEqual({ low: 0x44bc2cf5ad770999n, high: 0xa1ae7709 });
    for (const text of ['', 'abc', 'orders\u0000o-1', 'ünïcode ✓']) {
      const { low, high } = hasher.hash96(text);
      expect(low).toBe(hasher.hash64(text));
      expect(high >>> 0).toBe(high);
    }
  });

  it('spreads keys over all partitions', async () => {
    const hasher = await loadHasher();
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i += 1) counts[hasher.partitionOf(`event-${i}`, 16)]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(800);
    expect(Math.max(...counts)).toBeLessThan(1200);
  });

  it('routes a position the same way every time', async () => {
    const hasher = await loadHasher();
    const a = partitionOfPosition(hasher, 'orders', 2, 12345, 16);
    expect(partitionOfPosition(hasher, 'orders', 2, 12345, 16)).toBe(a);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(16);
  });
});
