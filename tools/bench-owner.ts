/**
 * CPU per event of the owner's own work, in this process, without the stack: decode the bench's
 * mailbox entries, apply them (dedup, event time, rows, find-my-event records) and encode each
 * flush as the actor does (outbox payload, checkpoint script call framed by ioredis; the Redis
 * reply is faked, so Redis's own work is not counted). The full bench measures one process doing
 * everything on a shared machine, where CPU seconds per run vary by ±15%; this isolates the
 * owner's share to within a few percent, for A/B runs of two builds.
 *
 *   npm run build && node dist/tools/bench-owner.js [events=270000] [rounds=5]
 */
import Command from 'ioredis/built/Command';
import type { Redis } from 'ioredis';
import {
  decodeMailboxEntry,
  encodeMailboxEntry,
  loadHasher,
  type MailboxEvent,
  parsePipelineDefinition,
  RowBuilder,
} from '@sluice/pipeline';
import { encodeOutboxBatch } from '@sluice/redis';
import { writeCheckpoint } from '@sluice/redis/scripts';
import { BatchLog, Tracing } from '@sluice/telemetry';
import { EntryProcessor } from '../src/roles/owner/entry-processor';
import { EventSource } from './bench-data';

const EVENTS = Number(process.argv[2] ?? 270_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const ENTRY_EVENTS = 250;
const MAX_ROWS = 10_000;

/** The bench's table (tools/bench-systems.ts). */
const COLUMNS = [
  ['event_id', 'String'],
  ['ts', "DateTime64(3, 'UTC')"],
  ['user_id', 'UInt32'],
  ['project', 'LowCardinality(String)'],
  ['action', 'LowCardinality(String)'],
  ['amount', 'Float64'],
  ['session', 'String'],
].map(([name, type]) => ({ name: name as string, type: type as string, defaultKind: '' }));

/** Frames the command as ioredis would send it, and answers 'applied'. */
const framingOnly = {
  callBuffer: (name: string, args: unknown[]) => {
    new Command(name, args as string[]).toWritable(undefined as never);
    return Promise.resolve([1, Buffer.alloc(0)]);
  },
} as unknown as Redis;

async function main(): Promise<void> {
  const parsed = parsePipelineDefinition({
    id: 'p',
    source: { kafka: { brokers: ['127.0.0.1:9092'] }, topics: [{ name: 't', eventTime: 'ts' }] },
    dedup: { key: 'event_id', window: '24h' },
    sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'x' } },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const rowBuilder = RowBuilder.compile(COLUMNS);
  const hasher = await loadHasher();
  const source = new EventSource('bench-', 0.1, 150);
  const entries: Buffer[] = [];
  const t0 = Date.now();
  for (let offset = 0; offset < EVENTS;) {
    const events: MailboxEvent[] = [];
    for (let k = 0; k < ENTRY_EVENTS && offset < EVENTS; k++, offset++) {
      // The message bytes unparsed, as the consumer's key scan hands them on (entry v3): the
      // actor's decode parses them, as in the running pipeline.
      const json = Buffer.from(source.next(t0 + offset));
      events.push({ offset, timestamp: t0 + offset, json });
    }
    const from = events[0]?.offset ?? 0;
    const to = events.at(-1)?.offset ?? 0;
    entries.push(encodeMailboxEntry({ topic: 't', partition: 0, generation: 1, from, to, events }));
  }

  const once = async (): Promise<void> => {
    const p = new EntryProcessor(parsed.definition, rowBuilder, hasher, new Map(), '0-0');
    const log = new BatchLog({
      tracing: Tracing.disabled(),
      pipeline: 'p',
      partition: 0,
      indexEvents: true,
    });
    p.observer = log;
    let seq = 0;
    const flush = async (): Promise<void> => {
      seq += 1;
      const batchId = `p.0.1.${seq}`;
      const payload = encodeOutboxBatch({
        pipeline: 'p',
        partition: 0,
        batchId,
        database: 'default',
        table: 'x',
        body: p.lines.bytes(),
        count: p.rowCount,
        createdAt: Date.now(),
        times: log.rowTimes(),
      });
      const changes = p.dedup?.changes();
      await writeCheckpoint(framingOnly, {
        pipeline: 'p',
        partition: 0,
        leaseValue: 'owner:1',
        batch: { id: batchId, payload },
        cursor: '1-0',
        next: p.next,
        seq,
        gen: seq,
        counters: p.allCounters(),
        deadLetters: p.deadLetters,
        dedup: changes && { ...changes, expireAt: () => Date.now() },
        eventIndex: {
          bucketStart: 0,
          expireAt: Date.now(),
          maxBytes: 1 << 30,
          count: log.indexRecords,
          segment: log.indexSegment({ epoch: 1, run: 1, seq }, Date.now()),
        },
      });
      log.committed();
      p.reset();
    };
    let id = 0;
    for (const data of entries) {
      p.apply(`${++id}-0`, decodeMailboxEntry(data), Date.now());
      if (p.isFull(MAX_ROWS)) await flush();
    }
    await flush();
  };

  await once(); // warm-up: compile and size the buffers
  const perEvent: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    await once();
    const used = process.cpuUsage(before);
    perEvent.push(((used.user + used.system) / EVENTS).toFixed(2));
  }
  console.log(`owner path, ${EVENTS} events: CPU µs per event by round: ${perEvent.join(' ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
