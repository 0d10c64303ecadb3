/**
 * Reads the routing key of a JSON message straight from its UTF-8 bytes, so the consumer does
 * not have to build the object (the actor parses it once, from the same bytes).
 *
 * Routing must stay exactly what `keyText(JSON.parse(text)[field])` gives, or a message read again
 * after a crash (or by the previous version) could reach another mailbox. So the scanner only
 * answers when it is sure: the whole text is one well-formed JSON object (checked here, without
 * allocating), and the field, when one is asked for, is a top-level key whose value is a plain
 * ASCII string without escapes, a finite number, or a boolean. Anything else (an escape or a
 * non-ASCII byte in a top-level key or in the value, null, an object or list as the key, a missing
 * field, a syntax error, deep nesting) gives UNSURE, and the caller parses the text the old way,
 * which then decides the routing and the dead-letter reason exactly as before.
 */
export function scanJsonObject(bytes: Uint8Array, field: Uint8Array | undefined): ScanResult {
  b = bytes;
  pos = 0;
  try {
    return scanObject(field);
  } finally {
    b = EMPTY;
  }
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
/** Deeper values are left to JSON.parse (whatever its limits are). */
const MAX_DEPTH = 64;
const EMPTY = new Uint8Array(0);

// The scanner's cursor: module state instead of an object, so the hot loops only touch locals
// and two module variables (one message at a time, never re-entered).
let b: Uint8Array = EMPTY;
let pos = 0;

function scanObject(field: Uint8Array | undefined): ScanResult {
  ws();
  if (b[pos] !== OPEN_OBJECT) return UNSURE;
  pos += 1;
  let found: string | undefined;
  ws();
  if (b[pos] === CLOSE_OBJECT) {
    pos += 1;
  } else {
    for (;;) {
      if (b[pos] !== QUOTE) return UNSURE;
      const keyStart = pos + 1;
      // Top-level keys must be plain ASCII: an escape or a multi-byte character could decode to
      // the field's name from other bytes.
      if (!plainString()) return UNSURE;
      const matches = field !== undefined && equalBytes(keyStart, pos - 1, field);
      ws();
      if (b[pos] !== COLON) return UNSURE;
      pos += 1;
      ws();
      if (matches) {
        // JSON.parse keeps the last of repeated keys, and so does this.
        found = keyValue();
        if (found === undefined) return UNSURE;
      } else if (!value()) {
        return UNSURE;
      }
      ws();
      const c = b[pos];
      pos += 1;
      if (c === CLOSE_OBJECT) break;
      if (c !== COMMA) return UNSURE;
      ws();
    }
  }
  ws();
  if (pos !== b.length) return UNSURE;
  if (field === undefined) return VALID;
  return found ?? UNSURE;
}

function equalBytes(start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i += 1) {
    if (b[start + i] !== word[i]) return false;
  }
  return true;
}

/** JSON whitespace only: space, tab, line feed, carriage return. */
function ws(): void {
  let c = b[pos];
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
    pos += 1;
    c = b[pos];
  }
}

/** At a quote: skips a string of printable ASCII without escapes; false for anything else. */
function plainString(): boolean {
  const buf = b;
  const end = buf.length;
  for (let i = pos + 1; i < end; i += 1) {
    const c = buf[i] as number;
    if (c === QUOTE) {
      pos = i + 1;
      return true;
    }
    if (c < 0x20 || c >= 0x7f || c === BACKSLASH) return false;
  }
  return false;
}

/** At a quote: skips any well-formed string (escapes checked; other bytes from 0x20 up are
 * taken as they are: decoding replaces bad UTF-8 sequences, it never fails, and never swallows
 * an ASCII byte such as the closing quote). */
