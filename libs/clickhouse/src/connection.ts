import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { type ClickHouseTls, httpsAgent } from './tls';

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
  /** Only with an `https://` url. */
  readonly tls?: ClickHouseTls;
}

/** A client with Sluice's defaults; the caller owns it and calls `close()` on shutdown. */
export function createClickHouseClient(options: ClickHouseOptions): ClickHouseClient {
  const maxOpenConnections = options.maxOpenConnections ?? 10;
  const { tls } = options;
  if (tls !== undefined && new URL(options.url).protocol !== 'https:') {
    throw new Error('ClickHouse TLS options need an https:// url');
  }
  return createClient({
    url: options.url,
    username: options.username ?? 'default',
    password: options.password ?? '',
    request_timeout: options.requestTimeoutMs ?? 30_000,
    max_open_connections: maxOpenConnections,
    // Rows are small JSON and the CPU is the bottleneck at 100k events/s, not the wire.
    compression: { request: false, response: false },
    ...(options.quiet ? { log: { level: ClickHouseLogLevel.OFF } } : {}),
    // The client destroys this agent on close().
    ...(tls !== undefined ? { http_agent: httpsAgent(tls, maxOpenConnections) } : {}),
  });
}
