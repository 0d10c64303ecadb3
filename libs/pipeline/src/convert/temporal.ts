import { type Converter, describe, fail } from './scalars';
import {
  epochToInstant,
  formatDays,
  type Instant,
  type IsoFields,
  parseIso,
  utcIsoMs,
  ZoneClock,
} from './time';

/** Ranges ClickHouse can store; outside them it would clamp or wrap silently, so we refuse. */
const DATE_MAX_DAYS = 65535; // 2149-06-06
const DATE32_MIN_DAYS = -25567; // 1900-01-01
const DATE32_MAX_DAYS = 120529; // 2299-12-31
const DATETIME_MAX_SECONDS = 4294967295; // 2106-02-07 06:28:15
const DATETIME64_MIN_SECONDS = -2208988800; // 1900-01-01 00:00:00
const DATETIME64_MAX_SECONDS = 10413791999; // 2299-12-31 23:59:59
const DATETIME64_9_MAX_SECONDS = 9223372036; // 2262-04-11: Int64 nanoseconds

type Zone = ZoneClock | string | undefined;

/**
 * Reads any supported timestamp into `out`; returns a reason on failure. Texts without an offset
 * are wall-clock times of the column's time zone (UTC when it names none).
 */
function readInstant(
  value: unknown,
  zone: () => Zone,
  iso: IsoFields,
  out: Instant,
): string | undefined {
  if (typeof value === 'string') {
    // The usual event time (toISOString's shape): the cheap exact parser first. The event-time
    // read parsed the same text; a one-entry memo to skip this second parse measured slower.
    const ms = utcIsoMs(value);
    if (ms !== undefined) {
      out.seconds = Math.floor(ms / 1000);
      out.nanos = (ms - out.seconds * 1000) * 1e6;
      return undefined;
    }
    const reason = parseIso(value, iso);
    if (reason !== undefined) return epochToInstant(value, out) === undefined ? undefined : reason;
    let seconds = iso.days * 86400 + iso.secondOfDay;
    if (iso.offset !== undefined) {
      seconds -= iso.offset;
    } else {
      const clock = zone();
      if (typeof clock === 'string') return clock;
      if (clock !== undefined) seconds = clock.toUtc(seconds);
    }
    out.seconds = seconds;
    out.nanos = iso.nanos;
    return undefined;
  }
  if (typeof value === 'number' || typeof value === 'bigint') return epochToInstant(value, out);
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) return 'invalid Date';
    out.seconds = Math.floor(ms / 1000);
    out.nanos = (ms - out.seconds * 1000) * 1e6;
    return undefined;
  }
  if (isTimestampMessage(value)) {
    // google.protobuf.Timestamp, as @bufbuild/cel returns timestamps.
    out.seconds = Number(value.seconds);
    out.nanos = value.nanos;
    return undefined;
  }
  return `expected an ISO 8601 text or an epoch number, got ${describe(value)}`;
}

function isTimestampMessage(value: unknown): value is { seconds: bigint | number; nanos: number } {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { seconds?: unknown; nanos?: unknown };
  return (
    (typeof v.seconds === 'bigint' || typeof v.seconds === 'number') && typeof v.nanos === 'number'
  );
}

/** Builds the zone clock on first use, so unknown zones only fail texts that need them. */
function lazyZone(timezone: string | undefined): () => Zone {
  let zone: Zone;
  let built = false;
  return () => {
    if (!built) {
      built = true;
      try {
        zone = timezone === undefined ? undefined : new ZoneClock(timezone);
      } catch {
        zone = `time zone ${timezone} is unknown to Node; send times with an offset or Z`;
      }
    }
    return zone;
  };
}

