// What callers get back from an expression: plain JavaScript, never engine objects.
//   CEL double -> number (every number read from a JSON event is a double)
//   CEL int, uint -> bigint (int literals, int(), size(), integer arithmetic)
//   string, bool, null -> string, boolean, null
//   bytes -> Uint8Array, timestamp -> Date, duration -> number of milliseconds
//   list -> array, map -> plain object (values converted the same way)
// Values read straight from the event (field paths) are returned as they are.

export type ExprValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Date
  | Uint8Array
  | readonly ExprValue[]
  | { readonly [key: string]: ExprValue };

/** Values usable as a dedup, join or routing key. */
export type KeyValue = string | number | bigint | boolean;

export function toPlain(value: unknown): ExprValue {
  if (typeof value !== 'object' || value === null) return value as ExprValue;
  if (value instanceof Date || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    const out: Record<string, ExprValue> = {};
    for (const [k, v] of value as Map<unknown, unknown>) out[String(k)] = toPlain(v);
    return out;
  }
  // The engine's uint and duration classes are not exported, so they are known by name.
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  if (ctor === 'UnsignedInt') return (value as { valueOf(): bigint }).valueOf();
  if (ctor === 'Duration') {
    const d = value as { seconds: bigint; nanos: number };
    return Number(d.seconds) * 1000 + Math.trunc(d.nanos / 1e6);
  }
  const out: Record<string, ExprValue> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
  return out;
}

export function isKeyValue(value: unknown): value is KeyValue {
  const t = typeof value;
  return (
    t === 'string' ||
    t === 'bigint' ||
    t === 'boolean' ||
    (t === 'number' && Number.isFinite(value))
  );
}

/**
 * The canonical text of a key, the same in every process, so the consumer's routing hash and the
 * actor's dedup/join hash agree: `5`, `5n` and `5.0` all give "5"; strings are kept as they are.
 * Numbers and strings therefore share a key space ("5" and 5 are the same key), which is what
 * producers that are inconsistent about quoting ids need.
 */
export function keyText(value: KeyValue): string {
  return typeof value === 'string' ? value : String(value);
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Date) return 'timestamp';
  if (value instanceof Uint8Array) return 'bytes';
  const t = typeof value;
  if (t === 'object') return 'map';
  if (t === 'number') return 'double';
  if (t === 'bigint') return 'int';
  if (t === 'boolean') return 'bool';
  return t;
}
