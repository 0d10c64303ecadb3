import { classifyInsertError, refusedRowOf } from '@sluice/clickhouse';

/** One row ClickHouse refused, by its index in the batch, with the server's error for it. */
export interface RefusedRow {
  readonly row: number;
  readonly error: unknown;
  /** False when the split budget ran out: the error was the server's for a range holding it. */
  readonly alone: boolean;
}

interface Refused {
  from: number;
  to: number;
  error: unknown;
  tried: boolean;
}

/** Inserts rows [from, to) of the batch under `token`; throws what the client throws. */
export type InsertRange = (from: number, to: number, token: string) => Promise<void>;

/**
 * Sub-inserts of one batch at most: every successful one is a part and a slot of the table's
 * deduplication window, every failed one a round trip. Rows of ranges still failing when it
 * is spent are dead-lettered with that range's error.
 */
export const MAX_SPLIT_INSERTS = 1_000;

/** The token of rows [from, to) of batch `batchId`: the same rows always get the same token. */
export function rangeToken(batchId: string, from: number, to: number): string {
  return `${batchId}/${from}-${to}`;
}

/**
 * Lands every row of a batch of `count` rows that ClickHouse accepts, after the whole batch was
 * refused with `error` (a data error), and returns the rows it refuses, each with its own error.
 *
 * A refused range is split, and each part inserted under a token derived from the batch id and
 * the part's rows (`rangeToken`). Where the server names the failing row ("at row N"), the range
 * is split around it (the rows before, that row alone, the rows after), else in halves: about
 * three inserts per bad row instead of a walk down to single rows. The parts, and so the tokens,
 * depend only on the rows and the server's answers, so a retry after a crash mid-split inserts
 * the same parts under the same tokens, and ClickHouse drops the ones that landed already.
 *
 * A retryable error on any part is thrown as is: the job retries later and redoes the split.
 */
export async function insertAroundRefusals(
  batchId: string,
  count: number,
  error: unknown,
  insert: InsertRange,
  maxInserts = MAX_SPLIT_INSERTS,
): Promise<RefusedRow[]> {
  const refused: RefusedRow[] = [];
  let inserts = 0;
  // Depth first, lowest rows first: the order changes nothing in the result, it only keeps logs
  // readable. Each entry is a range the server refused, with its error.
  // `tried`: the server refused this very range (not only a range holding it).
  const pending: Refused[] = [{ from: 0, to: count, error, tried: true }];
  while (pending.length > 0) {
    const range = pending.pop() as Refused;
    if (range.to - range.from === 1) {
      refused.push({ row: range.from, error: range.error, alone: range.tried });
      continue;
    }
    const failed: Refused[] = [];
    for (const [from, to] of split(range.from, range.to, range.error)) {
      if (inserts >= maxInserts) {
        failed.push({ from, to, error: range.error, tried: false });
        continue;
      }
      inserts += 1;
      try {
        await insert(from, to, rangeToken(batchId, from, to));
      } catch (err) {
        if (classifyInsertError(err) !== 'rows') throw err;
        failed.push({ from, to, error: err, tried: true });
      }
    }
    for (const f of failed.reverse()) {
      if (inserts >= maxInserts && f.to - f.from > 1) {
        for (let row = f.from; row < f.to; row++)
          refused.push({ row, error: f.error, alone: false });
      } else {
        pending.push(f);
      }
    }
  }
  return refused.sort((a, b) => a.row - b.row);
}

/** The parts of a refused range [from, to) of at least two rows. */
export function split(from: number, to: number, error: unknown): [number, number][] {
  const named = refusedRowOf(error);
  if (named !== undefined && named <= to - from) {
    const at = from + named - 1;
    const parts: [number, number][] = [
      [from, at],
      [at, at + 1],
      [at + 1, to],
    ];
    return parts.filter(([a, b]) => b > a);
  }
  const mid = from + Math.floor((to - from) / 2);
  return [
    [from, mid],
    [mid, to],
  ];
}