export function dateConverter(wide: boolean, column: string): Converter {
  const min = wide ? DATE32_MIN_DAYS : 0;
  const max = wide ? DATE32_MAX_DAYS : DATE_MAX_DAYS;
  const iso: IsoFields = { days: 0, secondOfDay: 0, nanos: 0, hasTime: false, offset: undefined };
  const instant: Instant = { seconds: 0, nanos: 0 };
  const utc = (): Zone => undefined;
  // Events of one stream mostly share a day: keep the last text.
  let lastDays = NaN;
  let lastText = '';
  return (value) => {
    let days: number;
    // A date as written ('2024-05-01', or a local time) is taken literally; an instant (offset,
    // Z, epoch number) is taken as its UTC date.
    if (
      typeof value === 'string' &&
      parseIso(value, iso) === undefined &&
      iso.offset === undefined
    ) {
      days = iso.days;
    } else {
      const reason = readInstant(value, utc, iso, instant);
      if (reason !== undefined) return fail(column, reason);
      days = Math.floor(instant.seconds / 86400);
    }
    if (days === lastDays) return lastText;
    if (days < min || days > max) {
      return fail(column, `${describe(value)} is outside the range of ${wide ? 'Date32' : 'Date'}`);
    }
    lastDays = days;
    lastText = formatDays(days);
    return lastText;
  };
}

/** DateTime is sent as epoch seconds: a JSON number, independent of any time zone. */
export function dateTimeConverter(timezone: string | undefined, column: string): Converter {
  const zone = lazyZone(timezone);
  const iso: IsoFields = { days: 0, secondOfDay: 0, nanos: 0, hasTime: false, offset: undefined };
  const instant: Instant = { seconds: 0, nanos: 0 };
  return (value) => {
    const reason = readInstant(value, zone, iso, instant);
    if (reason !== undefined) return fail(column, reason);
    if (instant.seconds < 0 || instant.seconds > DATETIME_MAX_SECONDS) {
      return fail(column, `${describe(value)} is outside the range of DateTime (1970 to 2106)`);
    }
    return instant.seconds;
  };
}

/**
 * DateTime64(p) is sent as a JSON number of ticks (10^-p s), which ClickHouse reads exactly and
 * whatever the time zone; past 2^53 ticks (p >= 7, or p = 6 after 2255) numbers would lose
 * digits, so those go as the text 'seconds.fraction', which ClickHouse reads exactly too.
 */
export function dateTime64Converter(
  precision: number,
  timezone: string | undefined,
  column: string,
): Converter {
  const zone = lazyZone(timezone);
  const iso: IsoFields = { days: 0, secondOfDay: 0, nanos: 0, hasTime: false, offset: undefined };
  const instant: Instant = { seconds: 0, nanos: 0 };
  const tickNanos = 10 ** (9 - precision);
  const ticksPerSecond = 10 ** precision;
  const safeSeconds = Math.floor(Number.MAX_SAFE_INTEGER / ticksPerSecond) - 1;
  const max = precision === 9 ? DATETIME64_9_MAX_SECONDS : DATETIME64_MAX_SECONDS;
  return (value) => {
    const reason = readInstant(value, zone, iso, instant);
    if (reason !== undefined) return fail(column, reason);
    const { seconds } = instant;
    if (seconds < DATETIME64_MIN_SECONDS || seconds > max) {
      return fail(column, `${describe(value)} is outside the range of DateTime64(${precision})`);
    }
    // Digits past the precision are cut, as ClickHouse does when it parses text.
    const ticks = Math.floor(instant.nanos / tickNanos);
    if (Math.abs(seconds) <= safeSeconds) return seconds * ticksPerSecond + ticks;
    if (seconds >= 0 || ticks === 0) return `${seconds}.${String(ticks).padStart(precision, '0')}`;
    // '-5.25' means -(5.25): spell the negative instant that way. The whole part is never 0 here,
    // which matters because ClickHouse drops the sign of '-0.25'.
    const fraction = String(ticksPerSecond - ticks).padStart(precision, '0');
    return `-${-(seconds + 1)}.${fraction}`;
  };
}
