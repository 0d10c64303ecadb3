import { ClickHouseError } from '@clickhouse/client';

/**
 * Server error codes that mean ClickHouse refused the ROWS: a value that does not parse or fit
 * its column, a CHECK constraint, a NULL in a plain column. Such a failure repeats with every
 * retry of the same rows, so the writer finds the refused rows and dead-letters only those.
 *
 * An allow-list on purpose: any other code (disk full, replicas or Keeper away, a dropped table,
 * revoked grants, a code newer than this list) is about the server or the operator, not the
 * rows, and dead-lettering good rows for it would turn an incident into data loss. Those are
 * retried with a capped backoff and reported as stuck after a bound. Names checked against
 * `errorCodeToName()` of ClickHouse 26.7 (the local stack's chDB).
 */
export const DATA_ERROR_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'CANNOT_PARSE_TEXT'],
  [25, 'CANNOT_PARSE_ESCAPE_SEQUENCE'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [53, 'TYPE_MISMATCH'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  // Also "Unknown field found while parsing JSONEachRow": a column dropped under the pipeline.
  // The writer re-describes the table before treating it as bad rows (see the writer role).
  [117, 'INCORRECT_DATA'],
  [128, 'TOO_LARGE_ARRAY_SIZE'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [190, 'SIZES_OF_ARRAYS_DONT_MATCH'],
  [321, 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE'],
  [349, 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN'],
  [376, 'CANNOT_PARSE_UUID'],
  // throwIf() in a DEFAULT or a materialized view's SELECT: a rule of the table about the row.
  [395, 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO'],
  [407, 'DECIMAL_OVERFLOW'],
  [469, 'VIOLATED_CONSTRAINT'],
  [691, 'UNKNOWN_ELEMENT_OF_ENUM'],
]);

/**
 * Codes after which the table may no longer have the shape the rows were built for: the writer
 * describes it again (columns added, dropped or retyped; the table dropped or recreated).
 */
const SCHEMA_CODES = new Set([8, 10, 16, 47, 53, 60, 81, 117, 218]);

/** What to do with a failed insert. */
export type InsertFailure =
  /** ClickHouse refused (some of) the rows: find them, dead-letter only those. */
  | 'rows'
  /** Anything else: keep the batch, retry with the same token. */
  | 'retry';

/**
 * `rows` only for a ClickHouse server error whose code is in DATA_ERROR_CODES; everything else
 * (network, timeouts, HTTP errors without a ClickHouse code, unknown codes, local exceptions) is
 * `retry`. Retrying is always safe: the token makes ClickHouse drop a repeat of an insert that
 * landed.
 */
export function classifyInsertError(err: unknown): InsertFailure {
  const code = serverCode(err, 0);
  return code !== undefined && DATA_ERROR_CODES.has(code) ? 'rows' : 'retry';
}

/** Whether an insert failure should be retried with the same batch and token. */
export function isRetryable(err: unknown): boolean {
  return classifyInsertError(err) === 'retry';
}

/** Whether the error suggests describing the table again before going on. */
export function suggestsSchemaChange(err: unknown): boolean {
  const code = serverCode(err, 0);
  return code !== undefined && SCHEMA_CODES.has(code);
}

/** The ClickHouse server code of an error (or of its cause), when there is one. */
export function serverCodeOf(err: unknown): number | undefined {
  return serverCode(err, 0);
}

/**
 * The 1-based row of the insert body a data error names ("... (at row 3)", "Constraint `c` ... is
 * violated at row 3"), when it names one. Only a hint: with parallel parsing or several blocks it
 * may count from a chunk's start, so callers confirm it by inserting that row alone.
 */
export function refusedRowOf(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const m = /\bat row (\d+)\b/.exec(err.message);
  if (m === null) return undefined;
  const row = Number(m[1]);
  return Number.isSafeInteger(row) && row > 0 ? row : undefined;
}

interface ErrorLike {
  code?: unknown;
  cause?: unknown;
}

// Duck-typed past the first level: errors may come from another realm (Jest's sandbox, worker
// threads), where `instanceof` is false; a wrapped ClickHouseError is found through `cause`.
function serverCode(err: unknown, depth: number): number | undefined {
  if (err instanceof ClickHouseError) {
    const code = Number(err.code);
    return Number.isSafeInteger(code) ? code : undefined;
  }
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  const { cause } = err as ErrorLike;
  return cause === undefined ? undefined : serverCode(cause, depth + 1);
}
