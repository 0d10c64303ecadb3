import {
  isKeyValue,
  keyText,
  loadHasher,
  partitionOfPosition,
  parsePipelineDefinition,
  type CompiledPipeline,
  type MailboxEvent,
} from '@sluice/pipeline';
import { exampleOrdersPipeline } from '@sluice/pipeline/definition/examples';
import { DEFAULT_MAX_MESSAGE_BYTES } from '@sluice/pipeline/mailbox/input-rules';
import { maxEventTime, routeBatch, type RoutableMessage } from './batch-router';

function compiled(): CompiledPipeline {
  const parsed = parsePipelineDefinition(exampleOrdersPipeline());
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.definition;
}

const message = (offset: number, value: string | null, key?: string): RoutableMessage => ({
  offset: String(offset),
  timestamp: String(1_700_000_000_000 + offset),
  value: value === null ? null : Buffer.from(value),
  key: key === undefined ? null : Buffer.from(key),
  headers: { traceparent: Buffer.from('00-abc-def-01') },
});

/** The event's fields, whether the router parsed them or left the JSON for the actor. */
const valueOf = (event: MailboxEvent): unknown =>
  event.json ? JSON.parse(Buffer.from(event.json).toString('utf8')) : event.value;

describe('routeBatch', () => {
  it('sends events with the same dedup key to the same mailbox, whatever their offset', async () => {
    const hasher = await loadHasher();
    const pipeline = compiled();
    const target = {
      topic: 'orders',
      partition: 0,
      partitions: 16,
      source: pipeline.sources.get('orders'),
    };
    const messages = Array.from({ length: 200 }, (_, i) =>
      message(i, JSON.stringify({ event_id: `e-${i % 50}`, amount: i })),
    );
    const routed = routeBatch(messages, target, hasher);
    const mailboxOf = new Map<string, number>();
    let total = 0;
    for (const [mailbox, events] of routed) {
      for (const event of events) {
        total += 1;
        expect(event.json).toBeDefined();
        const id = (valueOf(event) as { event_id: string }).event_id;
        expect(mailboxOf.get(id) ?? mailbox).toBe(mailbox);
        mailboxOf.set(id, mailbox);
        expect(mailbox).toBe(hasher.partitionOf(id, 16));
      }
    }
    expect(total).toBe(200);
    expect(routed.size).toBeGreaterThan(8);
  });

  it('keeps malformed messages with their text and reason, routed by position', async () => {
    const hasher = await loadHasher();
    const target = {
      topic: 't',
      partition: 3,
      partitions: 8,
      source: compiled().sources.get('orders'),
    };
    const messages = [
      message(10, '{"event_id": "x"', 'k1'),
      message(11, '[1,2]'),
      message(12, null),
      message(13, '{"amount": 1}'),
    ];
    const first = routeBatch(messages, target, hasher);
    expect(routeBatch(messages, target, hasher)).toEqual(first);
    const events = [...first.values()].flat().sort((a, b) => a.offset - b.offset);
    expect(events.map((e) => e.offset)).toEqual([10, 11, 12, 13]);
    expect(events[0]).toMatchObject({
      raw: '{"event_id": "x"',
      key: 'k1',
      timestamp: 1_700_000_000_010,
    });
    expect(events[0]?.error).toMatch(/invalid JSON/);
    expect(events[0]?.traceparent).toBe('00-abc-def-01');
    expect(events[1]).toMatchObject({ raw: '[1,2]', error: 'message is not a JSON object' });
    expect(events[2]).toMatchObject({ raw: '', error: 'empty message' });
    // No event_id: the key cannot be evaluated, so the position decides (the actor dead-letters it).
    expect(events[3]).toMatchObject({ value: { amount: 1 } });
    expect(events[3]?.error).toBeUndefined();
  });

  it('routes unparsed events exactly where parsing them would', async () => {
    const hasher = await loadHasher();
    const target = {
      topic: 't',
      partition: 2,
      partitions: 16,
      source: compiled().sources.get('orders'),
    };
    const texts = [
      '{"event_id":"a-1","amount":2}',
      '{"event_id":5.0}',
      '{"event_id":5}',
      '{"event_id":"5"}',
      '{"event_id":true,"x":[{"y":"\\u0041"}]}',
      '{"event_id":"é"}',
      '{"event_id":"a\\u0062"}',
      '{"event_id":null}',
      '{"event_id":"a","event_id":"b"}',
      '{"event_id":"a" ,}',
      '{"other":1}',
      ' {"event_id":"z"} ',
    ];
    const messages = texts.map((text, i) => message(100 + i, text));
    const routed = routeBatch(messages, target, hasher);
    for (const [mailbox, events] of routed) {
      for (const event of events) {
        const text = texts[event.offset - 100] as string;
        let expected = partitionOfPosition(hasher, 't', 2, event.offset, 16);
        try {
          const parsed = JSON.parse(text) as Record<string, unknown>;
          if (Object.hasOwn(parsed, 'event_id') && isKeyValue(parsed.event_id)) {
            expected = hasher.partitionOf(keyText(parsed.event_id), 16);
          }
          expect(valueOf(event)).toEqual(parsed);
        } catch {
          expect(event.error).toBeDefined();
        }
        expect([text, mailbox]).toEqual([text, expected]);
        expect(event).toMatchObject({ timestamp: 1_700_000_000_000 + event.offset });
        expect(event.traceparent).toBe('00-abc-def-01');
      }
    }
    expect([...routed.values()].flat()).toHaveLength(texts.length);
  });

  it('keeps each message its own timestamp when neighbours share or change theirs', async () => {
    const hasher = await loadHasher();
    const target = {
      topic: 't',
      partition: 0,
      partitions: 4,
      source: compiled().sources.get('orders'),
    };
    const stamps = ['5', '5', '7', '5', '-1', '-1'];
    const messages = stamps.map((timestamp, i) => ({
      ...message(i, JSON.stringify({ event_id: `e-${i}` })),
      timestamp,
    }));
    const events = [...routeBatch(messages, target, hasher).values()].flat();
    events.sort((a, b) => a.offset - b.offset);
    expect(events.map((e) => e.timestamp)).toEqual(stamps.map(Number));
    expect(events.every((e) => e.json !== undefined)).toBe(true);
  });

  it('parses every event of a join pipeline (the consumer reads event times)', async () => {
    const hasher = await loadHasher();
    const target = {
      topic: 'orders',
      partition: 0,
      partitions: 4,
      source: compiled().sources.get('orders'),
      joined: true,
    };
    const routed = routeBatch([message(1, '{"event_id":"a"}')], target, hasher);
    const [event] = [...routed.values()].flat();
    expect(event).toMatchObject({ value: { event_id: 'a' } });
    expect(event?.json).toBeUndefined();
  });

  describe('input rules (README "Input rules")', () => {
    const bytesMessage = (offset: number, value: Buffer): RoutableMessage => ({
      offset: String(offset),
      timestamp: '1700000000000',
      value,
      key: null,
    });
    const invalidUtf8 = Buffer.concat([
      Buffer.from('{"event_id":"u","s":"a'),
      Buffer.from([0xe6, 0x97, 0xff]),
      Buffer.from('"}'),
    ]);
    const deep = (levels: number) =>
      `{"event_id":"d","x":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;

    /** The routed events of one batch by offset, with the unparsed ones parsed. */
    async function route(messages: RoutableMessage[], joined: boolean, maxMessageBytes?: number) {
      const hasher = await loadHasher();
      const target = {
        topic: 'orders',
        partition: 0,
        partitions: 4,
        source: compiled().sources.get('orders'),
        joined,
        maxMessageBytes,
      };
      return [...routeBatch(messages, target, hasher).values()]
        .flat()
        .sort((a, b) => a.offset - b.offset);
    }

    it.each([false, true])(
      'refuses deep nesting, invalid UTF-8 and oversize messages alone (joined: %s)',
      async (joined) => {
        const messages = [
          message(0, '{"event_id":"a"}'),
          message(1, deep(129)),
          message(2, deep(128)),
          bytesMessage(3, invalidUtf8),
          message(4, JSON.stringify({ event_id: 'big', s: 'x'.repeat(2000) })),
          message(5, '{"event_id":"b"}'),
        ];
        const events = await route(messages, joined, 1024);
        expect(events.map((e) => e.offset)).toEqual([0, 1, 2, 3, 4, 5]);
        expect(events.map((e) => e.error !== undefined)).toEqual([
          false,
          true,
          false,
          true,
          true,
          false,
        ]);
        expect(valueOf(events[2] as MailboxEvent)).toEqual(JSON.parse(deep(128)));
        expect(events[1]).toMatchObject({
          error: 'nested too deeply: more than 128 levels of objects and arrays',
          raw: deep(129),
        });
        // Not text: the bytes as the producer sent them, copied out of the Kafka batch.
        expect(events[3]?.raw).toBeUndefined();
        expect(Buffer.from(events[3]?.rawBytes ?? []).equals(invalidUtf8)).toBe(true);
        expect(events[3]?.rawBytes?.buffer).not.toBe(invalidUtf8.buffer);
        expect(events[3]?.error).toBe('invalid UTF-8 at byte 22; the original bytes are kept');
        expect(events[4]).toMatchObject({ raw: '' });
        expect(events[4]?.error).toMatch(
          /^message of 2025 bytes is larger than MAX_MESSAGE_BYTES \(1024\)/,
        );
      },
    );

    it('takes MAX_MESSAGE_BYTES from the default when none is given', async () => {
      const text = JSON.stringify({ event_id: 'a', s: 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES) });
      const [event] = await route([message(0, text)], false);
      expect(event?.error).toMatch(/larger than MAX_MESSAGE_BYTES \(8388608\)/);
    });
  });
});

describe('maxEventTime', () => {
  it('leaves out event times more than maxFutureEventTime ahead: they never reach the join marks', () => {
    const now = Date.parse('2026-06-01T00:00:00Z');
    const at = (offset: number, ts: number): MailboxEvent => ({
      offset,
      timestamp: now,
      value: { ts: new Date(ts).toISOString() },
    });
    const parsed = parsePipelineDefinition({
      id: 'm',
      source: { kafka: { brokers: ['127.0.0.1:9092'] }, topics: [{ name: 't', eventTime: 'ts' }] },
      sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'x' } },
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    const source = parsed.definition.sources.get('t');
    const hour = 3_600_000;
    const routed = [[at(0, now - hour), at(1, now + 50 * 24 * hour), at(2, now + hour - 1)]];
    expect(maxEventTime(routed, source, hour, now)).toBe(now + hour - 1);
    expect(maxEventTime([[at(0, now + 2 * hour)]], source, hour, now)).toBeUndefined();
  });
});
