import { loadHasher, partitionOfPosition } from './routing';

describe('routing', () => {
  it('is stable: known xxhash64 values and partitions', async () => {
    const hasher = await loadHasher();
    expect(hasher.hash64('abc')).toBe(4952883123889572249n);
    expect(hasher.partitionOf('abc', 16)).toBe(Number(4952883123889572249n % 16n));
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
