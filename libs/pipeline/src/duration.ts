// Durations in pipeline definitions: one whole number and one unit, nothing else. A single
// strict form keeps stored definitions unambiguous ("1.5h", "1h30m" and bare numbers are refused
// rather than guessed at).

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export type DurationUnit = keyof typeof UNIT_MS;

const DURATION_RE = /^(\d+)(ms|s|m|h|d)$/;

export const DURATION_HINT =
  'use a whole number followed by ms, s, m, h or d (e.g. 500ms, 10m, 24h, 7d)';

export type DurationResult = { ok: true; ms: number } | { ok: false; message: string };

export function tryParseDuration(input: unknown): DurationResult {
  if (typeof input !== 'string') {
    return { ok: false, message: `expected a duration string, ${DURATION_HINT}` };
  }
  const match = DURATION_RE.exec(input);
  const amount = match?.[1];
  const unit = match?.[2] as DurationUnit | undefined;
  if (amount === undefined || unit === undefined) {
    return { ok: false, message: `invalid duration ${JSON.stringify(input)}: ${DURATION_HINT}` };
  }
  const ms = Number(amount) * UNIT_MS[unit];
  if (!Number.isSafeInteger(ms)) {
    return { ok: false, message: `duration ${JSON.stringify(input)} is too large` };
  }
  return { ok: true, ms };
}

export class DurationError extends Error {
  override readonly name = 'DurationError';
}

/** Milliseconds of a duration such as `500ms`, `1s`, `10m`, `24h` or `7d`; throws DurationError. */
export function parseDuration(input: string): number {
  const result = tryParseDuration(input);
  if (!result.ok) throw new DurationError(result.message);
  return result.ms;
}

/** The shortest exact spelling of a number of milliseconds, e.g. 90000 -> `90s`, 3600000 -> `1h`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new DurationError(`cannot format ${ms} ms`);
  if (ms === 0) return '0s';
  const units: DurationUnit[] = ['d', 'h', 'm', 's'];
  for (const unit of units) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
