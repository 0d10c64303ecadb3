/**
 * A decimal number as exact digit strings: `int` without leading zeros ('' for zero), `frac`
 * without trailing zeros. Working on digits keeps Decimal(38, 10) and friends free of float loss.
 */
export interface DecimalDigits {
  negative: boolean;
  int: string;
  frac: string;
}

const DECIMAL_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/;

/** Splits '-12.50', '1e-7', '+.5' into digits; undefined when it is not a plain decimal. */
export function splitDecimal(text: string): DecimalDigits | undefined {
  const m = DECIMAL_RE.exec(text);
  if (m === null) return undefined;
  let int = m[2] ?? '';
  let frac = m[3] ?? '';
  if (int === '' && frac === '') return undefined;
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (exp > 0) {
    int += frac.slice(0, exp).padEnd(exp, '0');
    frac = frac.slice(exp);
  } else if (exp < 0) {
    const shift = -exp;
    frac = int.slice(Math.max(0, int.length - shift)).padStart(shift, '0') + frac;
    int = int.slice(0, Math.max(0, int.length - shift));
  }
  int = stripLeadingZeros(int);
  frac = stripTrailingZeros(frac);
  return { negative: m[1] === '-' && (int !== '' || frac !== ''), int, frac };
}

/** The shortest decimal digits of a finite JS number (what `String(n)` shows, never exponent). */
export function numberDigits(n: number): DecimalDigits {
  // String(n) is the shortest text that reads back as n, so it is what the user meant.
  return splitDecimal(String(n)) as DecimalDigits;
}

/**
 * Rounds to `scale` fraction digits, half away from zero: float input such as 0.1 + 0.2 then
 * lands on 0.30 instead of failing; ClickHouse itself would truncate silently.
 */
export function roundDigits(d: DecimalDigits, scale: number): DecimalDigits {
  if (d.frac.length <= scale) return d;
  const roundUp = d.frac.charCodeAt(scale) >= 53; // '5'
  let int = d.int;
  let frac = d.frac.slice(0, scale);
  if (roundUp) {
    const bumped = incrementDigits(int + frac);
    int = bumped.slice(0, bumped.length - scale);
    frac = bumped.slice(bumped.length - scale);
  }
  int = stripLeadingZeros(int);
  frac = stripTrailingZeros(frac);
  return { negative: d.negative && (int !== '' || frac !== ''), int, frac };
}

/** Text ClickHouse reads exactly: '-12.5', '0.001', '42'. */
export function formatDigits(d: DecimalDigits): string {
  const int = d.int === '' ? '0' : d.int;
  const body = d.frac === '' ? int : `${int}.${d.frac}`;
  return d.negative ? `-${body}` : body;
}

function incrementDigits(digits: string): string {
  const chars = digits.split('');
  for (let i = chars.length - 1; i >= 0; i--) {
    if (chars[i] === '9') {
      chars[i] = '0';
    } else {
      chars[i] = String.fromCharCode((chars[i] as string).charCodeAt(0) + 1);
      return chars.join('');
    }
  }
  return `1${chars.join('')}`;
}

function stripLeadingZeros(s: string): string {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) === 48) i++;
  return i === 0 ? s : s.slice(i);
}

function stripTrailingZeros(s: string): string {
  let i = s.length;
  while (i > 0 && s.charCodeAt(i - 1) === 48) i--;
  return i === s.length ? s : s.slice(0, i);
}
