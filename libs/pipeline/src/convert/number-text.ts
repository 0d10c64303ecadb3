/**
 * Numbers given as text, read in linear time whatever the text (README "Input rules"). A
 * backtracking regex here once let one event block an owner: `\d+\.?\d*` split a long digit run
 * every possible way, so 40k digits took 1.4 s and every doubling four times that.
 */

/** Longest number text any converter reads: far more than any column type needs (a Float64 in
 * plain notation takes at most ~330 characters, a Decimal256 77 digits). Checked first. */
export const MAX_NUMBER_TEXT = 1000;

/** Significant decimal digits that every double holds exactly (C's DBL_DIG). */
export const DOUBLE_DIGITS = 15;

export function numberTextProblem(text: string): string | undefined {
  return text.length > MAX_NUMBER_TEXT
    ? `a number text of ${text.length} characters is longer than the ${MAX_NUMBER_TEXT} allowed`
    : undefined;
}

/** `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, one pass, no backtracking. */
export function isFloatText(text: string): boolean {
  const end = text.length;
  let i = 0;
  let c = text.charCodeAt(0);
  if (c === PLUS || c === MINUS) i += 1;
  const intStart = i;
  i = digits(text, i, end);
  const intDigits = i - intStart;
  if (i < end && text.charCodeAt(i) === DOT) {
    const fracStart = i + 1;
    i = digits(text, fracStart, end);
    if (intDigits === 0 && i === fracStart) return false;
  } else if (intDigits === 0) {
    return false;
  }
  if (i < end) {
    c = text.charCodeAt(i);
    if (c !== 0x65 && c !== 0x45) return false;
    i += 1;
    c = text.charCodeAt(i);
    if (c === PLUS || c === MINUS) i += 1;
    const expStart = i;
    i = digits(text, i, end);
    if (i === expStart) return false;
  }
  return i === end;
}

function digits(text: string, i: number, end: number): number {
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i += 1;
  }
  return i;
}

const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
