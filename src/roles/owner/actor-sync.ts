import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { ReplicaSync } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';

const LOG_EVERY_MS = 10_000;

/**
 * REDIS_MIN_REPLICAS for one actor connection (undefined when 0): each failed WAIT is counted,
 * and logged at most every 10 s, since the actor retries it every 500 ms until the replicas
 * catch up and only then announces the batch.
 */
export function actorReplicaSync(
  conn: Redis,
  sync: { replicas: number; timeoutMs: number } | undefined,
  actor: { name: string; ids: Record<string, unknown> },
  logger: Logger,
  telemetry: Telemetry | undefined,
): ReplicaSync | undefined {
  if (!sync || sync.replicas <= 0) return undefined;
  let lastLog = 0;
  return new ReplicaSync(conn, {
    ...sync,
    onFailure: ({ acked, required, command }) => {
      telemetry?.metrics.replicaWaitFailures.inc({ role: 'owner' });
      if (Date.now() - lastLog < LOG_EVERY_MS) return;
      lastLog = Date.now();
      logger.warn(
        { ...actor.ids, acked, required },
        `actor ${actor.name}: only ${acked} of ${required} Redis replica(s) acknowledged its ` +
          `checkpoint within ${sync.timeoutMs} ms (${command}): batches are not announced ` +
          'until they do (REDIS_MIN_REPLICAS)',
      );
    },
  });
}
