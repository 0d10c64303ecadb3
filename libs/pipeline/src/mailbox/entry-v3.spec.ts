import { Packr } from 'msgpackr';
import {
  decodeMailboxEntry,
  encodeMailboxEntry,
  type MailboxEntry,
  type MailboxEvent,
} from './entry';

const packr = new Packr({ useRecords: true, moreTypes: false });

/** The decoder of the previous version (v1 and v2 only), as it was released. */
function previousDecoder(data: Buffer): unknown {
  const wire = packr.unpack(data) as { topic?: unknown; v?: unknown; events?: unknown } | undefined;
  if (!wire || typeof wire.topic !== 'string') throw new Error('malformed mailbox entry');
  if (wire.v === undefined) {
    if (!Array.isArray(wire.events)) throw new Error('malformed mailbox entry');
    return wire;
  }
  if (wire.v !== 2) throw new Error('mailbox entry version is not supported');
  return wire;
}

let seed = 11;
const random = (n: number): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed % n;
};
const pick = <T>(list: readonly T[]): T => list[random(list.length)] as T;

const TEXTS = [
  '',
  'k',
  'naïve 日本',
  'x'.repeat(130),
  '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
];
const VALUES = [{}, { event_id: 'a', n: 1.5 }, { s: 'é\u0000\n"' }, { l: [1, null, { z: true }] }];

/** A random entry: JSON and other events mixed, offsets rising by small and huge steps. */
function randomEntry(): MailboxEntry {
  const events: MailboxEvent[] = [];
  let offset = pick([0, 7, 2 ** 40, Number.MAX_SAFE_INTEGER - 5000]);
  let timestamp = pick([1_700_000_000_000, -1, 0, 2 ** 52]);
  const count = 1 + random(40);
  for (let i = 0; i < count; i += 1) {
    const event: MailboxEvent = { offset, timestamp };
    const kind = random(10);
    if (kind === 0) {
      event.raw = pick(TEXTS);
      event.error = 'invalid JSON: x';
    } else if (kind === 1) {
      event.value = pick(VALUES);
    } else {
      event.json = Buffer.from(JSON.stringify(pick(VALUES)));
    }
    if (random(4) === 0) event.key = pick(TEXTS);
    if (random(4) === 0) event.traceparent = pick(TEXTS);
    events.push(event);
    offset += pick([1, 1, 1, 3, 200, 70_000]);
    timestamp += pick([0, 0, 1, -5, 300_000, -(2 ** 40)]);
  }
  const entry: MailboxEntry = {
    topic: pick(['orders', 'tópico', '']),
    partition: random(100),
    generation: pick([-1, 0, 5, 2 ** 31 - 1]),
    from: pick([0, 3, 2 ** 45]),
    to: offset - 1,
    events,
  };
  if (random(2) === 0) entry.maxTime = pick([0, 1_700_000_000_123.5, -3]);
  if (random(2) === 0) entry.caughtUp = random(2) === 0;
  if (random(2) === 0) entry.partitions = random(500);
  return entry;
}

/** What the actor must see: JSON events parsed, every other field as written. */
function decodedForm(entry: MailboxEntry): MailboxEntry {
  return {
    ...entry,
    events: entry.events.map(({ json, ...event }) =>
      json === undefined ? event : { ...event, value: JSON.parse(Buffer.from(json).toString()) },
    ),
  };
}

describe('mailbox entry version 3', () => {
  it('round-trips every field, whatever the steps between offsets and times', () => {
    for (let round = 0; round < 400; round += 1) {
      const entry = randomEntry();
      expect(decodeMailboxEntry(encodeMailboxEntry(entry))).toEqual(decodedForm(entry));
    }
  });

  it('keeps offsets that are not rising, or not integers, as they are', () => {
    const json = Buffer.from('{}');
    const entry: MailboxEntry = {
      ...{ topic: 't', partition: 0, generation: 1, from: 0, to: 9 },
      events: [
        { offset: 9, timestamp: 1.5, json },
        { offset: 3, timestamp: 2 ** 60, json },
        { offset: 2 ** 60, timestamp: -(2 ** 60), json },
      ],
    };
    expect(decodeMailboxEntry(encodeMailboxEntry(entry))).toEqual(decodedForm(entry));
  });

  it('falls back to version 2 for header values its fixed fields cannot hold', () => {
    const json = Buffer.from('{"a":1}');
    const head = { topic: 't', partition: 0, generation: 1, from: 0, to: 0 };
    for (const odd of [
      { generation: 2 ** 31 },
      { partition: -1 },
      { partitions: 1.5 },
      { topic: 'x'.repeat(20_000) },
    ]) {
      const entry: MailboxEntry = { ...head, ...odd, events: [{ offset: 0, timestamp: 0, json }] };
      const data = encodeMailboxEntry(entry);
      expect((packr.unpack(data) as { v: number }).v).toBe(2);
      expect(decodeMailboxEntry(data)).toEqual(decodedForm(entry));
    }
  });

  it('costs a few bytes per event beyond the JSON on a steady stream', () => {
    const text = Buffer.from(
      JSON.stringify({ event_id: 'bench-000000001', padding: 'x'.repeat(100) }),
    );
    const events = Array.from({ length: 250 }, (_, i) => ({
      offset: 1_000_000 + i * 16,
      timestamp: 1_700_000_000_000 + Math.floor(i / 100),
      json: text,
    }));
    const entry = { topic: 'bench', partition: 3, generation: 2, from: 0, to: 1_004_000, events };
    const data = encodeMailboxEntry(entry);
    expect(data.length - 250 * (text.length + 1)).toBeLessThan(250 * 2 + 80);
  });

  it('is refused by the previous decoder, so an old actor dead-letters it instead of misreading', () => {
    for (let round = 0; round < 50; round += 1) {
      const entry = randomEntry();
      if (!entry.events.some((event) => event.json !== undefined)) continue;
      expect(() => previousDecoder(encodeMailboxEntry(entry))).toThrow();
    }
  });

  it('refuses every truncated entry instead of decoding part of it', () => {
    const entry = randomEntry();
    entry.events.push({ offset: entry.to + 1, timestamp: 0, json: Buffer.from('{"a":1}') });
    entry.to += 1;
    const data = encodeMailboxEntry(entry);
    const decodedPrefixes: number[] = [];
    for (let length = 0; length < data.length; length += 1) {
      try {
        decodeMailboxEntry(data.subarray(0, length));
        decodedPrefixes.push(length);
      } catch {
        // refused, as it must be
      }
    }
    expect(decodedPrefixes).toEqual([]);
  });
});
