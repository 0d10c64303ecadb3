import { type Instant, epochToInstant, utcIsoMs } from '../convert/time';
import { formatDuration } from '../duration';
import type { CompiledExpression, ExprInput, ExprValue } from '../expr';

/** An event-time expression gave something that is not a point in time. */
export class EventTimeError extends Error {
  override readonly name = 'EventTimeError';
}

const instant: Instant = { seconds: 0, nanos: 0 };

/**
 * Epoch ms of an event-time value: a timestamp, an ISO 8601 text, or an epoch number whose unit
 * follows from its magnitude (the converters' rule, so the table and the dedup window agree).
 */
export function eventTimeMs(value: ExprValue): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') {
    const fast = utcIsoMs(value);
    if (fast !== undefined) return fast;
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return parsed;
  }
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'string') {
    const problem = epochToInstant(value, instant);
    if (problem === undefined) return instant.seconds * 1000 + Math.floor(instant.nanos / 1e6);
    throw new EventTimeError(`event time: ${problem}`);
  }
  throw new EventTimeError(`event time: expected a timestamp, got ${typeof value}`);
}

/**
 * The event time dedup and a join go by: the source's `eventTime` expression, else the Kafka
 * timestamp. One further than `maxFutureMs` ahead of `now` (processing time) throws: a producer's
 * wrong clock or unit would otherwise hold join state until the watermark reaches it, or jump
 * the watermark and dedup expiry so that every later event is late or expires too early.
 */
export function sourceEventTime(
  expression: CompiledExpression | undefined,
  input: ExprInput,
  timestamp: number,
  now: number,
  maxFutureMs: number,
): number {
  const time = expression ? eventTimeMs(expression.evaluate(input)) : timestamp;
  if (time - now > maxFutureMs) throw new EventTimeError(tooFarAhead(time, now, maxFutureMs));
  return time;
}

/** Whether an event time is within `maxFutureMs` of `now` (the consumer's join marks). */
export function isPlausibleEventTime(time: number, now: number, maxFutureMs: number): boolean {
  return time - now <= maxFutureMs;
}

function tooFarAhead(time: number, now: number, maxFutureMs: number): string {
  return (
    `event time ${iso(time)} is more than ${formatDuration(maxFutureMs)} ` +
    `ahead of the clock (${iso(now)}; source.maxFutureEventTime)`
  );
}

// Dates reach ±8.64e15 ms; an epoch number can be larger.
function iso(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms since the epoch`;
}
