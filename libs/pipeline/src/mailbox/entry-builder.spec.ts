import { decodeMailboxEntry, encodeMailboxEntry, type MailboxEvent } from './entry';
import { EntryBuilder, entryBuilder, releaseEntryBuilder } from './entry-builder';

let seed = 7;
const random = (n: number): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed % n;
};
const pick = <T>(list: readonly T[]): T => list[random(list.length)] as T;

const TEXTS = ['', 'k', 'naïve 日本', 'x'.repeat(200), '00-0af7651916cd43dd-b7ad6b7169203331-01'];
const VALUES = [
  {},
  { event_id: 'a,b', n: 1.5 },
  { s: 'é\u0000\n"]},{' },
  { l: [1, null, { z: true }] },
];

/** Random events: JSON and other events mixed, offsets rising by small and huge steps. */
function randomEvents(): MailboxEvent[] {
  const events: MailboxEvent[] = [];
  let offset = pick([0, 7, 2 ** 40, Number.MAX_SAFE_INTEGER - 5000]);
  let timestamp = pick([1_700_000_000_000, -1, 0, 2 ** 52]);
  const count = random(600);
  const keyed = random(3) === 0;
  const traced = random(3) === 0;
  for (let i = 0; i < count; i += 1) {
    const event: MailboxEvent = { offset, timestamp };
    const kind = random(12);
    if (kind === 0) {
      event.raw = pick(TEXTS);
      event.error = 'invalid JSON: x';
    } else if (kind === 1) {
      event.value = pick(VALUES);
    } else {
      event.json = Buffer.from(JSON.stringify(pick(VALUES)));
    }
    if (keyed && random(3) === 0) event.key = pick(TEXTS);
    if (traced && random(3) === 0) event.traceparent = pick(TEXTS);
    events.push(event);
    offset += pick([1, 1, 1, 3, 200, 70_000]);
    timestamp += pick([0, 0, 1, -5, 300_000, -(2 ** 40)]);
  }
  return events;
}

const HEADS = [
  { topic: 'orders', partition: 3, generation: 5, from: 0, to: 10 },
  { topic: 'tópico', partition: 0, generation: -1, from: 2 ** 45, to: 2 ** 46, maxTime: 1.5 },
  { topic: 't', partition: 1, generation: 0, from: 3, to: 9, caughtUp: true, partitions: 48 },
  { topic: 't', partition: 1, generation: 2 ** 31, from: 3, to: 9 },
];

function built(events: readonly MailboxEvent[], cut: number): EntryBuilder {
  const first = entryBuilder();
  const second = entryBuilder();
  events.forEach((event, i) => (i < cut ? first : second).add(event));
  first.addAll(second);
  releaseEntryBuilder(second);
  return first;
}

