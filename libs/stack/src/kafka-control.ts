import { KafkaControlError } from './errors';
import { httpCall, tcpOpen } from './probes';
import type { KafkaBrokerStatus } from './types';

/** Calls the dev Kafka host's control endpoint; a non-2xx answer becomes a KafkaControlError. */
export async function kafkaControl<T>(
  controlPort: number,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 5_000,
): Promise<T> {
  let reply;
  try {
    reply = await httpCall(controlPort, method, path, body, timeoutMs);
  } catch (err) {
    throw new KafkaControlError(`dev Kafka host on port ${controlPort}: ${String(err)}`, {
      cause: err,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.body);
  } catch {
    throw new KafkaControlError(`dev Kafka host answered ${reply.status}: ${reply.body}`);
  }
  if (reply.status < 200 || reply.status >= 300) {
    const message = (parsed as { error?: string }).error ?? reply.body;
    throw new KafkaControlError(`${method} ${path}: ${message}`);
  }
  return parsed as T;
}

export interface KafkaHealth {
  healthy: boolean;
  brokers?: KafkaBrokerStatus[];
  detail?: string;
}

/**
 * The host answers and every broker that is up accepts a connection. Brokers set down by fault
 * injection are reported, not counted against health: `up` must not restart (and so wipe) a
 * Kafka just because a test left a broker down.
 */
export async function kafkaHealth(controlPort: number, timeoutMs = 2_000): Promise<KafkaHealth> {
  let health: { brokers: (KafkaBrokerStatus & { address: string })[] };
  try {
    health = await kafkaControl(controlPort, 'GET', '/health', undefined, timeoutMs);
  } catch (err) {
    return { healthy: false, detail: (err as Error).message };
  }
  const up = health.brokers.filter((broker) => broker.up);
  const open = await Promise.all(
    up.map(({ address }) => {
      const colon = address.lastIndexOf(':');
      return tcpOpen(address.slice(0, colon), Number(address.slice(colon + 1)), timeoutMs);
    }),
  );
  const closed = up.filter((_, i) => !open[i]).map((broker) => broker.address);
  return {
    healthy: closed.length === 0,
    brokers: health.brokers.map(({ id, up: isUp }) => ({ id, up: isUp })),
    detail: closed.length > 0 ? `broker ports not accepting: ${closed.join(', ')}` : undefined,
  };
}
