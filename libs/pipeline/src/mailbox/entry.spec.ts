import { Packr } from 'msgpackr';
import { decodeMailboxEntry, encodeMailboxEntry, type MailboxEntry } from './entry';

const packr = new Packr({ useRecords: true, moreTypes: false });

describe('mailbox entry codec', () => {
  it('round-trips parsed, malformed and keyed events', () => {
    const entry: MailboxEntry = {
      topic: 'orders',
      partition: 3,
      generation: 7,
      from: 100,
      to: 205,
      events: [
        {
          offset: 100,
          timestamp: 1_700_000_000_000,
          value: { event_id: 'a', amount: 1.5, tags: ['x'] },
        },
        {
          offset: 101,
          timestamp: 1_700_000_000_001,
          raw: '{"broken',
          error: 'Unexpected end of JSON input',
        },
        {
          offset: 205,
          timestamp: 1_700_000_000_002,
          value: { n: null },
          key: 'k',
          traceparent: '00-abc-def-01',
        },
      ],
    };
    expect(decodeMailboxEntry(encodeMailboxEntry(entry))).toEqual(entry);
  });

  it('carries unparsed JSON events and decodes them parsed, in offset order with the others', () => {
    const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
    const entry: MailboxEntry = {
      topic: 'orders',
      partition: 1,
      generation: 2,
      from: 10,
      to: 15,
      maxTime: 5,
      events: [
        { offset: 10, timestamp: 1, json: json({ event_id: 'a', name: 'naïve 日本' }) },
        {
          offset: 11,
          timestamp: 2,
          raw: '{"x',
          error: 'invalid JSON: Unexpected end of JSON input',
        },
        {
          offset: 12,
          timestamp: 3,
          json: json({ event_id: 7, nested: { l: [1, null] } }),
          key: 'k',
        },
        { offset: 13, timestamp: 4, value: { parsed: true } },
        { offset: 15, timestamp: 5, json: json({}), traceparent: '00-abc-def-01' },
      ],
    };
    const decoded = decodeMailboxEntry(encodeMailboxEntry(entry));
    expect(decoded).toEqual({
      ...entry,
      events: [
        { offset: 10, timestamp: 1, value: { event_id: 'a', name: 'naïve 日本' } },
        entry.events[1],
        { offset: 12, timestamp: 3, value: { event_id: 7, nested: { l: [1, null] } }, key: 'k' },
        entry.events[3],
        { offset: 15, timestamp: 5, value: {}, traceparent: '00-abc-def-01' },
      ],
    });
  });

  it('decodes a bad UTF-8 sequence in one event as that event alone would decode', () => {
    const bad = Buffer.concat([
      Buffer.from('{"s":"a'),
      Buffer.from([0xe6, 0x97]),
      Buffer.from('"}'),
    ]);
    const entry: MailboxEntry = {
      ...{ topic: 't', partition: 0, generation: 1, from: 0, to: 1 },
      events: [
        { offset: 0, timestamp: 0, json: bad },
        { offset: 1, timestamp: 0, json: Buffer.from('{"s":"b"}') },
      ],
    };
    const events = decodeMailboxEntry(encodeMailboxEntry(entry)).events;
    expect(events.map((e) => e.value)).toEqual([JSON.parse(bad.toString('utf8')), { s: 'b' }]);
  });

  it('rejects data that is not an entry, and versions it does not know', () => {
    expect(() =>
      decodeMailboxEntry(encodeMailboxEntry({ events: [] } as unknown as MailboxEntry)),
    ).toThrow('malformed mailbox entry');
    const future = packr.pack({ v: 3, topic: 't', partition: 0, generation: 1, from: 0, to: 0 });
    expect(() => decodeMailboxEntry(future)).toThrow('mailbox entry version 3 is not supported');
  });

  it('writes version 2 when asked (upgrades from owners that do not read 3), and reads it back', () => {
    const entry: MailboxEntry = {
      ...{ topic: 't', partition: 0, generation: 1, from: 0, to: 2 },
      events: [
        { offset: 0, timestamp: 5, json: Buffer.from('{"a":1}'), key: 'k' },
        { offset: 1, timestamp: 5, raw: 'x', error: 'invalid JSON' },
        { offset: 2, timestamp: 6, json: Buffer.from('{}') },
      ],
    };
    const data = encodeMailboxEntry(entry, 2);
    const wire = packr.unpack(data) as Record<string, unknown>;
    expect([wire.v, wire.events]).toEqual([2, undefined]);
    expect(decodeMailboxEntry(data)).toEqual(decodeMailboxEntry(encodeMailboxEntry(entry)));
    expect(decodeMailboxEntry(data).events[0]).toEqual({
      offset: 0,
      timestamp: 5,
      value: { a: 1 },
      key: 'k',
    });
  });

  it('still reads version 2 entries (written by the previous consumer)', () => {
    const json = Buffer.from('[{"event_id":"a"},{"n":2}]');
    const wire = {
      ...{ topic: 't', partition: 2, generation: 4, from: 5, to: 9, caughtUp: true },
      v: 2,
      json,
      offsets: [5, 9],
      timestamps: [100, 101],
      keys: ['k', null],
      rest: [{ offset: 7, timestamp: 100, raw: 'x', error: 'invalid JSON' }],
    };
    expect(decodeMailboxEntry(packr.pack(wire))).toEqual({
      ...{ topic: 't', partition: 2, generation: 4, from: 5, to: 9, caughtUp: true },
      events: [
        { offset: 5, timestamp: 100, value: { event_id: 'a' }, key: 'k' },
        { offset: 7, timestamp: 100, raw: 'x', error: 'invalid JSON' },
        { offset: 9, timestamp: 101, value: { n: 2 } },
      ],
    });
  });

  it('refuses a version-3 entry of an unknown later version', () => {
    const entry: MailboxEntry = {
      ...{ topic: 't', partition: 0, generation: 1, from: 0, to: 0 },
      events: [{ offset: 0, timestamp: 0, json: Buffer.from('{}') }],
    };
    const later = Buffer.from(encodeMailboxEntry(entry));
    later[1] = 4;
    expect(() => decodeMailboxEntry(later)).toThrow('mailbox entry version 4 is not supported');
  });
});
