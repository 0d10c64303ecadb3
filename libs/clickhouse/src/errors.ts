/** The pipeline names a database or table ClickHouse does not have. */
export class UnknownTableError extends Error {
  override readonly name = 'UnknownTableError';

  constructor(
    readonly database: string,
    readonly table: string,
    /** Which one is missing: without the database, the table cannot exist either. */
    readonly missing: 'database' | 'table',
  ) {
    super(
      missing === 'database'
        ? `database ${database} does not exist`
        : `table ${database}.${table} does not exist`,
    );
  }
}
