import { Kafka, logLevel, type KafkaConfig, type SASLOptions, type logCreator } from 'kafkajs';

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId: string;
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
  connectionTimeoutMs?: number;
  /** Default: kafkajs logs nothing. Consumers pass a bridge that reads the group generation. */
  logLevel?: logLevel;
  logCreator?: logCreator;
}

/** A kafkajs client. Creating it opens no connection; consumers and admins connect on demand. */
export function createKafka(options: KafkaConnectionOptions): Kafka {
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    // kafkajs logs through its own console logger; Sluice logs what matters itself.
    logLevel: options.logLevel ?? logLevel.NOTHING,
    logCreator: options.logCreator,
  });
}

/**
 * Asks the cluster for its brokers with a fresh admin connection and no retries, so a probe
 * answers within its deadline and reflects the cluster now, not a cached connection.
 */
export async function probeKafka(
  options: KafkaConnectionOptions,
  timeoutMs: number,
): Promise<number> {
  const kafka = new Kafka({
    clientId: `${options.clientId}-probe`,
    brokers: options.brokers,
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
