import { ConversionError } from './errors';
import {
  boolConverter,
  type Converter,
  decimalConverter,
  describe,
  enumConverter,
  fail,
  fixedStringConverter,
  floatConverter,
  intConverter,
  ipv4Converter,
  ipv6Converter,
  stringConverter,
  uuidConverter,
} from './scalars';
import { dateConverter, dateTime64Converter, dateTimeConverter } from './temporal';
import type { ChType } from './types';

export type { Converter } from './scalars';

/**
 * Compiles the converter of one column type once; call it per value. It accepts values of a parsed
 * JSON event or a CEL result (bigint, Date, Map) and returns a JSON-safe value (never a bigint)
 * for a JSONEachRow insert, or throws ConversionError naming `column`.
 */
export function compileConverter(type: ChType, column: string): Converter {
  switch (type.kind) {
    case 'String':
      return stringConverter(column);
    case 'FixedString':
      return fixedStringConverter(type.length, column);
    case 'Int':
      return intConverter(type.bits, type.signed, column);
    case 'Float':
      return floatConverter(type.bits, column);
    case 'Decimal':
      return decimalConverter(type.precision, type.scale, column);
    case 'Bool':
      return boolConverter(column);
    case 'UUID':
      return uuidConverter(column);
    case 'Date':
      return dateConverter(false, column);
    case 'Date32':
      return dateConverter(true, column);
    case 'DateTime':
      return dateTimeConverter(type.timezone, column);
    case 'DateTime64':
      return dateTime64Converter(type.precision, type.timezone, column);
    case 'Enum':
      return enumConverter(type.values, column);
    case 'IPv4':
      return ipv4Converter(column);
    case 'IPv6':
      return ipv6Converter(column);
    case 'JSON':
      return jsonConverter(column);
    case 'LowCardinality':
      return compileConverter(type.inner, column);
    case 'Nullable': {
      const inner = compileConverter(type.inner, column);
      return (value) => (value === null || value === undefined ? null : inner(value));
    }
    case 'Array':
      return arrayConverter(compileConverter(type.element, column), column);
    case 'Map':
      return mapConverter(
        compileConverter(type.key, column),
        compileConverter(type.value, column),
        column,
      );
    case 'Tuple':
      return tupleConverter(
        type.elements.map((e) => compileConverter(e, column)),
        type.names,
        column,
      );
  }
}

function rethrowWithin(err: unknown, segment: string): never {
  if (err instanceof ConversionError) throw err.within(segment);
  throw err;
}

/** Copies the array only when an element changes, so Array(String) passes through untouched. */
function arrayConverter(element: Converter, column: string): Converter {
  return (value) => {
    if (!Array.isArray(value)) return fail(column, `expected an array, got ${describe(value)}`);
    const items = value as unknown[];
    let out: unknown[] | undefined;
    let i = 0;
    try {
      for (; i < items.length; i++) {
        const item = items[i];
        const converted = element(item);
        if (out !== undefined) out.push(converted);
        else if (converted !== item) {
          out = items.slice(0, i);
          out.push(converted);
        }
      }
    } catch (err) {
      rethrowWithin(err, `[${i}]`);
    }
    return out ?? items;
  };
}

/** Sets a field even when it is named __proto__ (plain assignment would change the prototype). */
export function setField(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/**
 * Map(K, V) from a plain object or a JS Map; sent as a JSON object (ClickHouse parses the keys).
 * A plain object whose keys and values need no change is passed through as is.
 */
function mapConverter(key: Converter, val: Converter, column: string): Converter {
  const convertEntry = (k: unknown, v: unknown, out: Record<string, unknown>): boolean => {
    let segment = `key ${describe(k)}`;
    try {
      const ck = key(k);
      if (typeof ck !== 'string' && typeof ck !== 'number' && typeof ck !== 'boolean') {
        return fail(column, `${describe(k)} cannot be a map key`);
      }
      segment = `[${describe(k)}]`;
      const cv = val(v);
      const keyText = String(ck);
      setField(out, keyText, cv);
      return keyText !== k || cv !== v;
    } catch (err) {
      return rethrowWithin(err, segment);
    }
  };
  return (value) => {
    if (value instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of value as Map<unknown, unknown>) convertEntry(k, v, out);
      return out;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(column, `expected an object or a Map, got ${describe(value)}`);
    }
    const source = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let changed = false;
    for (const k of Object.keys(source)) {
      if (convertEntry(k, source[k], out)) changed = true;
    }
    return changed ? out : source;
  };
}

/** Sent as a JSON array, which ClickHouse reads for named and unnamed tuples alike. */
function tupleConverter(
  elements: readonly Converter[],
  names: readonly string[] | undefined,
  column: string,
): Converter {
  return (value) => {
    const out: unknown[] = new Array<unknown>(elements.length);
    const fromArray = Array.isArray(value);
    if (!fromArray && (names === undefined || typeof value !== 'object' || value === null)) {
      return fail(
        column,
        `expected ${names ? 'an object or ' : ''}an array, got ${describe(value)}`,
      );
    }
    if (fromArray && (value as unknown[]).length !== elements.length) {
      return fail(
        column,
        `expected ${elements.length} tuple elements, got ${(value as unknown[]).length}`,
      );
    }
    for (let i = 0; i < elements.length; i++) {
      const segment = names?.[i] ?? String(i + 1);
      const item = fromArray
        ? (value as unknown[])[i]
        : (value as Record<string, unknown>)[segment];
      try {
        out[i] = (elements[i] as Converter)(item);
      } catch (err) {
        rethrowWithin(err, segment);
      }
    }
    return out;
  };
}

/** JSON columns take an object (or its text); bigints inside become numbers or strings. */
function jsonConverter(column: string): Converter {
  return (value) => {
    let v = value;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v) as unknown;
      } catch {
        return fail(column, `${describe(value)} is not JSON text`);
      }
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Map) {
      return fail(column, `expected a JSON object, got ${describe(value)}`);
    }
    return jsonSafe(v);
  };
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value.toString();
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const safe = jsonSafe(item);
      if (safe !== item) (out ??= value.slice())[i] = safe;
    }
    return out ?? value;
  }
  const source = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k of Object.keys(source)) {
    const item = source[k];
    const safe = jsonSafe(item);
    if (safe !== item) setField((out ??= { ...source }), k, safe);
  }
  return out ?? source;
}
