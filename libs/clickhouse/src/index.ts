export { type ClickHouseOptions, createClickHouseClient } from './connection';
export { type ClickHouseTls, type TlsProblem, tlsFailure, tlsProblems } from './tls';
export { UnknownTableError } from './errors';
export {
  type ExactlyOnceProblem,
  qualifiedName,
  quoteIdentifier,
  SUGGESTED_WINDOW,
} from './exactly-once';
export { ClickHouseInserter, EXACTLY_ONCE_INSERT_SETTINGS, type InsertOptions } from './inserter';
export {
  classifyInsertError,
  DATA_ERROR_CODES,
  type InsertFailure,
  isRetryable,
  refusedRowOf,
  serverCodeOf,
  suggestsSchemaChange,
} from './retry';
export { ClickHouseSchema, type DescribedColumn } from './schema';
