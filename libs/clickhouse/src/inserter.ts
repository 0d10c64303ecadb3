import { Readable } from 'node:stream';
import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';
import { qualifiedName } from './exactly-once';

/**
 * Settings every Sluice insert carries, whatever the user's profile says: the token only
 * deduplicates synchronous inserts with deduplication on, and views must deduplicate too.
 */
export const EXACTLY_ONCE_INSERT_SETTINGS: ClickHouseSettings = {
  insert_deduplicate: 1,
  async_insert: 0,
  deduplicate_blocks_in_dependent_materialized_views: 1,
  // Omitted fields take the column DEFAULT (the row builder leaves out absent fields).
  input_format_defaults_for_omitted_fields: 1,
  // A field the table does not have fails the insert rather than being dropped unseen; the
  // writer skips such fields only once a fresh DESCRIBE shows the column was dropped.
  input_format_skip_unknown_fields: 0,
};

export interface InsertOptions {
  /**
   * Ignore row fields the table has no column for. Only for rows built before a column was
   * dropped, once a fresh DESCRIBE confirmed it is gone.
   */
  readonly skipUnknownFields?: boolean;
}

/** Writes row batches; each batch's token makes a retried insert land once. */
export class ClickHouseInserter {
  constructor(private readonly client: ClickHouseClient) {}

  /**
   * Inserts `rows` (JSONEachRow objects, as the row builder makes them) with
   * insert_deduplication_token = `token`. The same token must always carry the same rows.
   * Errors pass through unchanged; `classifyInsertError` sorts them.
   */
  async insertBatch(
    database: string,
    table: string,
    rows: readonly Record<string, unknown>[],
    token: string,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    if (token === '') throw new RangeError('insertBatch needs a non-empty deduplication token');
    if (rows.length === 0) return;
    await this.client.insert({
      table: qualifiedName(database, table),
      values: rows,
      format: 'JSONEachRow',
      clickhouse_settings: { ...EXACTLY_ONCE_INSERT_SETTINGS, insert_deduplication_token: token },
      abort_signal: abortSignal,
    });
  }

  /**
   * Like insertBatch, for rows already serialized as JSONEachRow text (one row per line): the
   * text is the request body as is, with no per-row encoding here.
   */
  async insertJsonEachRow(
    database: string,
    table: string,
    body: string | Uint8Array,
    token: string,
    abortSignal?: AbortSignal,
    options: InsertOptions = {},
  ): Promise<void> {
    if (token === '')
      throw new RangeError('insertJsonEachRow needs a non-empty deduplication token');
    if (body.length === 0) return;
    const result = await this.client.exec({
      query: `INSERT INTO ${qualifiedName(database, table)} FORMAT JSONEachRow`,
      values: Readable.from([body]),
      clickhouse_settings: {
        ...EXACTLY_ONCE_INSERT_SETTINGS,
        insert_deduplication_token: token,
        ...(options.skipUnknownFields ? { input_format_skip_unknown_fields: 1 } : {}),
      },
      abort_signal: abortSignal,
    });
    // An INSERT answers with an empty body; drain it so the socket goes back to the pool.
    result.stream.resume();
    await new Promise<void>((resolve, reject) => {
      result.stream.once('end', resolve);
      result.stream.once('error', reject);
    });
  }
}
