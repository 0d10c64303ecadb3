import type { Redis } from 'ioredis';

/** Redis may evict keys: Sluice refuses it unless REDIS_ALLOW_EVICTION=true. */
export class EvictingRedisError extends Error {
  override readonly name = 'EvictingRedisError';
}

export interface EvictionSettings {
  /** `maxmemory-policy`, e.g. `noeviction`, `allkeys-lru`, `volatile-ttl`. */
  policy: string;
  /** `maxmemory` in bytes; 0 = no limit. */
  maxmemory: number;
  /** Where it was read: managed Redis often forbids CONFIG but answers INFO. */
  source: 'CONFIG GET' | 'INFO memory';
}

/**
 * The eviction settings, from CONFIG GET or else from INFO memory; undefined when the server
 * allows neither (the caller warns: it cannot tell).
 */
export async function readEvictionSettings(conn: Redis): Promise<EvictionSettings | undefined> {
  try {
    const reply = (await conn.call('CONFIG', 'GET', 'maxmemory*')) as string[];
    const config = new Map<string, string>();
    for (let i = 0; i + 1 < reply.length; i += 2) config.set(String(reply[i]), String(reply[i + 1]));
    const policy = config.get('maxmemory-policy');
    if (policy !== undefined) {
      return { policy, maxmemory: Number(config.get('maxmemory') ?? 0), source: 'CONFIG GET' };
    }
  } catch (err) {
    if (!isReplyError(err)) throw err;
  }
  try {
    const info = await conn.info('memory');
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const policy = field('maxmemory_policy');
    if (policy !== undefined) {
      return { policy, maxmemory: Number(field('maxmemory') ?? 0), source: 'INFO memory' };
    }
  } catch (err) {
    if (!isReplyError(err)) throw err;
  }
  return undefined;
}

/**
 * Why the settings are unsafe, or undefined when they are safe. Any policy but `noeviction`
 * is refused, whether or not a `maxmemory` is set today: one CONFIG SET (or a managed service's
 * default) sets a limit later, and the `volatile-*` policies evict exactly Sluice's keys that
 * carry a TTL (leases, dedup buckets). `noeviction` costs nothing while no limit is set, and
 * once one is reached writes fail loudly and are retried instead of data vanishing.
 */
export function evictionProblem(settings: EvictionSettings): string | undefined {
  if (settings.policy === 'noeviction') return undefined;
  const limit =
    settings.maxmemory > 0 ? `maxmemory ${settings.maxmemory} bytes` : 'no maxmemory set yet';
  return (
    `Redis maxmemory-policy is '${settings.policy}' (${limit}; read with ${settings.source}): ` +
    'Redis may evict keys Sluice keeps its in-flight data in (outbox batches, dedup state, ' +
    'leases), losing or duplicating events without a word. Set maxmemory-policy to noeviction ' +
    '(redis.conf, or CONFIG SET maxmemory-policy noeviction), or set REDIS_ALLOW_EVICTION=true ' +
    'to run anyway (unsafe)'
  );
}

function isReplyError(err: unknown): boolean {
  // The server answered with an error (unknown or renamed command, NOPERM): it does not let us.
  return err instanceof Error && err.name === 'ReplyError';
}
