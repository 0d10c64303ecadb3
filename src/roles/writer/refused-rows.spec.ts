import { ClickHouseError } from '@clickhouse/client';
import { insertAroundRefusals, rangeToken, split } from './refused-rows';

/**
 * A table as ClickHouse keeps it for these purposes: a CHECK refuses the rows in `bad` (naming
 * the first one of the insert, 1-based, when `named`), and an insert token seen before is dropped.
 */
class FakeTable {
  readonly tokens = new Set<string>();
  readonly rows: number[] = [];
  inserts = 0;
  /** Throws a network error on this insert number (1-based), once. */
  failAt: number | undefined;

  constructor(
    private readonly bad: ReadonlySet<number>,
    private readonly named = true,
  ) {}

  insert = (from: number, to: number, token: string): Promise<void> => {
    this.inserts += 1;
    if (this.inserts === this.failAt) {
      this.failAt = undefined;
      return Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    }
    for (let row = from; row < to; row++) {
      if (this.bad.has(row)) {
        const at = this.named ? ` is violated at row ${row - from + 1}` : ' is violated';
        return Promise.reject(
          new ClickHouseError({
            message: `Constraint \`c\` for table default.t${at}. Expression: (v < 100)`,
            code: '469',
            type: 'VIOLATED_CONSTRAINT',
          }),
        );
      }
    }
    if (!this.tokens.has(token)) {
      this.tokens.add(token);
      for (let row = from; row < to; row++) this.rows.push(row);
    }
    return Promise.resolve();
  };
}

const wholeBatchError = new ClickHouseError({
  message: 'Constraint `c` for table default.t is violated at row 1',
  code: '469',
  type: 'VIOLATED_CONSTRAINT',
});

describe('insertAroundRefusals', () => {
  it.each([true, false])(
    'lands every accepted row once and returns exactly the refused ones (row named: %s)',
    async (named) => {
      const bad = new Set([3, 4, 500, 731, 999]);
      const table = new FakeTable(bad, named);
      const refused = await insertAroundRefusals('p.0.1.7', 1_000, wholeBatchError, table.insert);
      expect(refused.map((r) => r.row)).toEqual([...bad].sort((a, b) => a - b));
      expect(refused.every((r) => r.alone)).toBe(true);
      expect((refused[0]?.error as Error).message).toMatch(/violated/);
      expect(table.rows.sort((a, b) => a - b)).toEqual(
        Array.from({ length: 1_000 }, (_, i) => i).filter((i) => !bad.has(i)),
      );
      // Naming the row saves most of the walk down to single rows.
      expect(table.inserts).toBeLessThan(named ? 20 : 110);
    },
  );

  it('redoes the same parts under the same tokens after a failure mid-split: nothing doubles', async () => {
    const bad = new Set([10, 11, 600]);
    const table = new FakeTable(bad, false);
    table.failAt = 9;
    await expect(
      insertAroundRefusals('b', 1_000, wholeBatchError, table.insert),
    ).rejects.toMatchObject({ code: 'ECONNRESET' });
    const landedBefore = table.rows.length;
    expect(landedBefore).toBeGreaterThan(0);
    const tokensBefore = new Set(table.tokens);
    const refused = await insertAroundRefusals('b', 1_000, wholeBatchError, table.insert);
    expect(refused.map((r) => r.row)).toEqual([10, 11, 600]);
    expect(table.rows).toHaveLength(997);
    expect(new Set(table.rows).size).toBe(997);
    for (const token of tokensBefore) expect(table.tokens.has(token)).toBe(true);
  });

  it('dead-letters the ranges still refused when the insert budget is spent', async () => {
    const bad = new Set(Array.from({ length: 100 }, (_, i) => i * 2));
    const table = new FakeTable(bad, false);
    const refused = await insertAroundRefusals('b', 200, wholeBatchError, table.insert, 20);
    expect(table.inserts).toBe(20);
    const rows = refused.map((r) => r.row);
    for (const row of bad) expect(rows).toContain(row);
    expect(refused.some((r) => !r.alone)).toBe(true);
    // Nothing both landed and dead-lettered, nothing neither.
    expect([...rows, ...table.rows].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it('splits around the named row, or in halves when the name is missing or out of range', () => {
    const named = (n: number): Error =>
      new ClickHouseError({ message: `x (at row ${n})`, code: '27', type: 'X' });
    expect(split(10, 20, named(1))).toEqual([
      [10, 11],
      [11, 20],
    ]);
    expect(split(10, 20, named(4))).toEqual([
      [10, 13],
      [13, 14],
      [14, 20],
    ]);
    expect(split(10, 20, named(10))).toEqual([
      [10, 19],
      [19, 20],
    ]);
    expect(split(10, 20, named(11))).toEqual([
      [10, 15],
      [15, 20],
    ]);
    expect(split(0, 3, new Error('no row'))).toEqual([
      [0, 1],
      [1, 3],
    ]);
    expect(rangeToken('p.3.2.9', 0, 500)).toBe('p.3.2.9/0-500');
  });
});
