import { decodeMailboxEntry, encodeMailboxEntry, type MailboxEntry } from './entry';

describe('mailbox entry codec', () => {
  it('round-trips parsed, malformed and keyed events', () => {
    const entry: MailboxEntry = {
      topic: 'orders',
      partition: 3,
      generation: 7,
      from: 100,
      to: 205,
      events: [
        { offset: 100, timestamp: 1_700_000_000_000, value: { event_id: 'a', amount: 1.5, tags: ['x'] } },
        { offset: 101, timestamp: 1_700_000_000_001, raw: '{"broken', error: 'Unexpected end of JSON input' },
        { offset: 205, timestamp: 1_700_000_000_002, value: { n: null }, key: 'k', traceparent: '00-abc-def-01' },
      ],
    };
    expect(decodeMailboxEntry(encodeMailboxEntry(entry))).toEqual(entry);
  });

  it('rejects data that is not an entry', () => {
    expect(() => decodeMailboxEntry(encodeMailboxEntry({} as MailboxEntry))).toThrow('malformed mailbox entry');
  });
});
