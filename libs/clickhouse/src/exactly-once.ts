/**
 * Pure rules of the exactly-once check: given what `system.tables` says about a table, does a
 * retried insert with the same insert_deduplication_token land once, and if not what to set.
 */

/** One reason a target (or a table a materialized view feeds from it) is not exactly-once. */
export interface ExactlyOnceProblem {
  /** The table that needs a change, as `db.table`. */
  readonly table: string;
  /** The materialized view through which an insert reaches `table`, when it is not the target. */
  readonly view?: string;
  /** What is wrong and what to do, in one sentence or two. */
  readonly message: string;
  /** The statement that fixes it, when one exists. */
  readonly fix?: string;
}

/** The columns of `system.tables` the check reads. */
export interface TableFacts {
  readonly database: string;
  readonly name: string;
  readonly engine: string;
  readonly engineFull: string;
  readonly createTableQuery: string;
  readonly dependentDatabases: readonly string[];
  readonly dependentTables: readonly string[];
  readonly targetDatabase: string;
  readonly targetTable: string;
}

/** Server-wide MergeTree defaults (`system.merge_tree_settings`), overridable per table. */
export interface WindowDefaults {
  readonly non_replicated_deduplication_window: number;
  readonly replicated_deduplication_window: number;
}

export type WindowSetting = keyof WindowDefaults;

/** The deduplication window value suggested in fixes: inserts kept, per table (or partition). */
export const SUGGESTED_WINDOW = 1000;

/**
 * Smallest window accepted. A window must outlast every insert that can come between a batch's
 * failed attempt and its retry (partitions x batches in flight, and a split batch's parts); that
 * depends on the load, so only a window that cannot work anywhere (1) is refused here, and the
 * docs suggest SUGGESTED_WINDOW.
 */
export const MIN_WINDOW = 2;

/** `db.table`, backquoted where ClickHouse needs it, for messages users paste into a client. */
export function qualifiedName(database: string, table: string): string {
  return `${quoteIdentifier(database)}.${quoteIdentifier(table)}`;
}

export function quoteIdentifier(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return name;
  return `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;
}

export function isMergeTree(engine: string): boolean {
  return engine.endsWith('MergeTree');
}

/** Replicated and Shared (ClickHouse Cloud) tables keep their dedup log in Keeper. */
export function windowSettingOf(engine: string): WindowSetting {
  return engine.startsWith('Replicated') || engine.startsWith('Shared')
    ? 'replicated_deduplication_window'
    : 'non_replicated_deduplication_window';
}

/**
 * A setting's value from `engine_full` ("MergeTree ORDER BY k SETTINGS a = 1, b = 2"). The table
 * settings are not exposed as rows anywhere, so they are read from this text; values may be
 * quoted (`'50'`) when they were set as strings.
 */
export function tableSetting(engineFull: string, name: string): number | undefined {
  const at = engineFull.indexOf(' SETTINGS ');
  if (at < 0) return undefined;
  const m = new RegExp(`[\\s,]${name}\\s*=\\s*\\\\?'?(\\d+)`).exec(engineFull.slice(at));
  return m === null ? undefined : Number(m[1]);
}

/** Refreshable views rebuild their target on a schedule; inserts do not reach them. */
export function isInsertTriggered(view: TableFacts): boolean {
  return (
    view.engine === 'MaterializedView' &&
    !/\bREFRESH\s+(EVERY|AFTER)\b/i.test(view.createTableQuery)
  );
}

/**
 * Problems of one table written by an insert: `via` is the view that writes it, or undefined for
 * the pipeline's own target. `hasViews` says whether any materialized view reads from it.
 */
export function tableProblems(
  table: TableFacts,
  defaults: WindowDefaults,
  via: string | undefined,
  hasViews: boolean,
): ExactlyOnceProblem[] {
  const name = qualifiedName(table.database, table.name);
  const reached = via === undefined ? `${name}` : `${name} (written by materialized view ${via})`;
  const base = via === undefined ? { table: name } : { table: name, view: via };
  if (isMergeTree(table.engine)) {
    const setting = windowSettingOf(table.engine);
    const window = tableSetting(table.engineFull, setting) ?? defaults[setting];
    if (window >= MIN_WINDOW) return [];
    const fix = `ALTER TABLE ${name} MODIFY SETTING ${setting} = ${SUGGESTED_WINDOW}`;
    const retried =
      via === undefined
        ? 'a retried insert would be written twice'
        : 'a retried insert would double the view';
    const what =
      window <= 0
        ? `has no insert deduplication window (${setting} = ${window}), so ${retried}`
        : `remembers only its last insert (${setting} = ${window}), so ${retried} once any other insert came between`;
    return [{ ...base, message: `${reached} ${what}. Run: ${fix}`, fix }];
  }
  if (table.engine === 'Null' && hasViews) return [];
  if (table.engine === 'MaterializedView' && via === undefined) {
    const target = qualifiedName(table.targetDatabase, table.targetTable);
    return [
      {
        ...base,
        message: `${name} is a materialized view; point the pipeline at a table instead (its target is ${target})`,
      },
    ];
  }
  const why =
    table.engine === 'Null'
      ? 'the Null engine discards rows and no materialized view reads from it'
      : `the ${table.engine} engine cannot deduplicate inserts`;
  return [
    {
      ...base,
      message: `${reached} cannot be written exactly once: ${why}. Use a MergeTree-family table with ${windowSettingOf(table.engine)} > 0`,
    },
  ];
}
