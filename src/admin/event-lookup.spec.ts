import type { Redis } from 'ioredis';
import {
  type CompiledPipeline,
  exampleJoinPipeline,
  loadHasher,
  parsePipelineDefinition,
  RowBuilder,
} from '@sluice/pipeline';
import { IndexRecordWriter } from '@sluice/telemetry';
import type { SluiceConfig } from '../config';
import type { PipelineWatcher } from '../pipelines';
import { EntryProcessor } from '../roles/owner/entry-processor';
import { EventLookup } from './event-lookup';

const T0 = Date.parse('2024-05-01T12:00:00Z');

/** A join pipeline whose two topics share one dedup spec (a string key, not per topic). */
function joinWithOneDedupSpec(): CompiledPipeline {
  const definition = {
    ...exampleJoinPipeline(),
    id: 'joined',
    dedup: { key: 'string(id)', window: '1h' },
    join: {
      type: 'left',
      window: '10m',
      lateness: '30s',
      left: { topic: 'orders', key: 'customer_id' },
      right: { topic: 'customers', key: 'id' },
    },
    transform: { columns: { order_id: 'left.id' } },
    filter: undefined,
  };
  const parsed = parsePipelineDefinition(definition);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.definition;
}

/** The key hashes the actor reports for find-my-event, one per outcome. */
async function actorKeyHashes(pipeline: CompiledPipeline): Promise<bigint[]> {
  const rows = RowBuilder.compile([{ name: 'order_id', type: 'String', defaultKind: '' }], []);
  const p = new EntryProcessor(pipeline, rows, await loadHasher(), new Map(), '0-0');
  const hashes: bigint[] = [];
  p.observer = {
    wantsKeys: true,
    entry: () => undefined,
    outcome: (_topic, _event, _outcome, keyHash) => {
      if (keyHash !== undefined) hashes.push(keyHash);
    },
  };
  const order = { id: 'o-1', customer_id: 'c-1', amount: 3, ts: new Date(T0).toISOString() };
  // The second copy is a duplicate: its outcome carries the stored key hash.
  const events = [0, 1].map((offset) => ({ offset, timestamp: T0, value: order }));
  p.apply('1-0', { topic: 'orders', partition: 0, generation: 1, from: 0, to: 1, events }, T0);
  return hashes;
}

/** Answers every GET with `log` (every index bucket of every partition holds it). */
function redisServing(log: Buffer): Redis {
  const replies: [null, unknown][] = [];
  const tx = {
    getBuffer: () => replies.push([null, log]) && tx,
    sismember: () => replies.push([null, 0]) && tx,
    exec: () => Promise.resolve(replies.splice(0)),
  };
  return { pipeline: () => tx } as unknown as Redis;
}

describe('EventLookup', () => {
  it('finds a key of a join pipeline with one dedup spec under the hash the actor recorded', async () => {
    const pipeline = joinWithOneDedupSpec();
    const hashes = await actorKeyHashes(pipeline);
    expect(hashes.length).toBeGreaterThan(0);
    const index = new IndexRecordWriter();
    for (const hash of hashes) index.add(hash, 'duplicate');
    const log = index.segment({ epoch: 1, run: 7, seq: 1 }, Date.now());

    const config = { eventIndexRetentionMs: 3_600_000 } as SluiceConfig;
    const watcher = { current: () => new Map() } as unknown as PipelineWatcher;
    const lookup = new EventLookup(redisServing(log), config, watcher);
    const found = await lookup.find(pipeline, 'o-1', 'orders');
    expect(found.events.map((e) => e.stage)).toContain('duplicate');
  });
});
