import { type ClickHouseClient, ClickHouseError } from '@clickhouse/client';
import { UnknownTableError } from './errors';
import {
  type ExactlyOnceProblem,
  isInsertTriggered,
  qualifiedName,
  type TableFacts,
  tableProblems,
  type WindowDefaults,
} from './exactly-once';

/** A column as `DESCRIBE TABLE` shows it. Fits `TableColumn` of @sluice/pipeline. */
export interface DescribedColumn {
  readonly name: string;
  readonly type: string;
  /** '' | 'DEFAULT' | 'MATERIALIZED' | 'ALIAS' | 'EPHEMERAL' */
  readonly defaultKind: string;
  readonly defaultExpression: string;
  readonly comment: string;
}

interface DescribeRow {
  name: string;
  type: string;
  default_type: string;
  default_expression: string;
  comment: string;
}

interface TableRow {
  database: string;
  name: string;
  engine: string;
  engine_full: string;
  create_table_query: string;
  dependencies_database: string[];
  dependencies_table: string[];
  target_database: string;
  target_table: string;
}

const UNKNOWN_TABLE = '60';
const UNKNOWN_DATABASE = '81';

/** Reads table schemas and checks that a target table can be written exactly once. */
export class ClickHouseSchema {
  constructor(private readonly client: ClickHouseClient) {}

  /** Throws UnknownTableError when the database or table does not exist. */
  async describeTable(database: string, table: string): Promise<DescribedColumn[]> {
    try {
      const result = await this.client.query({
        query: 'DESCRIBE TABLE {database:Identifier}.{table:Identifier}',
        query_params: { database, table },
        format: 'JSONEachRow',
        // One-line type names: the type parser does not need them, but logs and messages do.
        clickhouse_settings: { print_pretty_type_names: 0, describe_include_subcolumns: 0 },
      });
      const rows = await result.json<DescribeRow>();
      return rows.map((r) => ({
        name: r.name,
        type: r.type,
        defaultKind: r.default_type,
        defaultExpression: r.default_expression,
        comment: r.comment,
      }));
    } catch (err) {
      if (err instanceof ClickHouseError && err.code === UNKNOWN_DATABASE) {
        throw new UnknownTableError(database, table, 'database');
      }
      if (err instanceof ClickHouseError && err.code === UNKNOWN_TABLE) {
        throw new UnknownTableError(database, table, 'table');
      }
      throw err;
    }
  }

  /**
   * Every reason a retried insert into `database.table` could land twice, in the table itself or
   * in a table a materialized view writes from it (followed transitively); empty when it is
   * exactly-once. Throws UnknownTableError when the table does not exist.
   */
  async checkExactlyOnce(database: string, table: string): Promise<ExactlyOnceProblem[]> {
    const root = await this.tableFacts(database, table);
    if (root === undefined) {
      const exists = await this.databaseExists(database);
      throw new UnknownTableError(database, table, exists ? 'table' : 'database');
    }
    const defaults = await this.windowDefaults();
    const problems: ExactlyOnceProblem[] = [];
    const seen = new Set<string>();
    const visit = async (facts: TableFacts, via: string | undefined): Promise<void> => {
      const key = qualifiedName(facts.database, facts.name);
      if (seen.has(key)) return;
      seen.add(key);
      const views = await this.dependentViews(facts);
      problems.push(...tableProblems(facts, defaults, via, views.length > 0));
      // A view as the pipeline target is refused above; its own dependencies do not matter then.
      if (facts.engine === 'MaterializedView') return;
      for (const view of views) {
        const viewName = qualifiedName(view.database, view.name);
        const target = await this.tableFacts(view.targetDatabase, view.targetTable);
        if (target === undefined) {
          problems.push({
            table: qualifiedName(view.targetDatabase, view.targetTable),
            view: viewName,
            message: `materialized view ${viewName} writes to ${qualifiedName(view.targetDatabase, view.targetTable)}, which does not exist`,
          });
        } else {
          await visit(target, viewName);
        }
      }
    };
    await visit(root, undefined);
    return problems;
  }

  /** Insert-triggered materialized views that read from `facts`. */
  private async dependentViews(facts: TableFacts): Promise<TableFacts[]> {
    const views: TableFacts[] = [];
    for (let i = 0; i < facts.dependentTables.length; i++) {
      const db = facts.dependentDatabases[i] ?? facts.database;
      const view = await this.tableFacts(db, facts.dependentTables[i] as string);
      if (view !== undefined && isInsertTriggered(view)) views.push(view);
    }
    return views;
  }

  private async tableFacts(database: string, table: string): Promise<TableFacts | undefined> {
    const result = await this.client.query({
      query: `SELECT database, name, engine, engine_full, create_table_query, dependencies_database,
                     dependencies_table, target_database, target_table
              FROM system.tables WHERE database = {database:String} AND name = {table:String}`,
      query_params: { database, table },
      format: 'JSONEachRow',
    });
    const row = (await result.json<TableRow>())[0];
    if (row === undefined) return undefined;
    return {
      database: row.database,
      name: row.name,
      engine: row.engine,
      engineFull: row.engine_full,
      createTableQuery: row.create_table_query,
      dependentDatabases: row.dependencies_database,
      dependentTables: row.dependencies_table,
      targetDatabase: row.target_database,
      targetTable: row.target_table,
    };
  }

  private async windowDefaults(): Promise<WindowDefaults> {
    const result = await this.client.query({
      query: `SELECT name, value FROM system.merge_tree_settings
              WHERE name IN ('non_replicated_deduplication_window', 'replicated_deduplication_window')`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ name: string; value: string }>();
    const value = (name: string): number => Number(rows.find((r) => r.name === name)?.value ?? 0);
    return {
      non_replicated_deduplication_window: value('non_replicated_deduplication_window'),
      replicated_deduplication_window: value('replicated_deduplication_window'),
    };
  }

  private async databaseExists(database: string): Promise<boolean> {
    const result = await this.client.query({
      query: 'SELECT 1 FROM system.databases WHERE name = {database:String}',
      query_params: { database },
      format: 'JSONEachRow',
    });
    return (await result.json()).length > 0;
  }
}
