import { splitDecimal } from './decimal';

/** An event's text as a dead-letter reason quotes it: at most 40 characters (the text may be
 * megabytes long). */
function shown(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/**
 * A point in time: whole seconds since 1970-01-01T00:00:00Z and nanoseconds in [0, 1e9).
 * Converters keep one and overwrite it per value, so reading a timestamp allocates nothing.
 */
export interface Instant {
  seconds: number;
  nanos: number;
}

/**
 * Epoch numbers carry no unit, so the unit is read from the magnitude: below 1e11 it is seconds
 * (1e11 s is the year 5138), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
 * `Date.now()` and `time.time()` therefore both work. Millisecond values before 1973-03-03 are
 * read as seconds: that is the price of the rule.
 */
const SECONDS_BELOW = 1e11;
const MILLIS_BELOW = 1e14;
const MICROS_BELOW = 1e17;

/** Reads an epoch number (number, bigint or numeric string); returns a reason on failure. */
export function epochToInstant(value: number | bigint | string, out: Instant): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return `${value} is not a point in time`;
    const abs = Math.abs(value);
    if (Number.isSafeInteger(value)) {
      const unit = abs < SECONDS_BELOW ? 1 : abs < MILLIS_BELOW ? 1e3 : 1e6;
      if (abs < MICROS_BELOW) {
        const seconds = Math.floor(value / unit);
        out.seconds = seconds;
        out.nanos = (value - seconds * unit) * (1e9 / unit);
        return undefined;
      }
    }
    // Fractions and huge values go through their decimal text, which keeps 1700000000.123 exact.
    return epochTextToInstant(
      Number.isInteger(value) ? BigInt(value).toString() : String(value),
      out,
    );
  }
  return epochTextToInstant(typeof value === 'bigint' ? value.toString() : value, out);
}

function epochTextToInstant(text: string, out: Instant): string | undefined {
  const d = splitDecimal(text);
  if (d === undefined) return `'${shown(text)}' is not an epoch number`;
  const magnitude = d.int.length === 0 ? 0 : Number(d.int);
  const shift =
    magnitude < SECONDS_BELOW ? 0 : magnitude < MILLIS_BELOW ? 3 : magnitude < MICROS_BELOW ? 6 : 9;
  const split = d.int.length - shift;
  const wholeDigits = split > 0 ? d.int.slice(0, split) : '';
  const subDigits = (split >= 0 ? d.int.slice(split) : d.int.padStart(shift, '0')) + d.frac;
  const seconds = wholeDigits === '' ? 0 : Number(wholeDigits);
  if (!Number.isSafeInteger(seconds)) return `${shown(text)} is out of range`;
  const nanos = subDigits === '' ? 0 : Number(subDigits.slice(0, 9).padEnd(9, '0'));
  setSigned(out, d.negative, seconds, nanos);
  return undefined;
}

