import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  /** Shows up in CLIENT LIST, which makes a process's connections easy to tell apart. */
  connectionName: string;
  /**
   * BullMQ workers need `null` (block forever); request/response users want a bound so a
   * command fails instead of hanging while Redis is away.
   */
  maxRetriesPerRequest?: number | null;
  /** TLS beyond `rediss://` defaults: a private CA, a client certificate, a server name. */
  tls?: RedisTls;
}

/** PEM contents (not paths), as REDIS_TLS_* name them. */
export interface RedisTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/**
 * An ioredis connection that never gives up reconnecting (Redis restarts must heal without
 * restarting Sluice) and does not connect until `connect()` is called, so that nothing starts
 * in a constructor.
 */
export function createRedis(url: string, options: RedisConnectionOptions): Redis {
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    connectionName: options.connectionName,
    maxRetriesPerRequest:
      options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
    // Back off up to 2 s between attempts, forever.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    enableReadyCheck: true,
    ...(options.tls ? { tls: { ...options.tls } } : {}),
  };
  return new Redis(url, redisOptions);
}

/** Closes a connection; safe to call twice and on a connection that never connected. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  client.disconnect(false);
}

/** PING with a deadline: a Redis that is down makes queued commands wait, not fail. */
export async function pingRedis(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status !== 'ready') throw new Error(`connection is ${client.status}`);
  await withTimeout(client.ping(), timeoutMs, 'PING');
}

export async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