function string(): boolean {
  const buf = b;
  const end = buf.length;
  let i = pos + 1;
  while (i < end) {
    const c = buf[i] as number;
    if (c === QUOTE) {
      pos = i + 1;
      return true;
    }
    if (c < 0x20) return false;
    if (c === BACKSLASH) {
      const e = buf[i + 1];
      if (e === 0x75) {
        if (!isHex(buf[i + 2]) || !isHex(buf[i + 3]) || !isHex(buf[i + 4]) || !isHex(buf[i + 5])) {
          return false;
        }
        i += 6;
        continue;
      }
      // `"`, `\`, `/`, b, f, n, r, t
      if (
        e !== 0x22 &&
        e !== 0x5c &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      ) {
        return false;
      }
      i += 2;
      continue;
    }
    i += 1;
  }
  return false;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= ZERO && c <= NINE;
}

function isHex(c: number | undefined): boolean {
  return (
    c !== undefined &&
    ((c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))
  );
}

/** Skips a number per the JSON grammar; false if it is not one. */
function number(): boolean {
  let i = pos;
  if (b[i] === MINUS) i += 1;
  if (b[i] === ZERO) i += 1;
  else if (isDigit(b[i])) while (isDigit(b[i])) i += 1;
  else return false;
  if (b[i] === 0x2e) {
    i += 1;
    if (!isDigit(b[i])) return false;
    while (isDigit(b[i])) i += 1;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i += 1;
    if (b[i] === 0x2b || b[i] === MINUS) i += 1;
    if (!isDigit(b[i])) return false;
    while (isDigit(b[i])) i += 1;
  }
  pos = i;
  return true;
}

function literal(word: Uint8Array): boolean {
  if (!equalBytes(pos, pos + word.length, word)) return false;
  pos += word.length;
  return true;
}

/** The routing field's value as key text, or undefined when unsure (the caller then parses). */
function keyValue(): string | undefined {
  const c = b[pos];
  const start = pos;
  if (c === QUOTE) {
    if (!plainString()) return undefined;
    return ascii(start + 1, pos - 1);
  }
  if (c === MINUS || isDigit(c)) {
    if (!number()) return undefined;
    // The same double JSON.parse reads, printed the way keyText prints it.
    const n = Number(ascii(start, pos));
    return Number.isFinite(n) ? String(n) : undefined;
  }
  if (literal(TRUE)) return 'true';
  if (literal(FALSE)) return 'false';
  return undefined;
}

/** Skips any well-formed value, nested ones included, without recursion. */
function value(): boolean {
  const c = b[pos];
  if (c === QUOTE) return string();
  if (c !== OPEN_OBJECT && c !== OPEN_ARRAY) return scalar();
  // Open containers, innermost last: true for an object (its members are `"key": value`).
  const open: boolean[] = [];
  for (;;) {
    ws();
    const d = b[pos];
    if (d === OPEN_OBJECT || d === OPEN_ARRAY) {
      if (open.length >= MAX_DEPTH) return false;
      pos += 1;
      ws();
      if (b[pos] === (d === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY)) {
        pos += 1;
      } else {
        open.push(d === OPEN_OBJECT);
        if (d === OPEN_OBJECT && !member()) return false;
        continue;
      }
    } else if (d === QUOTE ? !string() : !scalar()) {
      return false;
    }
    // After a value: a comma continues the innermost container, a bracket closes it.
    for (;;) {
      const inObject = open.at(-1);
      if (inObject === undefined) return true;
      ws();
      const e = b[pos];
      pos += 1;
      if (e === COMMA) {
        if (inObject) {
          ws();
          if (!member()) return false;
        }
        break;
      }
      if (e !== (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) return false;
      open.pop();
    }
  }
}

/** `"key" :` inside a nested object. */
function member(): boolean {
  if (b[pos] !== QUOTE || !string()) return false;
  ws();
  if (b[pos] !== COLON) return false;
  pos += 1;
  return true;
}

/** A number, true, false or null. */
function scalar(): boolean {
  const c = b[pos];
  if (c === MINUS || isDigit(c)) return number();
  return literal(TRUE) || literal(FALSE) || literal(NULL);
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

function ascii(start: number, end: number): string {
  return latin1Slice.call(b, start, end);
}