function setSigned(out: Instant, negative: boolean, seconds: number, nanos: number): void {
  if (!negative) {
    out.seconds = seconds;
    out.nanos = nanos;
  } else if (nanos === 0) {
    out.seconds = -seconds;
    out.nanos = 0;
  } else {
    out.seconds = -seconds - 1;
    out.nanos = 1e9 - nanos;
  }
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(?:\s*([Zz])|\s*([+-])(\d{2})(?::?(\d{2}))?)?$/;

/** The calendar fields of an ISO 8601 text; `offset` is undefined when the text names none. */
export interface IsoFields {
  days: number;
  secondOfDay: number;
  nanos: number;
  hasTime: boolean;
  /** Seconds east of UTC, or undefined for a local ("naive") time. */
  offset: number | undefined;
}

/** Parses `2024-05-01`, `2024-05-01T10:00:00.123456Z`, `2024-05-01 10:00:00+02:00`, ... */
export function parseIso(text: string, out: IsoFields): string | undefined {
  // Hot path: a per-event timestamp, read by char codes without regex match arrays.
  if (scanIso(text, out)) return undefined;
  const m = ISO_RE.exec(text);
  if (m === null) return `'${shown(text)}' is not an ISO 8601 date or time`;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    return `'${shown(text)}' is not a calendar date`;
  }
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (hour > 23 || minute > 59 || second > 59) return `'${shown(text)}' is not a valid time of day`;
  out.days = daysFromCivil(year, month, day);
  out.secondOfDay = hour * 3600 + minute * 60 + second;
  out.nanos = m[7] === undefined ? 0 : Number(m[7].slice(0, 9).padEnd(9, '0'));
  out.hasTime = m[4] !== undefined;
  if (m[8] !== undefined) {
    out.offset = 0;
  } else if (m[9] !== undefined) {
    const hours = Number(m[10]);
    const minutes = m[11] === undefined ? 0 : Number(m[11]);
    if (hours > 23 || minutes > 59) return `'${shown(text)}' has an invalid UTC offset`;
    out.offset = (m[9] === '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
  } else {
    out.offset = undefined;
  }
  return undefined;
}

/**
 * `YYYY-MM-DDTHH:mm:ss.sssZ` (what `Date.prototype.toISOString` writes, the usual event time) as
 * epoch ms: the same number as Date.parse at about half its cost, for the per-event event time.
 * Anything else, or a field out of range, is undefined: the caller falls back to Date.parse.
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
  const hi = two(text, 0);
  const lo = two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  const hour = two(text, 11);
  const minute = two(text, 14);
  const second = two(text, 17);
  const centis = two(text, 20);
  const milli = text.charCodeAt(22) - 48;
  if (hi < 0 || lo < 0 || centis < 0 || milli < 0 || milli > 9) return undefined;
  if (month < 1 || month > 12 || hour < 0 || hour > 23 || minute < 0 || minute > 59)
    return undefined;
  if (second < 0 || second > 59 || day < 1 || day > daysInMonth(hi * 100 + lo, month))
    return undefined;
  const days = daysFromCivil(hi * 100 + lo, month, day);
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + centis * 10 + milli;
}

/** Value of the two digits at `i`, or -1. */
function two(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The common shapes `YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH:MM|±HHMM]`, valid ones only; false
 * sends anything else (and every invalid text, for its message) to the regex.
 */
function scanIso(text: string, out: IsoFields): boolean {
  const len = text.length;
  if (len < 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false;
  const hi = two(text, 0);
  const lo = two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  if (hi < 0 || lo < 0 || month < 1 || month > 12 || day < 1) return false;
  const year = hi * 100 + lo;
  if (day > daysInMonth(year, month)) return false;
  out.days = daysFromCivil(year, month, day);
  out.secondOfDay = 0;
  out.nanos = 0;
  out.hasTime = false;
  out.offset = undefined;
  if (len === 10) return true;
  const sep = text.charCodeAt(10);
  if ((sep !== 84 && sep !== 116 && sep !== 32) || len < 16 || text.charCodeAt(13) !== 58) {
    return false;
  }
  const hour = two(text, 11);
  const minute = two(text, 14);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return false;
  let i = 16;
  let second = 0;
  if (text.charCodeAt(i) === 58) {
    second = two(text, i + 1);
    if (second < 0 || second > 59) return false;
    i += 3;
    const dot = text.charCodeAt(i);
    if (dot === 46 || dot === 44) {
      let nanos = 0;
      let digits = 0;
      for (i++; i < len; i++) {
        const d = text.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        if (digits < 9) nanos = nanos * 10 + d;
        digits++;
      }
      if (digits === 0) return false;
      for (; digits < 9; digits++) nanos *= 10;
      out.nanos = nanos;
    }
  }
  out.hasTime = true;
  out.secondOfDay = hour * 3600 + minute * 60 + second;
  if (i === len) return true;
  const zone = text.charCodeAt(i);
  if (zone === 90 || zone === 122) {
    out.offset = 0;
    return i + 1 === len;
  }
  if (zone !== 43 && zone !== 45) return false;
  const oh = two(text, i + 1);
  const colon = text.charCodeAt(i + 3) === 58 ? 1 : 0;
  const om = two(text, i + 3 + colon);
  if (oh < 0 || oh > 23 || om < 0 || om > 59 || i + 5 + colon !== len) return false;
  out.offset = (zone === 45 ? -1 : 1) * (oh * 3600 + om * 60);
  return true;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** 'YYYY-MM-DD' of a day number (civil_from_days). */
export function formatDays(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return `${year}-${month < 10 ? '0' : ''}${month}-${day < 10 ? '0' : ''}${day}`;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Turns a local wall-clock time of an IANA zone into epoch seconds. Used only for texts without
 * an offset written to a column that names its time zone, as ClickHouse itself reads them.
 */
export class ZoneClock {
  private readonly format: Intl.DateTimeFormat;

  constructor(readonly zone: string) {
    // Throws RangeError for zones Node's ICU does not know; the caller reports it.
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** Epoch seconds of `localSeconds` (seconds since 1970-01-01 on this zone's wall clock). */
  toUtc(localSeconds: number): number {
    // Zone transitions fall on whole minutes, so one resolved offset serves a whole local minute;
    // a stream of events keeps hitting the same few minutes.
    const minute = Math.floor(localSeconds / 60);
    let offset = this.cache.get(minute);
    if (offset === undefined) {
      offset = this.resolveOffset(minute * 60);
      if (this.cache.size >= 4096) this.cache.clear();
      this.cache.set(minute, offset);
    }
    return localSeconds - offset;
  }

  private readonly cache = new Map<number, number>();

  /**
   * The offset in force at a local time. A time repeated by a backward shift takes the earlier
   * instant; a time skipped by a forward shift uses the offset before the shift, so it moves
   * forward (02:30 on a spring-forward night becomes 03:30), as ClickHouse does.
   */
  private resolveOffset(local: number): number {
    const before = this.offsetAt(local - 86400);
    const after = this.offsetAt(local + 86400);
    if (before === after) return before;
    const fitsBefore = this.offsetAt(local - before) === before;
    const fitsAfter = this.offsetAt(local - after) === after;
    if (fitsBefore && fitsAfter) return Math.max(before, after);
    if (fitsAfter) return after;
    return before;
  }

  private offsetAt(epochSeconds: number): number {
    let year = 0;
    let month = 1;
    let day = 1;
    let hour = 0;
    let minute = 0;
    let second = 0;
    for (const part of this.format.formatToParts(new Date(epochSeconds * 1000))) {
      const n = Number(part.value);
      if (part.type === 'year') year = n;
      else if (part.type === 'month') month = n;
      else if (part.type === 'day') day = n;
      else if (part.type === 'hour') hour = n;
      else if (part.type === 'minute') minute = n;
      else if (part.type === 'second') second = n;
    }
    const local = daysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    return local - epochSeconds;
  }
}
