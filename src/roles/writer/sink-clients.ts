import type { ClickHouseClient } from '@clickhouse/client';
import { type ClickHouseTls, ClickHouseInserter, createClickHouseClient } from '@sluice/clickhouse';

export interface SinkAddress {
  url: string;
  username: string;
  password: string;
  tls?: ClickHouseTls;
}

export interface SinkClient {
  client: ClickHouseClient;
  inserter: ClickHouseInserter;
  /** Tells sinks apart (address, credentials and TLS settings) without being one. */
  key: string;
}

/**
 * One ClickHouse client per sink address, credentials and TLS settings, shared by every pipeline writing
 * there, so that a writer keeps a bounded pool of sockets per server rather than one per batch.
 */
export class SinkClients {
  private readonly clients = new Map<string, SinkClient>();
  private closed = false;

  constructor(
    private readonly requestTimeoutMs: number,
    private readonly maxOpenConnections: number,
  ) {}

  inserter(sink: SinkAddress): ClickHouseInserter {
    return this.sink(sink).inserter;
  }

  /** The client of `sink`, its inserter, and a key naming the address and credentials. */
  sink(sink: SinkAddress): SinkClient {
    if (this.closed) throw new Error('sink clients are closed');
    const key = JSON.stringify([sink.url, sink.username, sink.password, sink.tls ?? null]);
    let entry = this.clients.get(key);
    if (entry === undefined) {
      const client = createClickHouseClient({
        url: sink.url,
        username: sink.username,
        password: sink.password,
        ...(sink.tls ? { tls: sink.tls } : {}),
        requestTimeoutMs: this.requestTimeoutMs,
        maxOpenConnections: this.maxOpenConnections,
      });
      entry = { client, inserter: new ClickHouseInserter(client), key };
      this.clients.set(key, entry);
    }
    return entry;
  }

  /** Closes every client; safe to call twice, and one failing close does not skip the others. */
  async close(): Promise<void> {
    this.closed = true;
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(clients.map(({ client }) => client.close()));
  }
}