describe('EntryBuilder', () => {
  it('writes the bytes encodeMailboxEntry writes for the same events, in every version', () => {
    for (let round = 0; round < 300; round += 1) {
      const events = randomEvents();
      const head = pick(HEADS);
      // Added one by one, or as two builders joined (a failed range put back before a later one).
      const builder = built(events, random(2) === 0 ? events.length : random(events.length + 1));
      expect(builder.events).toBe(events.length);
      for (const version of [3, 2] as const) {
        const expected = encodeMailboxEntry({ ...head, events }, version);
        expect(builder.encode(head, version).equals(expected)).toBe(true);
      }
      expect(builder.toEvents()).toEqual(events);
      releaseEntryBuilder(builder);
    }
  });

  it('is empty after a release and reuses its buffers', () => {
    const builder = entryBuilder();
    builder.add({ offset: 1, timestamp: 2, json: Buffer.from('{"a":1}'), key: 'k' });
    releaseEntryBuilder(builder);
    const again = entryBuilder();
    expect(again).toBe(builder);
    expect(again.events).toBe(0);
    again.add({ offset: 4, timestamp: 2, json: Buffer.from('{"b":2}') });
    const head = { topic: 't', partition: 0, generation: 1, from: 0, to: 4 };
    expect(decodeMailboxEntry(again.encode(head)).events).toEqual([
      { offset: 4, timestamp: 2, value: { b: 2 } },
    ]);
    releaseEntryBuilder(again);
  });

  it('carries an event it cannot encode as a malformed one, and its neighbours as they are', () => {
    // Past the consumer's depth rule this cannot come from Kafka; anything else the packer
    // refuses must not fail the entry either: a failing append is retried forever and stalls
    // the source partition (a 2,000-deep message did, before the depth rule).
    let deep: unknown = 1;
    for (let level = 0; level < 20_000; level += 1) deep = [deep];
    const head = { topic: 't', partition: 0, generation: 1, from: 0, to: 3 };
    const events: MailboxEvent[] = [
      { offset: 0, timestamp: 5, json: Buffer.from('{"a":1}') },
      { offset: 1, timestamp: 5, value: { deep }, key: 'k' },
      { offset: 2, timestamp: 5, value: { b: 2 } },
      { offset: 3, timestamp: 5, json: Buffer.from('{"c":3}') },
    ];
    const check = (entry: Buffer, jsonEvents: boolean) => {
      const decoded = decodeMailboxEntry(entry).events;
      expect(decoded.map((e) => e.offset)).toEqual(jsonEvents ? [0, 1, 2, 3] : [1, 2]);
      const [refused, neighbour] = decoded.filter((e) => e.offset === 1 || e.offset === 2);
      expect(refused).toMatchObject({ offset: 1, timestamp: 5, key: 'k' });
      expect(refused?.error).toMatch(/^the event cannot be carried to the actor: RangeError/);
      expect(refused?.value).toBeUndefined();
      expect(neighbour?.value).toEqual({ b: 2 });
      if (jsonEvents) expect(decoded[3]?.value).toEqual({ c: 3 });
    };
    for (const version of [3, 2] as const) {
      const builder = built(events, 2);
      check(builder.encode(head, version), true);
      check(encodeMailboxEntry({ ...head, events }, version), true);
      releaseEntryBuilder(builder);
    }
    // Version 1: no JSON event at all (a join pipeline's entries).
    check(encodeMailboxEntry({ ...head, events: events.slice(1, 3) }), false);
    // The packers work on afterwards.
    const after = encodeMailboxEntry({ ...head, events: [events[2] as MailboxEvent] });
    expect(decodeMailboxEntry(after).events).toEqual([events[2]]);
  });

  it('cuts an entry larger than the bound into parts an actor applies as the whole', () => {
    const head = { topic: 't', partition: 2, generation: 4, from: 3, to: 60, maxTime: 9 };
    const events: MailboxEvent[] = [];
    for (let offset = 3; offset <= 58; offset += 1) {
      const body = JSON.stringify({ n: offset, pad: 'x'.repeat(offset * 3) });
      if (offset % 7 === 0) events.push({ offset, timestamp: 1, value: JSON.parse(body) });
      else if (offset % 11 === 0) events.push({ offset, timestamp: 1, raw: body, error: 'e' });
      else events.push({ offset, timestamp: 1, json: Buffer.from(body), key: `k${offset}` });
    }
    for (const version of [3, 2] as const) {
      const builder = built(events, 20);
      const whole = decodeMailboxEntry(builder.encode(head, version));
      expect(builder.encodeParts(head, version, 1 << 20)).toHaveLength(1);
      const parts = builder.encodeParts(head, version, 2_000).map(decodeMailboxEntry);
      expect(parts.length).toBeGreaterThan(3);
      // The events once each, in order; each part ends at its last event but the last.
      expect(parts.flatMap((p) => p.events)).toEqual(whole.events);
      for (const [i, part] of parts.entries()) {
        expect(part.from).toBe(3);
        const last = i === parts.length - 1;
        expect(part.to).toBe(last ? 60 : part.events[part.events.length - 1]?.offset);
        expect(part.maxTime).toBe(last ? 9 : undefined);
        expect(builder.encodeParts(head, version, 2_000)[i]?.length).toBeLessThanOrEqual(2_000);
      }
      releaseEntryBuilder(builder);
    }
  });
});
