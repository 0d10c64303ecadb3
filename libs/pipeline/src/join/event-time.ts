import { type Instant, epochToInstant } from '../convert/time';
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

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const a = text.charCodeAt(at) - 48;
  const b = text.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * `YYYY-MM-DDTHH:mm:ss.sssZ` (what `Date.prototype.toISOString` writes, the common event time)
 * read by hand: the same number as Date.parse, at a fraction of its cost on the per-event path.
 * Anything else, or a field out of range, is left to Date.parse (undefined).
 */
export function utcIsoMs(text: string): number | undefined {
  if (
    text.length !== 24 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 || // .
    text.charCodeAt(23) !== 90 // Z
  ) {
    return undefined;
  }
  const century = twoDigits(text, 0);
  const yy = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  const ms10 = twoDigits(text, 20);
  const ms1 = text.charCodeAt(22) - 48;
  if (century < 0 || yy < 0 || ms10 < 0 || ms1 < 0 || ms1 > 9) return undefined;
  if (month < 1 || month > 12 || hour < 0 || hour > 23 || minute < 0 || minute > 59)
    return undefined;
  if (second < 0 || second > 59 || day < 1) return undefined;
  const year = century * 100 + yy;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number);
  if (day > monthDays) return undefined;
  // Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms10 * 10 + ms1;
}
