export type ServiceName = 'redis' | 'kafka' | 'clickhouse';

/** Start order matters only for logs; the services do not depend on each other. */
export const SERVICES: readonly ServiceName[] = ['redis', 'kafka', 'clickhouse'];

export function isServiceName(value: string): value is ServiceName {
  return (SERVICES as readonly string[]).includes(value);
}

/** The server addresses, as written to `<stack dir>/env`. */
export interface StackEnv {
  REDIS_URL: string;
  KAFKA_BROKERS: string;
  CLICKHOUSE_URL: string;
}

export interface KafkaBrokerStatus {
  id: number;
  up: boolean;
}

export interface ServiceStatus {
  service: ServiceName;
  /** Our process is alive (checked by PID, start time and command line). */
  running: boolean;
  /** Redis PING, ClickHouse `SELECT 1` over HTTP, Kafka host health plus a TCP connect per broker. */
  healthy: boolean;
  pid?: number;
  /** Redis and ClickHouse: the server port. Kafka: the host's control port. */
  port?: number;
  url?: string;
  /** Kafka only: broker ids and their fault-injection state. */
  brokers?: KafkaBrokerStatus[];
  detail?: string;
}

export interface StackStatus {
  dir: string;
  healthy: boolean;
  services: ServiceStatus[];
}

export const KAFKA_CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type KafkaCodec = (typeof KAFKA_CODECS)[number];

export interface ProduceMessage {
  value: string;
  key?: string;
  partition?: number;
}

export interface ProduceResult {
  delivered: number;
  /** Delivery errors reported by librdkafka, one entry per failed message. */
  errors: string[];
}
