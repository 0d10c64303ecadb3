import { EventSource } from './bench-data';
import { EventFeed, stampBytes } from './bench-feed';

interface Body {
  event_id: string;
  ts: string;
}

describe('EventFeed', () => {
  // Sends of uneven sizes, each with its own stamp, across several 20k-event blocks.
  const sends = Array.from({ length: 40 }, (_, i) => ({
    size: 900 + ((i * 337) % 1700),
    now: Date.UTC(2026, 10, 21, 12, 0, 0) + i * 50,
  }));

  it('sends the same bytes as building each body at send time, stamped per send', () => {
    const feed = new EventFeed(new EventSource('lat-', 0.1, 150, 11), 20_000);
    const plain = new EventSource('lat-', 0.1, 150, 11);
    const values: Buffer[] = [];
    let total = 0;
    for (const { size, now } of sends) {
      feed.take(size, now, values);
      expect(values).toHaveLength(size);
      const got = values.map((value) => value.toString('latin1'));
      const want = values.map(() => plain.next(now));
      expect(got.join('\n')).toBe(want.join('\n'));
      total += size;
    }
    expect(total).toBeGreaterThan(40_000); // crossed at least two block boundaries
    expect(feed.produced).toBe(plain.produced);
    expect(feed.unique).toBe(plain.unique);
  });

  it('keeps a duplicate identical to its original, stamp included', () => {
    const feed = new EventFeed(new EventSource('d-', 0.3, 150, 3), 20_000);
    const seen = new Map<string, string>();
    let duplicates = 0;
    const values: Buffer[] = [];
    for (const { size, now } of sends) {
      for (const value of feed.take(size, now, values)) {
        const text = value.toString('latin1');
        const body = JSON.parse(text) as Body;
        const first = seen.get(body.event_id);
        if (first === undefined) {
          if (body.ts !== new Date(now).toISOString()) expect(body.ts).toBe(now);
          seen.set(body.event_id, text);
        } else {
          duplicates += 1;
          if (text !== first) expect(text).toBe(first);
        }
      }
    }
    expect(feed.unique).toBe(seen.size);
    expect(feed.produced - feed.unique).toBe(duplicates);
    expect(duplicates).toBeGreaterThan(10_000);
  });

  it('refuses a stamp that is not 24 bytes', () => {
    expect(stampBytes(Date.UTC(2026, 0, 1)).toString()).toBe('2026-01-01T00:00:00.000Z');
    expect(() => stampBytes(Date.UTC(10_000, 0, 1))).toThrow(/24 B/);
  });
});
