export * from './tokens';
export * from './redis.module';
export * from './kafka.module';
export * from './clickhouse.module';
