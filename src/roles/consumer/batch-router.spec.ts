import { loadHasher, parsePipelineDefinition, type CompiledPipeline } from '@sluice/pipeline';
import { exampleOrdersPipeline } from '@sluice/pipeline/definition/examples';
import { routeBatch, type RoutableMessage } from './batch-router';

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
        const id = (event.value as { event_id: string }).event_id;
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
});
