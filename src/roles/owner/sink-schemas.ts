import type { ClickHouseClient } from '@clickhouse/client';
import { ClickHouseSchema, createClickHouseClient } from '@sluice/clickhouse';
import { type CompiledPipeline, RowBuilder } from '@sluice/pipeline';

/**
 * Row builders per pipeline, compiled from the sink table's DESCRIBE. The owner reads the schema
 * through the pipeline's own sink address, so an owner-only process needs no CLICKHOUSE_URL.
 * Compiled once per definition version; a failed DESCRIBE is retried on the next call.
 */
export class SinkSchemas {
  private readonly clients = new Map<string, ClickHouseClient>();
  private readonly builders = new Map<string, { version: string; builder: RowBuilder }>();

  async rowBuilder(pipeline: CompiledPipeline): Promise<RowBuilder> {
    const version = JSON.stringify(pipeline.definition);
    const cached = this.builders.get(pipeline.id);
    if (cached?.version === version) return cached.builder;
    const { url, username, password, database, table } = pipeline.sink;
    const clientKey = `${url}\u0000${username}\u0000${password}`;
    let client = this.clients.get(clientKey);
    if (client === undefined) {
      client = createClickHouseClient({ url, username, password, requestTimeoutMs: 10_000 });
      this.clients.set(clientKey, client);
    }
    const columns = await new ClickHouseSchema(client).describeTable(database, table);
    const builder = RowBuilder.compile(
      columns,
      pipeline.columns.map((c) => c.column),
    );
    this.builders.set(pipeline.id, { version, builder });
    return builder;
  }

  /** Safe to call twice. */
  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    this.builders.clear();
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}
