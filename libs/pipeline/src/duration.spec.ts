import { DurationError, formatDuration, parseDuration, tryParseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['0s', 0],
    ['1s', 1_000],
    ['10m', 600_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
  ])('parses %s', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', '10', '1.5h', '1h30m', ' 1s', '1s ', '1S', '-1s', '1w', '1 s', 'ms', '10sec'])(
    'rejects %j with a hint',
    (input) => {
      const result = tryParseDuration(input);
      expect(result).toEqual({ ok: false, message: expect.stringContaining('ms, s, m, h or d') });
      expect(() => parseDuration(input)).toThrow(DurationError);
    },
  );

  it('rejects non-strings and unsafe magnitudes', () => {
    expect(tryParseDuration(10)).toEqual({ ok: false, message: expect.stringContaining('string') });
    expect(tryParseDuration('99999999999999999d')).toEqual({
      ok: false,
      message: expect.stringContaining('too large'),
    });
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [1_500, '1500ms'],
    [90_000, '90s'],
    [3_600_000, '1h'],
    [604_800_000, '7d'],
  ])('formats %d as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  it('refuses negative or fractional input', () => {
    expect(() => formatDuration(-1)).toThrow(DurationError);
    expect(() => formatDuration(1.5)).toThrow(DurationError);
  });
});
