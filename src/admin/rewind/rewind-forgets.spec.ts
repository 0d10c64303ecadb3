import { loadHasher, parsePipelineDefinition, type CompiledPipeline } from '@sluice/pipeline';
import { dedupKeyHash } from '@sluice/pipeline/dedup';
import { RewindForgets, type RewoundRecord } from './rewind-forgets';

function pipeline(extra: Record<string, unknown> = {}): CompiledPipeline {
  const parsed = parsePipelineDefinition({
    id: 'p',
    source: {
      kafka: { brokers: ['localhost:9092'] },
      topics: [{ name: 'orders', eventTime: 'ts' }],
    },
    partitions: 4,
    dedup: { key: 'event_id', window: '1h' },
    sink: { clickhouse: { url: 'http://localhost:8123', table: 't' } },
    ...extra,
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.definition;
}

const T = Date.UTC(2026, 0, 1);
const record = (offset: number, value: unknown): RewoundRecord => ({
  topic: 'orders',
  partition: 0,
  offset,
  timestamp: T + offset,
  value:
    value === null ? null : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
});

describe('RewindForgets', () => {
  it('forgets the key of each record its actor applied, in that actor, at its event time', async () => {
    const hasher = await loadHasher();
    const p = pipeline({ filter: 'amount > 0' });
    const actorOf = (id: string) => hasher.partitionOf(id, 4);
    // Every actor applied orders/0 up to offset 5 (next = 6).
    const next = Array.from({ length: 4 }, () => new Map([['orders/0', 6]]));
    const forgets = new RewindForgets(p, hasher, next, T);
    const ts = new Date(T + 60_000).toISOString();
    forgets.add(record(3, { event_id: 'a', ts, amount: 1 }));
    forgets.add(record(4, { event_id: 'b', ts, amount: 0 })); // filtered: nothing recorded
    forgets.add(record(5, 'not json')); // dead-lettered at parse
    forgets.add(record(6, { event_id: 'c', ts, amount: 1 })); // not applied yet (next = 6)
    forgets.add(record(2, { event_id: 'd', amount: 1 })); // no event time: dead-lettered at dedup
    forgets.add(record(1, null));
    expect(forgets.size).toBe(1);
    const keys = forgets.byActor().get(actorOf('a'));
    // 96 bits as the writer's forgets carry them: low 64 then high 32, little endian.
    const { low, high } = dedupKeyHash(p, hasher, 'orders', 'a');
    const hash = Buffer.alloc(12);
    hash.writeBigUInt64LE(low, 0);
    hash.writeUInt32LE(high, 8);
    expect(keys).toEqual([{ hash, time: T + 60_000 }]);
    expect([...forgets.byActor().keys()]).toEqual([actorOf('a')]);
  });

  it('skips a record whose actor never applied its source partition', async () => {
    const hasher = await loadHasher();
    const forgets = new RewindForgets(
      pipeline(),
      hasher,
      [new Map(), new Map(), new Map(), new Map()],
      T,
    );
    forgets.add(record(0, { event_id: 'a', ts: new Date(T).toISOString() }));
    expect(forgets.size).toBe(0);
  });
});
