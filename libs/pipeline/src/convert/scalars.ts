import { isIP } from 'node:net';
import {
  type DecimalDigits,
  formatDigits,
  numberDigits,
  roundDigits,
  splitDecimal,
} from './decimal';
import { ConversionError } from './errors';
import { DOUBLE_DIGITS, isFloatText, numberTextProblem } from './number-text';
import type { IntBits } from './types';

/** JS value in, value for a JSONEachRow field out; throws ConversionError. */
export type Converter = (value: unknown) => unknown;

export function fail(column: string, reason: string): never {
  throw new ConversionError(column, reason);
}

/** A short, safe rendering of an offending value for the dead-letter reason. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    default:
      return Array.isArray(value) ? 'an array' : `an ${typeof value}`;
  }
}

/** CEL libraries box unsigned ints (cel-js UnsignedInteger); their valueOf gives the number. */
function unbox(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  const primitive: unknown = (value as { valueOf(): unknown }).valueOf();
  return typeof primitive === 'bigint' || typeof primitive === 'number' ? primitive : value;
}

const INTEGER_TEXT = /^[+-]?\d+$/;

export function intConverter(bits: IntBits, signed: boolean, column: string): Converter {
  const name = `${signed ? '' : 'U'}Int${bits}`;
  const minBig = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const maxBig = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const min = Math.max(Number(minBig), Number.MIN_SAFE_INTEGER);
  const max = Math.min(Number(maxBig), Number.MAX_SAFE_INTEGER);

  const slow = (value: unknown): unknown => {
    let v = unbox(value);
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) return fail(column, `${describe(v)} is not an integer`);
      if (v >= min && v <= max) return v;
      if (!Number.isSafeInteger(v) && BigInt(v) >= minBig && BigInt(v) <= maxBig) {
        // JSON.parse already rounded it; writing the rounded value would be silent corruption.
        return fail(column, `${v} is beyond 2^53 and lost precision; send it as a string`);
      }
      return fail(column, `${v} is out of range for ${name}`);
    }
    if (typeof v === 'string') {
      // Length first: BigInt() of a long text costs more than linear time.
      const tooLong = numberTextProblem(v);
      if (tooLong !== undefined) return fail(column, tooLong);
      if (!INTEGER_TEXT.test(v)) return fail(column, `${describe(v)} is not an integer`);
      if (v.length <= 15) {
        const n = Number(v);
        if (n >= min && n <= max) return n;
        return fail(column, `${v} is out of range for ${name}`);
      }
      v = BigInt(v);
    }
    if (typeof v !== 'bigint') return fail(column, `expected an integer, got ${describe(value)}`);
    if (v < minBig || v > maxBig) return fail(column, `${v} is out of range for ${name}`);
    const n = Number(v);
    // Wider than 2^53 stays text: JSON numbers would lose digits, ClickHouse reads quoted ints.
    return Number.isSafeInteger(n) ? n : v.toString();
  };
  return (value) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? value
      : slow(value);
}

const FLOAT32_MAX = 3.4028234663852886e38;
const SPECIAL_FLOATS: Readonly<Record<string, string>> = {
  nan: 'nan',
  NaN: 'nan',
  inf: 'inf',
  '+inf': 'inf',
  Infinity: 'inf',
  '+Infinity': 'inf',
  '-inf': '-inf',
  '-Infinity': '-inf',
};

export function floatConverter(bits: 32 | 64, column: string): Converter {
  const check = (n: number): unknown => {
    // JSON has no NaN/Infinity (JSON.stringify would write null); ClickHouse reads these texts.
    if (Number.isNaN(n)) return 'nan';
    if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
    if (bits === 32 && Math.abs(n) > FLOAT32_MAX)
      return fail(column, `${n} is out of range for Float32`);
    return n;
  };
  return (value) => {
    const v = unbox(value);
    if (typeof v === 'number') return check(v);
    if (typeof v === 'bigint') return check(Number(v));
    if (typeof v === 'string') {
      const special = SPECIAL_FLOATS[v];
      if (special !== undefined) return special;
      const tooLong = numberTextProblem(v);
      if (tooLong !== undefined) return fail(column, tooLong);
      if (isFloatText(v)) return check(Number(v));
    }
    return fail(column, `expected a number, got ${describe(value)}`);
  };
}

