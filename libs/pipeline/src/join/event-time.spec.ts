import { utcIsoMs } from '../convert/time';
import { eventTimeMs } from './event-time';

describe('utcIsoMs', () => {
  it('reads toISOString output exactly as Date.parse does', () => {
    let ms = Date.UTC(1600, 0, 1);
    const end = Date.UTC(2400, 0, 1);
    // Steps of about 3.7 days plus odd milliseconds: every month, leap days, century years.
    for (; ms < end; ms += 319_999_997) {
      const text = new Date(ms).toISOString();
      expect(utcIsoMs(text)).toBe(Date.parse(text));
    }
    for (const text of [
      '2024-02-29T23:59:59.999Z',
      '2000-02-29T00:00:00.000Z',
      '1970-01-01T00:00:00.000Z',
      '1969-12-31T23:59:59.999Z',
      '0000-03-01T00:00:00.000Z',
    ]) {
      expect(utcIsoMs(text)).toBe(Date.parse(text));
    }
  });

  it('leaves every other shape and out-of-range fields to Date.parse', () => {
    for (const text of [
      '2024-05-01T12:00:00Z',
      '2024-05-01T12:00:00.000+02:00',
      '2024-05-01 12:00:00.000Z',
      '2024-05-01T12:00:00.000z',
      '2023-02-29T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z',
      '2024-13-01T00:00:00.000Z',
      '2024-04-31T00:00:00.000Z',
      '2024-05-01T24:00:00.000Z',
      '2024-05-01T12:60:00.000Z',
      '2024-05-01T12:00:60.000Z',
      '2024-05-00T12:00:00.000Z',
      '2024-05-01T12:00:00.0a0Z',
      '+02024-05-01T12:00:00.00Z',
    ]) {
      expect(utcIsoMs(text)).toBeUndefined();
    }
  });

  it('keeps eventTimeMs answers the same for the fast and the general shapes', () => {
    expect(eventTimeMs('2024-05-01T12:00:00.250Z')).toBe(Date.parse('2024-05-01T12:00:00.250Z'));
    expect(eventTimeMs('2023-02-29T00:00:00.000Z')).toBe(Date.parse('2023-02-29T00:00:00.000Z'));
    expect(eventTimeMs('2024-05-01T12:00:00+02:00')).toBe(Date.parse('2024-05-01T12:00:00+02:00'));
  });
});
