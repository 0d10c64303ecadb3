// `string.matches(pattern)` with RE2, as the CEL specification says: linear time in the length
// of the input whatever the pattern, where the engine's own `new RegExp(pattern)` backtracks
// (`'aaaa…ab'.matches('^(a+)+$')` took seconds per event). re2js is a pure JavaScript port of
// RE2; RE2 refuses what cannot run in linear time (backreferences, lookaround) at compile time.
import { RE2JS } from 're2js';
import { meter } from './budget';

/** Compiled patterns by source. Patterns are usually literals (a handful per pipeline); one
 * read from event data could be new on every event, so the cache is bounded. */
const cache = new Map<string, RE2JS>();
const CACHE_MAX = 512;

/** Matched characters per budget step: RE2 scans a few hundred characters per microsecond. */
const CHARS_PER_STEP = 256;
/** Inputs at least this long check the clock after the match (see budget.ts). */
const LONG_INPUT = 64 * 1024;

export type PatternResult = { ok: true; pattern: RE2JS } | { ok: false; reason: string };

/** Compiles (or finds) a pattern; the reason says why RE2 refuses it. */
export function compilePattern(source: string): PatternResult {
  const known = cache.get(source);
  if (known !== undefined) return { ok: true, pattern: known };
  let pattern: RE2JS;
  try {
    pattern = RE2JS.compile(source);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      reason: `invalid RE2 regular expression ${JSON.stringify(source)}: ${detail}`,
    };
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(source, pattern);
  return { ok: true, pattern };
}

/** Thrown for a pattern RE2 refuses at evaluation time (one computed from event data). */
export class InvalidPattern extends Error {
  override readonly name = 'InvalidPattern';
  readonly code = 'invalid_regular_expression';
  readonly summary: string;

  constructor(reason: string) {
    super(reason);
    this.summary = reason;
  }
}

/** CEL `text.matches(pattern)`: true when the pattern matches any part of the text. */
export function re2Matches(text: string, source: string): boolean {
  // Compiling a pattern from event data costs about its length; a literal one is cached.
  meter.charge(
    1 + Math.floor((text.length + (cache.has(source) ? 0 : source.length)) / CHARS_PER_STEP),
  );
  const compiled = compilePattern(source);
  if (!compiled.ok) throw new InvalidPattern(compiled.reason);
  const found = compiled.pattern.test(text);
  if (text.length >= LONG_INPUT) meter.checkClock();
  return found;
}
