import type { ClickHouseClient } from '@clickhouse/client';
import { Logger } from '@nestjs/common';
import { ClickHouseSchema, createClickHouseClient, type DescribedColumn } from '@sluice/clickhouse';
import { type CompiledPipeline, RowBuilder, type RowMaker } from '@sluice/pipeline';

/**
 * A row builder that follows its table: every call goes to the builder compiled from the latest
 * DESCRIBE, so rows built after a change fill an added column, leave a dropped one out and
 * convert a retyped one by its new type. Rows already in the outbox are the writer's concern.
 */
export class FollowedRowBuilder implements RowMaker {
  constructor(private current: RowBuilder) {}

  build(...args: Parameters<RowBuilder['build']>): ReturnType<RowBuilder['build']> {
    return this.current.build(...args);
  }

  jsonLine(...args: Parameters<RowBuilder['jsonLine']>): string {
    return this.current.jsonLine(...args);
  }

  /** Takes effect from the next row on (actors are single-threaded: never mid-row). */
  replace(next: RowBuilder): void {
    this.current = next;
  }
}

interface Followed {
  version: string;
  pipeline: CompiledPipeline;
  builder: FollowedRowBuilder;
  /** The DESCRIBE the builder was compiled from, as text, to see a change. */
  columns: string;
}

/**
 * Row builders per pipeline, compiled from the sink table's DESCRIBE. The owner reads the schema
 * through the pipeline's own sink address, so an owner-only process needs no CLICKHOUSE_URL.
 * Compiled once per definition version, then described again every `refreshMs` (ClickPipes and
 * the Kafka Connect sink refresh their table definitions too): a table changed under a running
 * pipeline is followed without a restart. A failed DESCRIBE is retried on the next call (first
 * compile) or the next refresh (the current builder stays meanwhile).
 */
export class SinkSchemas {
  private readonly logger = new Logger('SinkSchemas');
  private readonly clients = new Map<string, ClickHouseClient>();
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(private readonly refreshMs: number) {}

  async rowBuilder(pipeline: CompiledPipeline): Promise<RowMaker> {
    const version = JSON.stringify(pipeline.definition);
    const cached = this.followed.get(pipeline.id);
    if (cached?.version === version) return cached.builder;
    const columns = await this.describe(pipeline);
    const builder = new FollowedRowBuilder(compile(pipeline, columns));
    this.followed.set(pipeline.id, {
      version,
      pipeline,
      builder,
      columns: JSON.stringify(columns),
    });
    this.timer ??= setInterval(() => void this.refresh(), this.refreshMs).unref();
    return builder;
  }

  /** Describes every followed table again and swaps the builders of those that changed. */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshAll().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async refreshAll(): Promise<void> {
    for (const [id, entry] of [...this.followed]) {
      let columns: DescribedColumn[];
      try {
        columns = await this.describe(entry.pipeline);
      } catch (err) {
        // Gone or unreachable: rows keep the shape they had; the writer holds the pipeline
        // when the table is gone ('table' hold) and retries while ClickHouse is away.
        this.logger.warn(`pipeline ${id}: sink table not described: ${String(err)}`);
        continue;
      }
      const text = JSON.stringify(columns);
      if (text === entry.columns || this.followed.get(id) !== entry) continue;
      try {
        entry.builder.replace(compile(entry.pipeline, columns));
      } catch (err) {
        // A transform column was dropped or made computed: the definition no longer fits the
        // table. Rows keep their shape (the writer sends them without a dropped column).
        this.logger.error(
          `pipeline ${id}: sink table changed, rows keep their shape: ${String(err)}`,
        );
        entry.columns = text;
        continue;
      }
      this.logger.log(`pipeline ${id}: sink table changed: ${changes(entry.columns, columns)}`);
      entry.columns = text;
    }
  }

  private async describe(pipeline: CompiledPipeline): Promise<DescribedColumn[]> {
    const { url, username, password, database, table } = pipeline.sink;
    const clientKey = `${url}\u0000${username}\u0000${password}`;
    let client = this.clients.get(clientKey);
    if (client === undefined) {
      client = createClickHouseClient({ url, username, password, requestTimeoutMs: 10_000 });
      this.clients.set(clientKey, client);
    }
    return new ClickHouseSchema(client).describeTable(database, table);
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
    const clients = [...this.clients.values()];
    this.clients.clear();
    this.followed.clear();
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

function compile(pipeline: CompiledPipeline, columns: readonly DescribedColumn[]): RowBuilder {
  return RowBuilder.compile(
    columns,
    pipeline.columns.map((c) => c.column),
  );
}

/** "added a (UInt8), dropped b, retyped c String -> Int64", for the log. */
function changes(before: string, after: readonly DescribedColumn[]): string {
  const old = new Map((JSON.parse(before) as DescribedColumn[]).map((c) => [c.name, c.type]));
  const now = new Map(after.map((c) => [c.name, c.type]));
  const parts: string[] = [];
  for (const [name, type] of now) {
    const was = old.get(name);
    if (was === undefined) parts.push(`added ${name} (${type})`);
    else if (was !== type) parts.push(`retyped ${name} ${was} -> ${type}`);
  }
  for (const name of old.keys()) if (!now.has(name)) parts.push(`dropped ${name}`);
  return parts.length > 0 ? parts.join(', ') : 'defaults or comments';
}
