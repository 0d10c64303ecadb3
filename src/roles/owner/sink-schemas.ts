import type { ClickHouseClient } from '@clickhouse/client';
import { Logger } from '@nestjs/common';
import { ClickHouseSchema, createClickHouseClient, type DescribedColumn } from '@sluice/clickhouse';
import { type CompiledPipeline, RowBuilder, type RowMaker } from '@sluice/pipeline';
import { keys } from '@sluice/redis';
import type { Redis } from 'ioredis';

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
  /** Epoch ms when that DESCRIBE started. */
  describedAt: number;
}

/** How often the owner looks for a writer's "table changed" mark (one GET per pipeline). */
const NUDGE_POLL_MS = 1_000;

/**
 * Row builders per pipeline, compiled from the sink table's DESCRIBE. The owner reads the schema
 * through the pipeline's own sink address, so an owner-only process needs no CLICKHOUSE_URL.
 * Compiled once per definition version, then described again every `refreshMs` (ClickPipes and
 * the Kafka Connect sink refresh their table definitions too), and at once when a writer marks
 * the table changed (`keys.schemaChanged`: it found rows carrying a dropped column): a table
 * changed under a running pipeline is followed without a restart. A failed DESCRIBE is retried
 * on the next call (first compile) or the next refresh (the current builder stays meanwhile).
 */
export class SinkSchemas {
  private readonly logger = new Logger('SinkSchemas');
  private readonly clients = new Map<string, ClickHouseClient>();
  private readonly followed = new Map<string, Followed>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private lastFull = Date.now();

  constructor(
    private readonly refreshMs: number,
    /** Where writers mark tables changed; without it, only the periodic refresh. */
    private readonly redis?: Redis,
  ) {}

  async rowBuilder(pipeline: CompiledPipeline): Promise<RowMaker> {
    const version = JSON.stringify(pipeline.definition);
    const cached = this.followed.get(pipeline.id);
    if (cached?.version === version) return cached.builder;
    const describedAt = Date.now();
    const columns = await this.describe(pipeline);
    const builder = new FollowedRowBuilder(compile(pipeline, columns));
    this.followed.set(pipeline.id, {
      version,
      pipeline,
      builder,
      columns: JSON.stringify(columns),
      describedAt,
    });
    const tick = Math.min(this.refreshMs, NUDGE_POLL_MS);
    this.timer ??= setInterval(() => void this.refresh(), tick).unref();
    return builder;
  }

  /**
   * Describes again every followed table when the refresh period is over, else those a writer
   * marked changed since they were last described; swaps the builders of those that changed.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.refreshDue()
      .catch((err: unknown) => this.logger.warn(`sink table refresh: ${String(err)}`))
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async refreshDue(): Promise<void> {
    const entries = [...this.followed];
    let due = entries;
    if (Date.now() - this.lastFull >= this.refreshMs) {
      this.lastFull = Date.now();
    } else {
      if (this.redis === undefined || entries.length === 0) return;
      // One GET per pipeline: the marks live in different hash slots (Redis Cluster).
      const batch = this.redis.pipeline();
      for (const [id] of entries) batch.get(keys.schemaChanged(id));
      const marks = (await batch.exec()) ?? [];
      due = entries.filter(([, entry], i) => Number(marks[i]?.[1] ?? 0) > entry.describedAt);
    }
    for (const [id, entry] of due) await this.refreshOne(id, entry);
  }

  private async refreshOne(id: string, entry: Followed): Promise<void> {
    const describedAt = Date.now();
    let columns: DescribedColumn[];
    try {
      columns = await this.describe(entry.pipeline);
    } catch (err) {
      // Gone or unreachable: rows keep the shape they had; the writer holds the pipeline when
      // the table is gone ('table' hold) and retries while ClickHouse is away.
      this.logger.warn(`pipeline ${id}: sink table not described: ${String(err)}`);
      return;
    }
    if (this.followed.get(id) !== entry) return;
    entry.describedAt = describedAt;
    const text = JSON.stringify(columns);
    if (text === entry.columns) return;
    try {
      entry.builder.replace(compile(entry.pipeline, columns));
      this.logger.log(`pipeline ${id}: sink table changed: ${changes(entry.columns, columns)}`);
    } catch (err) {
      // A transform column was dropped or made computed: the definition no longer fits the
      // table. Rows keep their shape (the writer sends them without a dropped column).
      this.logger.error(
        `pipeline ${id}: sink table changed, rows keep their shape: ${String(err)}`,
      );
    }
    entry.columns = text;
  }

  private async describe(pipeline: CompiledPipeline): Promise<DescribedColumn[]> {
    const { url, username, password, tls, database, table } = pipeline.sink;
    const clientKey = JSON.stringify([url, username, password, tls ?? null]);
    let client = this.clients.get(clientKey);
    if (client === undefined) {
      client = createClickHouseClient({
        url,
        username,
        password,
        ...(tls ? { tls } : {}),
        requestTimeoutMs: 10_000,
      });
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
