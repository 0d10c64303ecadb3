/** Injection tokens for the shared connections of a process. */
export const REDIS = Symbol('Redis');
export const KAFKA = Symbol('Kafka');
export const CLICKHOUSE = Symbol('ClickHouse');
