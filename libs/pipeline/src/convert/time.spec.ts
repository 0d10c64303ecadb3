import { formatDigits, roundDigits, splitDecimal } from './decimal';
import {
  daysFromCivil,
  epochToInstant,
  formatDays,
  type Instant,
  type IsoFields,
  parseIso,
  ZoneClock,
} from './time';

function epoch(value: number | bigint | string): Instant | string {
  const out: Instant = { seconds: 0, nanos: 0 };
  return epochToInstant(value, out) ?? out;
}

describe('epochToInstant', () => {
  it.each<[number | bigint | string, number, number]>([
    [1_700_000_000, 1_700_000_000, 0],
    [1_700_000_000_123, 1_700_000_000, 123_000_000],
    [1_700_000_000_123_456, 1_700_000_000, 123_456_000],
    [1_700_000_000_123_456_789n, 1_700_000_000, 123_456_789],
    ['1700000000123456789', 1_700_000_000, 123_456_789],
    [1_700_000_000.123, 1_700_000_000, 123_000_000],
    ['1700000000.000001', 1_700_000_000, 1_000],
    [1_700_000_000_123.5, 1_700_000_000, 123_500_000],
    [0, 0, 0],
    [-1.5, -2, 500_000_000],
    [-1_500_000_000_500n, -1_500_000_001, 500_000_000],
    [-86_400_000, -86_400_000, 0],
    [-1_000_000_000_000, -1_000_000_000, 0],
  ])('%p -> %p s + %p ns', (value, seconds, nanos) => {
    expect(epoch(value)).toEqual({ seconds, nanos });
  });

  it('refuses what is not a number', () => {
    expect(typeof epoch(NaN)).toBe('string');
    expect(typeof epoch('12abc')).toBe('string');
  });
});

describe('parseIso', () => {
  const iso = (text: string): IsoFields | string => {
    const out: IsoFields = { days: 0, secondOfDay: 0, nanos: 0, hasTime: false, offset: undefined };
    return parseIso(text, out) ?? out;
  };

  it('reads dates, times, fractions and offsets', () => {
    expect(iso('2024-02-29')).toEqual({
      days: 19782,
      secondOfDay: 0,
      nanos: 0,
      hasTime: false,
      offset: undefined,
    });
    expect(iso('2024-02-29T10:11:12.123456789Z')).toMatchObject({
      secondOfDay: 36672,
      nanos: 123_456_789,
      offset: 0,
    });
    expect(iso('2024-02-29 10:11:12,5+05:30')).toMatchObject({ nanos: 500_000_000, offset: 19800 });
    expect(iso('2024-02-29T10:11-0800')).toMatchObject({ secondOfDay: 36660, offset: -28800 });
    expect(iso('2024-02-29T10:11:12.1234567891Z')).toMatchObject({ nanos: 123_456_789 });
  });

  it.each([
    '2023-02-29',
    '2024-13-01',
    '2024-01-01T24:00:00',
    '2024-1-1',
    'yesterday',
    '2024-01-01T10',
  ])('refuses %s', (text) => {
    expect(typeof iso(text)).toBe('string');
  });
});

describe('calendar', () => {
  it('round-trips day numbers', () => {
    for (const days of [-25567, -1, 0, 59, 19782, 65535, 120529]) {
      const text = formatDays(days);
      const [y, m, d] = text.split('-').map(Number) as [number, number, number];
      expect(daysFromCivil(y, m, d)).toBe(days);
    }
    expect(formatDays(-25567)).toBe('1900-01-01');
    expect(formatDays(65535)).toBe('2149-06-06');
  });
});

describe('ZoneClock', () => {
  const local = (text: string): number => Date.parse(`${text}Z`) / 1000;

  it('applies the zone offset', () => {
    expect(new ZoneClock('Asia/Tokyo').toUtc(local('2024-01-01T09:00:00'))).toBe(
      local('2024-01-01T00:00:00'),
    );
  });

  it('moves a skipped time forward and takes the earlier of a repeated one', () => {
    const ny = new ZoneClock('America/New_York');
    // 2024-03-10 02:30 does not exist in New York: it becomes 03:30 EDT = 07:30Z.
    expect(ny.toUtc(local('2024-03-10T02:30:00'))).toBe(local('2024-03-10T07:30:00'));
    // 2024-11-03 01:30 happens twice: the first one is EDT = 05:30Z.
    expect(ny.toUtc(local('2024-11-03T01:30:00'))).toBe(local('2024-11-03T05:30:00'));
    expect(ny.toUtc(local('2024-07-01T12:00:00'))).toBe(local('2024-07-01T16:00:00'));
  });

  it('throws for unknown zones', () => {
    expect(() => new ZoneClock('Mars/Olympus')).toThrow(RangeError);
  });
});

describe('decimal digits', () => {
  const round = (text: string, scale: number): string => {
    const d = splitDecimal(text);
    if (d === undefined) throw new Error(`bad ${text}`);
    return formatDigits(roundDigits(d, scale));
  };

  it.each([
    ['12.345', 2, '12.35'],
    ['-12.345', 2, '-12.35'],
    ['0.30000000000000004', 2, '0.3'],
    ['0.995', 2, '1'],
    ['-0.001', 2, '0'],
    ['1e3', 0, '1000'],
    ['1.5e-7', 9, '0.00000015'],
    ['+.5', 0, '1'],
    ['007.100', 4, '7.1'],
    ['12345678901234567890.1234567891', 10, '12345678901234567890.1234567891'],
  ])('%s at scale %d -> %s', (text, scale, expected) => {
    expect(round(text, scale)).toBe(expected);
  });

  it.each(['', '.', '1.2.3', 'abc', '1e', '--1', '0x10'])('refuses %p', (text) => {
    expect(splitDecimal(text)).toBeUndefined();
  });
});
