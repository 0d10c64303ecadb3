export { type ClickHouseOptions, createClickHouseClient } from './connection';
export { UnknownTableError } from './errors';
export {
  type ExactlyOnceProblem,
  qualifiedName,
  quoteIdentifier,
  SUGGESTED_WINDOW,
} from './exactly-once';
export { ClickHouseInserter, EXACTLY_ONCE_INSERT_SETTINGS } from './inserter';
export { isRetryable, RETRYABLE_CODES } from './retry';
export { ClickHouseSchema, type DescribedColumn } from './schema';
