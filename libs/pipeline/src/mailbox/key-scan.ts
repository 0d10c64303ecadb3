import { MAX_JSON_DEPTH } from './input-rules';

/**
 * Reads the routing key of a JSON message straight from its UTF-8 bytes, so the consumer does
 * not have to build the object (the actor parses it once, from the same bytes).
 *
 * Routing must stay exactly what `keyText(JSON.parse(text)[field])` gives, or a message read again
 * after a crash (or by the previous version) could reach another mailbox. So the scanner only
 * answers when it is sure: the whole text is one well-formed JSON object (checked here, without
 * allocating), and the field, when one is asked for, is a top-level key whose value is a plain
 * ASCII string without escapes, a finite number, or a boolean. Anything else (an escape in a
 * top-level key, null, an object or list as the key, a missing field, a syntax error, deep
 * nesting) gives UNSURE, and the caller parses the text the old way, which then decides the
 * routing and the dead-letter reason exactly as before.
 *
 * Every helper takes the bytes, a position and the end, and returns the position after what it
 * skipped or -1: the hot loops then only touch locals (module state cost ~2× here).
 */
export function scanJsonObject(bytes: Uint8Array, field: Uint8Array | undefined): ScanResult {
  const end = bytes.length;
  let i = ws(bytes, 0, end);
  if (i >= end || bytes[i] !== OPEN_OBJECT) return UNSURE;
  i = ws(bytes, i + 1, end);
  // A top-level key must not hide the field behind an escape; a non-ASCII byte cannot decode to
  // an ASCII field's name (a bad sequence becomes U+FFFD and never takes an ASCII byte with it).
  const keyLimit = field === undefined ? -1 : field === asciiField || isAscii(field) ? 0x100 : 0x80;
  let found: string | undefined;
  if (i < end && bytes[i] === CLOSE_OBJECT) {
    i += 1;
  } else {
    for (;;) {
      if (i >= end || bytes[i] !== QUOTE) return UNSURE;
      const keyStart = i + 1;
      i = keyLimit < 0 ? string(bytes, i, end) : plainString(bytes, i, end, keyLimit);
      if (i < 0) return UNSURE;
      const matches = field !== undefined && equalBytes(bytes, keyStart, i - 1, field);
      i = ws(bytes, i, end);
      if (i >= end || bytes[i] !== COLON) return UNSURE;
      i = ws(bytes, i + 1, end);
      if (matches) {
        // JSON.parse keeps the last of repeated keys, and so does this.
        found = keyValue(bytes, i, end);
        if (found === undefined) return UNSURE;
        i = keyEnd;
      } else {
        i = value(bytes, i, end);
        if (i < 0) return UNSURE;
      }
      i = ws(bytes, i, end);
      if (i >= end) return UNSURE;
      const c = bytes[i];
      i += 1;
      if (c === CLOSE_OBJECT) break;
      if (c !== COMMA) return UNSURE;
      i = ws(bytes, i, end);
    }
  }
  if (ws(bytes, i, end) !== end) return UNSURE;
  if (field === undefined) return VALID;
  return found ?? UNSURE;
}

/** `VALID` when no field was asked for; the key text when one was; `UNSURE` otherwise. */
export type ScanResult = string | typeof VALID | typeof UNSURE;
export const VALID: unique symbol = Symbol('valid JSON object');
export const UNSURE: unique symbol = Symbol('unsure');

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
/** Deeper values are left to the parse path, whose depth rule (input-rules.ts, the top-level
 * object counting as one level) then refuses those past MAX_JSON_DEPTH. */
const MAX_DEPTH = MAX_JSON_DEPTH - 1;
/** Open containers of the value being skipped, innermost last: 1 for an object. One message at
 * a time, never re-entered, so one stack serves every call without allocating. */
const open = new Uint8Array(MAX_DEPTH);
/** Where keyValue stopped (it returns the key text). */
let keyEnd = 0;

/** The last field found to be ASCII: callers pass one field object per source. */
let asciiField: Uint8Array | undefined;

function isAscii(word: Uint8Array): boolean {
  for (const c of word) if (c >= 0x80) return false;
  asciiField = word;
  return true;
}

function equalBytes(b: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i += 1) {
    if (b[start + i] !== word[i]) return false;
  }
  return true;
}

/** JSON whitespace only: space, tab, line feed, carriage return. */
function ws(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i] as number;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i += 1;
  }
  return i;
}

/** At a quote: skips a string without escapes whose bytes are printable and below `limit`. */
function plainString(b: Uint8Array, i: number, end: number, limit: number): number {
  for (i += 1; i < end; i += 1) {
    const c = b[i] as number;
    if (c === QUOTE) return i + 1;
    if (c < 0x20 || c === 0x7f || c >= limit || c === BACKSLASH) return -1;
  }
  return -1;
}

/** At a quote: skips any well-formed string (escapes checked; other bytes from 0x20 up are
 * taken as they are: the consumer checks the message is valid UTF-8 before scanning it). */
function string(b: Uint8Array, i: number, end: number): number {
  i += 1;
  while (i < end) {
    const c = b[i] as number;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      i = escape(b, i, end);
      if (i < 0) return -1;
    } else if (c < 0x20) {
      return -1;
    } else {
      i += 1;
    }
  }
  return -1;
}

