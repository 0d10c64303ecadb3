import { ClickHouseError } from '@clickhouse/client';

/**
 * Server error codes worth retrying with the same batch and token: the server, the network or
 * the operator is at fault, not the rows. Every other server error is about the rows or the
 * schema (cannot parse, type mismatch, unknown column, ...) and fails the same way every time.
 */
export const RETRYABLE_CODES: ReadonlyMap<number, string> = new Map([
  [3, 'UNEXPECTED_END_OF_FILE'],
  [32, 'ATTEMPT_TO_READ_AFTER_EOF'],
  [159, 'TIMEOUT_EXCEEDED'],
  [160, 'TOO_SLOW'],
  [173, 'CANNOT_ALLOCATE_MEMORY'],
  [201, 'QUOTA_EXCEEDED'],
  [202, 'TOO_MANY_SIMULTANEOUS_QUERIES'],
  [203, 'NO_FREE_CONNECTION'],
  [209, 'SOCKET_TIMEOUT'],
  [210, 'NETWORK_ERROR'],
  [216, 'QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING'],
  [225, 'NO_ZOOKEEPER'],
  [236, 'ABORTED'],
  [241, 'MEMORY_LIMIT_EXCEEDED'],
  [242, 'TABLE_IS_READ_ONLY'],
  [252, 'TOO_MANY_PARTS'],
  [285, 'TOO_FEW_LIVE_REPLICAS'],
  [286, 'UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE'],
  [319, 'UNKNOWN_STATUS_OF_INSERT'],
  [373, 'SESSION_IS_LOCKED'],
  // A server shutting down cancels the queries it runs.
  [394, 'QUERY_WAS_CANCELLED'],
  [425, 'SYSTEM_ERROR'],
  [439, 'CANNOT_SCHEDULE_TASK'],
  [473, 'DEADLOCK_AVOIDED'],
  [999, 'KEEPER_EXCEPTION'],
  [1000, 'POCO_EXCEPTION'],
  // Operator mistakes: a dropped table, revoked grants, a wrong password. The rows are fine, and
  // dead-lettering every batch until someone notices would turn one slip into mass data loss;
  // retrying keeps the batches in the outbox until it is fixed.
  [60, 'UNKNOWN_TABLE'],
  [81, 'UNKNOWN_DATABASE'],
  [164, 'READONLY'],
  [192, 'UNKNOWN_USER'],
  [194, 'REQUIRED_PASSWORD'],
  [195, 'IP_ADDRESS_NOT_ALLOWED'],
  [497, 'ACCESS_DENIED'],
  [516, 'AUTHENTICATION_FAILED'],
]);

/** Socket-level failures: the request may or may not have reached the server. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** Messages @clickhouse/client and Node use for timeouts, aborts and dropped sockets. */
const NETWORK_MESSAGES =
  /^(Timeout error\.|The user aborted a request\.|socket hang up|read ECONNRESET)/;

/**
 * Whether an insert failure should be retried with the same token (true) or is permanent, so the
 * batch's rows go to the dead-letter queue (false). Retrying is safe because the token makes
 * ClickHouse drop a repeat of an insert that did land.
 */
export function isRetryable(err: unknown): boolean {
  return classify(err, 0);
}

interface ErrorLike {
  message?: unknown;
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
}

// Duck-typed rather than `instanceof`: errors raised by Node internals may come from another realm
// (Jest's sandbox, worker threads), where `instanceof Error` is false.
function classify(err: unknown, depth: number): boolean {
  if (err instanceof ClickHouseError) return RETRYABLE_CODES.has(Number(err.code));
  if (typeof err !== 'object' || err === null || depth > 4) return false;
  const e = err as ErrorLike;
  if (typeof e.message !== 'string') return false;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (NETWORK_MESSAGES.test(e.message)) return true;
  // Node's connect to 'localhost' tries ::1 and 127.0.0.1 and reports both in one AggregateError.
  if (Array.isArray(e.errors) && e.errors.some((inner) => classify(inner, depth + 1))) return true;
  if (e.cause !== undefined) return classify(e.cause, depth + 1);
  // TypeError and friends are deterministic (a BigInt JSON cannot serialize, a bad argument):
  // retrying would loop forever.
  if (e.name === 'TypeError' || e.name === 'RangeError' || e.name === 'SyntaxError') return false;
  // Anything else, such as a proxy's HTML error page the client could not parse, is not known to
  // be about the rows; keep the batch and retry rather than dead-letter good data.
  return true;
}
