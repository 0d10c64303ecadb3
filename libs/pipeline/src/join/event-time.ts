import { type Instant, epochToInstant, utcIsoMs } from '../convert/time';
import type { ExprValue } from '../expr';

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