/** At a backslash: skips one valid escape. */
function escape(b: Uint8Array, i: number, end: number): number {
  if (i + 1 >= end) return -1;
  const e = b[i + 1] as number;
  if (e === 0x75) {
    if (i + 5 >= end) return -1;
    for (let k = i + 2; k < i + 6; k += 1) if (!isHex(b[k] as number)) return -1;
    return i + 6;
  }
  // `"`, `\`, `/`, b, f, n, r, t
  return e === 0x22 ||
    e === 0x5c ||
    e === 0x2f ||
    e === 0x62 ||
    e === 0x66 ||
    e === 0x6e ||
    e === 0x72 ||
    e === 0x74
    ? i + 2
    : -1;
}

function isHex(c: number): boolean {
  return (c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function digits(b: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = b[i] as number;
    if (c < ZERO || c > NINE) break;
    i += 1;
  }
  return i;
}

/** Skips a number per the JSON grammar. */
function number(b: Uint8Array, i: number, end: number): number {
  if (i < end && b[i] === MINUS) i += 1;
  if (i >= end) return -1;
  const first = b[i] as number;
  if (first === ZERO) i += 1;
  else if (first > ZERO && first <= NINE) i = digits(b, i + 1, end);
  else return -1;
  if (i < end && b[i] === 0x2e) {
    const at = i + 1;
    i = digits(b, at, end);
    if (i === at) return -1;
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i += 1;
    if (i < end && (b[i] === 0x2b || b[i] === MINUS)) i += 1;
    const at = i;
    i = digits(b, at, end);
    if (i === at) return -1;
  }
  return i;
}

function literal(b: Uint8Array, i: number, end: number, word: Uint8Array): number {
  return i + word.length <= end && equalBytes(b, i, i + word.length, word) ? i + word.length : -1;
}

/** The routing field's value as key text (keyEnd after it), or undefined when unsure. */
function keyValue(b: Uint8Array, i: number, end: number): string | undefined {
  if (i >= end) return undefined;
  const c = b[i] as number;
  if (c === QUOTE) {
    keyEnd = plainString(b, i, end, 0x80);
    return keyEnd < 0 ? undefined : ascii(b, i + 1, keyEnd - 1);
  }
  if (c === MINUS || (c >= ZERO && c <= NINE)) {
    keyEnd = number(b, i, end);
    if (keyEnd < 0) return undefined;
    // The same double JSON.parse reads, printed the way keyText prints it.
    const n = Number(ascii(b, i, keyEnd));
    return Number.isFinite(n) ? String(n) : undefined;
  }
  keyEnd = literal(b, i, end, TRUE);
  if (keyEnd >= 0) return 'true';
  keyEnd = literal(b, i, end, FALSE);
  if (keyEnd >= 0) return 'false';
  return undefined;
}

/** Skips any well-formed value, nested ones included, without recursion. */
function value(b: Uint8Array, i: number, end: number): number {
  if (i >= end) return -1;
  const c = b[i] as number;
  if (c === QUOTE) return string(b, i, end);
  if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) return scalar(b, i, end);
  let depth = 0;
  for (;;) {
    i = ws(b, i, end);
    if (i >= end) return -1;
    const d = b[i] as number;
    if (d === OPEN_OBJECT || d === OPEN_ARRAY) {
      if (depth >= MAX_DEPTH) return -1;
      i = ws(b, i + 1, end);
      if (i < end && b[i] === (d === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        i += 1;
      } else {
        open[depth] = d === OPEN_OBJECT ? 1 : 0;
        depth += 1;
        if (d === OPEN_OBJECT) {
          i = member(b, i, end);
          if (i < 0) return -1;
        }
        continue;
      }
    } else {
      i = d === QUOTE ? string(b, i, end) : scalar(b, i, end);
      if (i < 0) return -1;
    }
    // After a value: a comma continues the innermost container, a bracket closes it.
    for (;;) {
      if (depth === 0) return i;
      const inObject = open[depth - 1] === 1;
      i = ws(b, i, end);
      if (i >= end) return -1;
      const e = b[i];
      i += 1;
      if (e === COMMA) {
        if (inObject) {
          i = member(b, ws(b, i, end), end);
          if (i < 0) return -1;
        }
        break;
      }
      if (e !== (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) return -1;
      depth -= 1;
    }
  }
}

/** `"key" :` inside a nested object. */
function member(b: Uint8Array, i: number, end: number): number {
  if (i >= end || b[i] !== QUOTE) return -1;
  i = string(b, i, end);
  if (i < 0) return -1;
  i = ws(b, i, end);
  return i < end && b[i] === COLON ? i + 1 : -1;
}

/** A number, true, false or null. */
function scalar(b: Uint8Array, i: number, end: number): number {
  const c = b[i] as number;
  if (c === MINUS || (c >= ZERO && c <= NINE)) return number(b, i, end);
  const word = c === 0x74 ? TRUE : c === 0x66 ? FALSE : c === 0x6e ? NULL : undefined;
  return word === undefined ? -1 : literal(b, i, end, word);
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

// Node's own decoder, without creating a Buffer view per key (it takes any Uint8Array).
const latin1Slice = (
  Buffer.prototype as unknown as {
    latin1Slice: (this: Uint8Array, start: number, end: number) => string;
  }
).latin1Slice;

function ascii(b: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(b, start, end);
}
