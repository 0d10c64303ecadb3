import { batchDeadline } from './batch-deadline';

describe('batchDeadline', () => {
  const delay = 1_000;

  it('never lets a row wait longer than maxDelay, nor closes a batch before half of it', () => {
    for (let partition = 0; partition < 16; partition += 1) {
      for (let openedAt = 1_700_000_000_000; openedAt < 1_700_000_002_000; openedAt += 37) {
        const due = batchDeadline(openedAt, delay, partition, 16);
        expect(due).toBeLessThanOrEqual(openedAt + delay);
        expect(due).toBeGreaterThanOrEqual(openedAt + delay / 2);
      }
    }
  });

  it('closes a batch opened just after a grid point of its partition at the next one', () => {
    const second = 1_700_000_000_000;
    const dues = Array.from({ length: 4 }, (_, p) =>
      batchDeadline(second + p * 250 + 3, delay, p, 4),
    );
    expect(dues.map((d) => d - second)).toEqual([1_000, 1_250, 1_500, 1_750]);
  });

  it('spreads the batches of actors that open at the same instant over maxDelay', () => {
    const openedAt = 1_700_000_000_123;
    const phases = new Set<number>();
    for (let p = 0; p < 16; p += 1) {
      // a steady stream: each batch opens 5 ms after the previous one closed; the first ones
      // may be shorter (opened too close before a grid point), then they close on the grid
      let due = openedAt;
      for (let i = 0; i < 3; i += 1) due = batchDeadline(due + 5, delay, p, 16);
      for (let i = 0; i < 5; i += 1) {
        const next = batchDeadline(due + 5, delay, p, 16);
        expect(next - due).toBe(delay);
        due = next;
      }
      phases.add(due % delay);
    }
    expect(phases.size).toBe(16);
  });

  it('falls back to the plain deadline for one partition or a tiny maxDelay', () => {
    expect(batchDeadline(1_234, delay, 0, 1)).toBe(2_234);
    expect(batchDeadline(1_234, 1, 3, 16)).toBe(1_235);
    expect(batchDeadline(1_234, 0, 3, 16)).toBe(1_234);
  });
});