export function decimalConverter(precision: number, scale: number, column: string): Converter {
  const intDigits = precision - scale;
  const limit = 10 ** intDigits;
  const factor = 10 ** scale;
  const name = `Decimal(${precision}, ${scale})`;
  return (value) => {
    const v = unbox(value);
    if (typeof v === 'number' && Math.abs(v) < limit) {
      // When r / 10^scale reads back as v, the shortest text of v (what JSON.stringify writes)
      // has at most `scale` fraction digits, so ClickHouse reads the number exactly: no digit
      // work and no allocation for the common case.
      // Below 10^15 the value has at most DOUBLE_DIGITS significant digits (see `inexact`).
      const r = Math.round(v * factor);
      if (Math.abs(r) < 1e15 && r / factor === v) return v;
      if (Number.isSafeInteger(v)) return v;
    }
    let digits;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return fail(column, `${v} is not a decimal number`);
      digits = numberDigits(v);
      const rounded = roundDigits(digits, scale);
      if (rounded.int.length > intDigits)
        return fail(column, `${describe(v)} does not fit ${name}`);
      if (Math.abs(v) > Number.MAX_SAFE_INTEGER || inexact(rounded)) {
        // Like an Int64 beyond 2^53: JSON.parse made it a double, which may have lost digits.
        return fail(
          column,
          `${v} cannot be exact as a JSON number (at most ${DOUBLE_DIGITS} significant digits, ` +
            'or an integer up to 2^53); send it as a string',
        );
      }
      return formatDigits(rounded);
    } else if (typeof v === 'string' || typeof v === 'bigint') {
      const tooLong = typeof v === 'string' ? numberTextProblem(v) : undefined;
      if (tooLong !== undefined) return fail(column, tooLong);
      digits = splitDecimal(typeof v === 'string' ? v : v.toString());
      if (digits === undefined) return fail(column, `${describe(v)} is not a decimal number`);
    } else {
      return fail(column, `expected a decimal number, got ${describe(value)}`);
    }
    const rounded = roundDigits(digits, scale);
    if (rounded.int.length > intDigits) return fail(column, `${describe(v)} does not fit ${name}`);
    return formatDigits(rounded);
  };
}

/**
 * A double's digits, rounded to the column's scale, that need more significant digits than a
 * double holds: what the producer sent may have had other digits there, lost by JSON.parse.
 */
function inexact(d: DecimalDigits): boolean {
  const digits = d.int === '' ? d.frac.replace(LEADING_ZEROS, '') : d.int + d.frac;
  let significant = digits.length;
  while (significant > 0 && digits.charCodeAt(significant - 1) === 48) significant -= 1;
  return significant > DOUBLE_DIGITS;
}

const LEADING_ZEROS = /^0+/;

export function stringConverter(column: string): Converter {
  return (value) => {
    if (typeof value === 'string') return value;
    return stringify(value, column);
  };
}

function stringify(raw: unknown, column: string): string {
  if (raw instanceof Date) {
    if (Number.isNaN(raw.getTime())) return fail(column, 'invalid Date');
    return raw.toISOString();
  }
  const value = unbox(raw);
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      if (value === null) break;
      if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
      // A nested object into a String column is kept as its JSON text (a raw payload column).
      return JSON.stringify(value, (_key, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      );
    default:
      break;
  }
  return fail(column, `expected a string, got ${describe(raw)}`);
}

export function fixedStringConverter(length: number, column: string): Converter {
  return (value) => {
    const s = typeof value === 'string' ? value : stringify(value, column);
    // Each UTF-16 unit is at most 3 UTF-8 bytes, so short strings skip the byte count.
    if (s.length * 3 > length && Buffer.byteLength(s, 'utf8') > length) {
      return fail(column, `${describe(s)} is longer than FixedString(${length}) bytes`);
    }
    return s;
  };
}

export function boolConverter(column: string): Converter {
  return (value) => {
    if (typeof value === 'boolean') return value;
    if (value === 1 || value === 0) return value === 1;
    if (value === 1n || value === 0n) return value === 1n;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    return fail(column, `expected true, false, 1 or 0, got ${describe(value)}`);
  };
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function uuidConverter(column: string): Converter {
  return (value) => {
    if (typeof value === 'string' && UUID_RE.test(value)) return value;
    return fail(column, `${describe(value)} is not a UUID`);
  };
}

const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function ipv4Converter(column: string): Converter {
  return (value) => {
    if (typeof value === 'string' && IPV4_RE.test(value)) return value;
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) {
      return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
    }
    return fail(column, `${describe(value)} is not an IPv4 address`);
  };
}

export function ipv6Converter(column: string): Converter {
  // An IPv4 text is accepted too: ClickHouse stores it as ::ffff:a.b.c.d.
  return (value) => {
    if (typeof value === 'string' && isIP(value) !== 0) return value;
    return fail(column, `${describe(value)} is not an IPv6 address`);
  };
}

export function enumConverter(values: ReadonlyMap<string, number>, column: string): Converter {
  const byNumber = new Map<number, string>();
  for (const [name, n] of values) byNumber.set(n, name);
  // Names are sent, never numbers: a quoted '1' could be either for ClickHouse.
  return (value) => {
    if (typeof value === 'string') {
      if (values.has(value)) return value;
      if (INTEGER_TEXT.test(value)) {
        const name = byNumber.get(Number(value));
        if (name !== undefined) return name;
      }
    } else if (typeof value === 'number' || typeof value === 'bigint') {
      const name = byNumber.get(Number(value));
      if (name !== undefined) return name;
    }
    return fail(column, `${describe(value)} is not one of the enum values`);
  };
}
