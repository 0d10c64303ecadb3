// JSON text of row fields, byte for byte what JSON.stringify writes for them, without its generic
// walk over a row object: a row is written field by field by a compiled RowBuilder instead.

/** What JSON.stringify escapes in a string: quote, backslash, control characters, surrogates. */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * JSON.stringify(text). Most strings need no escape and are just quoted; the rest (and any
 * surrogate, paired or lone, which JSON.stringify keeps or escapes) go to JSON.stringify.
 */
export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * The text JSON.stringify writes for `value` as an object's field, or undefined when it leaves
 * the field out (undefined, functions, symbols, a toJSON returning undefined). Throws what
 * JSON.stringify throws (a bigint, a cycle).
 */
export function jsonFieldValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return jsonString(value);
    case 'number':
      if (value >= 1e9 && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)) {
        return integerText(value);
      }
      // Number::toString is JSON's number text (-0 is "0" in both); NaN and ±Infinity are null.
      return Number.isFinite(value) ? `${value}` : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      return value === null ? 'null' : JSON.stringify(value);
  }
}

/**
 * `${n}` of a safe integer of 10 to 16 digits (epoch ms, DateTime64 ticks: a number per row),
 * at about half the cost: V8 formats such a double through its generic double-to-text path,
 * while both halves below 1e8 are small integers it formats (and caches) cheaply.
 */
function integerText(n: number): string {
  let high = Math.floor(n / 1e8);
  let low = n - high * 1e8;
  // The division rounds: n just below a multiple of 1e8 may land on it. Both steps are exact.
  if (low < 0) {
    high -= 1;
    low += 1e8;
  } else if (low >= 1e8) {
    high += 1;
    low -= 1e8;
  }
  const lowText = `${low}`;
  return `${high}${ZEROS.slice(lowText.length)}${lowText}`;
}

const ZEROS = '00000000';

/**
 * The order JSON.stringify writes the fields of an object whose keys were set in `names` order:
 * array-index keys ("0", "42") first in numeric order, then the others as inserted (ES2015+
 * OrdinaryOwnPropertyKeys). Read from a real object, so it follows the engine exactly. Every
 * subset of the keys keeps this relative order, so one order serves every row.
 */
export function jsonKeyOrder(names: readonly string[]): number[] {
  const probe: Record<string, number> = {};
  names.forEach((name, i) => {
    // __proto__ as an own field, as setField writes it.
    Object.defineProperty(probe, name, {
      value: i,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  });
  return Object.keys(probe).map((name) => probe[name] as number);
}
