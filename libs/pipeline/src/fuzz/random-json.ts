/**
 * Seeded random JSON for the property and fuzz checks of the input path (input-properties.ts):
 * values, and texts that spell them with random whitespace and escapes, so `JSON.parse` of the
 * text is the oracle every byte-level reader is held to.
 */
export class Rng {
  constructor(private state: number) {}

  /** mulberry32: tiny, seeded, so a failing round can be replayed from its seed. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }
}

const CHARS = [
  'a',
  'Z',
  '0',
  ' ',
  '"',
  '\\',
  '/',
  '\n',
  '\u0000',
  '\u001f',
  'é',
  '日本',
  '😀',
  '[',
  '{',
  '}',
  ']',
  ',',
  ':',
];
const KEYS = ['event_id', 'id', 'a', 'naïve', 'ts', 'event_id ', 'x'];

export function randomString(rng: Rng, max = 12): string {
  let s = '';
  const length = rng.int(max);
  for (let i = 0; i < length; i += 1) s += rng.pick(CHARS);
  return s;
}

export function randomNumber(rng: Rng): number {
  switch (rng.int(8)) {
    case 0:
      return rng.int(1000) - 500;
    case 1:
      return (rng.next() - 0.5) * 10 ** (rng.int(40) - 20);
    case 2:
      return Number.MAX_SAFE_INTEGER + rng.int(5) - 2;
    case 3:
      return rng.pick([0, -0, 1e21, 5e-324, 1.7976931348623157e308, 0.1, 1e-7, 123456789012345]);
    case 4:
      return Math.round(rng.next() * 1e6) / 100;
    default:
      return rng.next() * 2 ** rng.int(70);
  }
}

/**
 * A JSON value of at most `depth` levels of objects and arrays. Beyond 6 levels only as a chain
 * of single-element arrays and objects (deep values around the nesting limit without the
 * exponential size of a full tree).
 */
export function randomValue(rng: Rng, depth: number): unknown {
  if (depth > 6 && rng.chance(0.5)) return chain(rng, depth);
  const kind = depth <= 0 ? rng.int(4) : rng.int(7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return randomNumber(rng);
    case 3:
      return randomString(rng);
    case 4:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, Math.min(depth, 6) - 1));
    case 5:
      return randomObject(rng, Math.min(depth, 6) - 1);
    default:
      return chain(rng, Math.min(depth, 6));
  }
}

function chain(rng: Rng, depth: number): unknown {
  let value: unknown = randomValue(rng, 0);
  // Deep chains end near their bound: around the nesting limit, on both sides of it.
  const levels = depth > 6 ? depth - rng.int(4) : rng.int(depth + 1);
  for (let i = 0; i < levels; i += 1) value = rng.chance(0.5) ? [value] : { k: value };
  return value;
}

export function randomObject(rng: Rng, depth: number): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  const members = rng.int(5);
  for (let i = 0; i < members; i += 1) {
    const key = rng.chance(0.7) ? rng.pick(KEYS) : randomString(rng, 5);
    // Routing keys are mostly plain (what the key scanner reads itself), sometimes anything.
    object[key] = key === 'event_id' && rng.chance(0.7) ? plainKey(rng) : randomValue(rng, depth);
  }
  return object;
}

export function plainKey(rng: Rng): unknown {
  switch (rng.int(3)) {
    case 0:
      return `e-${rng.int(1e6)}`;
    case 1:
      return randomNumber(rng);
    default:
      return rng.chance(0.5);
  }
}

/** Levels of objects and arrays in a value, the value itself counting as one if it is one. */
export function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 0;
  for (const item of Object.values(value)) deepest = Math.max(deepest, depthOf(item));
  return deepest + 1;
}

const SPACE = [' ', '\n', '\t', '\r'];

/**
 * JSON text of a value as a producer might write it: random whitespace between tokens and random
 * (valid) escapes in strings. JSON.parse of it gives the value back.
 */
export function writeJson(rng: Rng, value: unknown): string {
  const ws = () => (rng.chance(0.2) ? rng.pick(SPACE).repeat(1 + rng.int(2)) : '');
  if (typeof value === 'string') return writeString(rng, value);
  if (typeof value !== 'object' || value === null) return `${ws()}${JSON.stringify(value)}${ws()}`;
  if (Array.isArray(value)) {
    return `${ws()}[${value.map((item) => writeJson(rng, item)).join(',')}${value.length === 0 ? ws() : ''}]${ws()}`;
  }
  const members = Object.entries(value).map(
    ([key, item]) => `${ws()}${writeString(rng, key)}${ws()}:${writeJson(rng, item)}`,
  );
  return `${ws()}{${members.join(',')}${members.length === 0 ? ws() : ''}}${ws()}`;
}

function writeString(rng: Rng, text: string): string {
  if (rng.chance(0.7)) return JSON.stringify(text);
  // Escape some characters that need none: \u0061 for a, \/ for /.
  let out = '"';
  for (const char of text) {
    if (char === '/' && rng.chance(0.5)) out += '\\/';
    else if (/^[A-Za-z0-9 ]$/.test(char) && rng.chance(0.3)) {
      out += `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
    } else out += JSON.stringify(char).slice(1, -1);
  }
  return `${out}"`;
}
