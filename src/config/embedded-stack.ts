import { stackDir, stackUp } from '@sluice/stack';
import { wantsEmbeddedStack } from './config';

/**
 * The embedded default: when no server address is configured, Sluice runs against the local
 * stack (Redis, dev Kafka, ClickHouse on loopback), starting it when it is not running.
 * `stackUp` is idempotent, so a running stack is reused as it is.
 * Returns the environment to validate and whether the stack supplied the addresses.
 */
export async function resolveEnvironment(
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<{ env: NodeJS.ProcessEnv; embeddedStack: boolean }> {
  if (!wantsEmbeddedStack(env)) return { env, embeddedStack: false };
  const dir = stackDir(env);
  log(`No REDIS_URL, KAFKA_BROKERS or CLICKHOUSE_URL set: using the local stack in ${dir}`);
  const servers = await stackUp({ dir, log });
  return { env: { ...env, ...servers }, embeddedStack: true };
}
