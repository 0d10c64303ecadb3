import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';

export interface ClickHouseOptions {
  /** e.g. http://127.0.0.1:8123 */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /**
   * Per request. Writers keep it below the actor lease time, so a stalled insert is given up
   * (and retried with its token) before another owner could take over.
   */
  readonly requestTimeoutMs?: number;
  readonly maxOpenConnections?: number;
  /**
   * No log lines from the client itself: they quote the server's answer, which for a server the
   * caller chose (the sink check) must never reach the logs.
   */
  readonly quiet?: boolean;
}

/** A client with Sluice's defaults; the caller owns it and calls `close()` on shutdown. */
export function createClickHouseClient(options: ClickHouseOptions): ClickHouseClient {
  return createClient({
    url: options.url,
    username: options.username ?? 'default',
    password: options.password ?? '',
    request_timeout: options.requestTimeoutMs ?? 30_000,
    max_open_connections: options.maxOpenConnections ?? 10,
    // Rows are small JSON and the CPU is the bottleneck at 100k events/s, not the wire.
    compression: { request: false, response: false },
    ...(options.quiet ? { log: { level: ClickHouseLogLevel.OFF } } : {}),
  });
}
