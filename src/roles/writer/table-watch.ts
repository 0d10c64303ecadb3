import type { ClickHouseClient } from '@clickhouse/client';
import { ClickHouseSchema, UnknownTableError } from '@sluice/clickhouse';

/** What the writer last learned about a target table. */
export interface TableState {
  /** Column names DESCRIBE shows: a row field outside them is a column dropped since. */
  readonly columns: ReadonlySet<string>;
  /**
   * Why inserting now would not be exactly-once (the table is gone, or it lost its
   * deduplication window): the writer holds the pipeline instead of inserting.
   */
  readonly problem: string | undefined;
  /** Epoch ms of the DESCRIBE this state comes from. */
  readonly checkedAt: number;
}

interface Entry {
  state?: TableState;
  /** One refresh at a time per table, however many batches ask. */
  refreshing?: Promise<TableState | undefined>;
  /** Set by `invalidate`: the next `state` call refreshes whatever the age. */
  stale?: boolean;
}

/**
 * Follows the target tables a writer inserts into: DESCRIBE plus the exactly-once check, again
 * at least every `refreshMs` and whenever an insert error suggests the table changed. Today's
 * answer is what counts: the check at pipeline creation says nothing about a table dropped and
 * recreated without a deduplication window since.
 */
export class TableWatch {
  private readonly tables = new Map<string, Entry>();

  constructor(
    private readonly refreshMs: number,
    private readonly now: () => number = Date.now,
    /** What DESCRIBE and the exactly-once check say about a table (replaced in unit specs). */
    private readonly read: TableReader = readTable,
  ) {}

  /**
   * The table's state, described again when older than `refreshMs`, after `invalidate`, or when
   * described before `after` (epoch ms: e.g. when an insert failed, so the answer reflects the
   * table as it was then). When ClickHouse does not answer, the last known state (or undefined):
   * the insert itself then fails and is retried.
   */
  async state(
    client: ClickHouseClient,
    clientKey: string,
    database: string,
    table: string,
    after = 0,
  ): Promise<TableState | undefined> {
    const key = `${clientKey}\u0000${database}\u0000${table}`;
    let entry = this.tables.get(key);
    if (entry === undefined) {
      entry = {};
      this.tables.set(key, entry);
    }
    const fresh = (state: TableState | undefined): state is TableState =>
      state !== undefined &&
      !entry.stale &&
      state.checkedAt >= after &&
      this.now() - state.checkedAt < this.refreshMs;
    if (fresh(entry.state)) return entry.state;
    // A DESCRIBE already under way may have started before `after`: wait for it, then judge.
    if (entry.refreshing !== undefined) {
      const state = await entry.refreshing;
      if (fresh(state) || state === undefined) return state;
    }
    const current = entry;
    current.refreshing ??= this.describe(client, database, table)
      .then((state) => {
        current.state = state;
        current.stale = false;
        return state;
      })
      .catch(() => current.state)
      .finally(() => {
        current.refreshing = undefined;
      });
    return current.refreshing;
  }

  /** The next `state` call for this table describes it again. */
  invalidate(clientKey: string, database: string, table: string): void {
    const entry = this.tables.get(`${clientKey}\u0000${database}\u0000${table}`);
    if (entry !== undefined) entry.stale = true;
  }

  private async describe(
    client: ClickHouseClient,
    database: string,
    table: string,
  ): Promise<TableState> {
    const checkedAt = this.now();
    return { ...(await this.read(client, database, table)), checkedAt };
  }
}

export type TableReader = (
  client: ClickHouseClient,
  database: string,
  table: string,
) => Promise<Omit<TableState, 'checkedAt'>>;

async function readTable(
  client: ClickHouseClient,
  database: string,
  table: string,
): Promise<Omit<TableState, 'checkedAt'>> {
  const schema = new ClickHouseSchema(client);
  try {
    const problems = await schema.checkExactlyOnce(database, table);
    const columns = await schema.describeTable(database, table);
    return {
      columns: new Set(columns.map((c) => c.name)),
      problem: problems.length > 0 ? problems.map((p) => p.message).join('; ') : undefined,
    };
  } catch (err) {
    if (err instanceof UnknownTableError) return { columns: new Set(), problem: err.message };
    throw err;
  }
}

/** Field names of JSONEachRow rows that are not columns of the table (any row). */
export function unknownFields(lines: readonly string[], columns: ReadonlySet<string>): string[] {
  const unknown = new Set<string>();
  for (const line of lines) {
    const row = JSON.parse(line) as Record<string, unknown>;
    for (const name of Object.keys(row)) if (!columns.has(name)) unknown.add(name);
  }
  return [...unknown].sort();
}
