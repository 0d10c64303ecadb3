/**
 * CPU per event of the consumer's own work on a message after kafkajs decoded it, in this
 * process, without the stack: route each 1000-message Kafka batch of the bench's events
 * (key scan, routing hash), buffer four of them per source partition as the coalescer does
 * (CONSUMER_LINGER_MAX_EVENTS 4000), encode one entry per mailbox; and, timed apart, the
 * actor's decode of those entries (each range's entries are dropped after it, as after an XADD). Like tools/bench-owner, for A/B runs of two builds (copy `dist`
 * aside, rebuild, run both alternately); the full bench's per-process CPU varies by ±15%.
 *
 *   npm run build && node dist/tools/bench-consumer.js [events=288000] [rounds=7]
 */
import { decodeMailboxEntry, loadHasher, parsePipelineDefinition } from '@sluice/pipeline';
import { routeBatch, type RoutableMessage } from '../src/roles/consumer/batch-router';
import { PartitionBuffer, releaseRange } from '../src/roles/consumer/partition-buffer';
import { EventSource } from './bench-data';

const EVENTS = Number(process.argv[2] ?? 288_000);
const ROUNDS = Number(process.argv[3] ?? 7);
const BATCH = 1_000;
const PARTITIONS = 16;

/** Kafka batches as kafkajs hands them over: values are views into one fetch buffer. */
function batches(): RoutableMessage[][] {
  const source = new EventSource('bench-', 0.1, 150);
  const t0 = Date.now();
  const out: RoutableMessage[][] = [];
  for (let offset = 0; offset < EVENTS;) {
    const texts: string[] = [];
    for (let k = 0; k < BATCH && offset + k < EVENTS; k++) texts.push(source.next(t0 + offset + k));
    const fetch = Buffer.from(texts.join(''), 'utf8');
    let at = 0;
    const messages = texts.map((text, k) => {
      const length = Buffer.byteLength(text);
      const value = fetch.subarray(at, at + length);
      at += length;
      // One producer send: every message of the batch has about the same timestamp.
      return {
        offset: String(offset + k),
        timestamp: String(t0 + offset),
        key: null,
        value,
        headers: {},
      };
    });
    out.push(messages);
    offset += messages.length;
  }
  return out;
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

async function main(): Promise<void> {
  const parsed = parsePipelineDefinition({
    id: 'p',
    source: { kafka: { brokers: ['127.0.0.1:9092'] }, topics: [{ name: 't', eventTime: 'ts' }] },
    dedup: { key: 'event_id', window: '24h' },
    sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'x' } },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const pipeline = parsed.definition;
  const hasher = await loadHasher();
  const input = batches();
  const target = {
    topic: 't',
    partition: 0,
    partitions: PARTITIONS,
    source: pipeline.sources.get('t'),
  };
  let encodeMs = 0;
  let decodeMs = 0;
  let entries = 0;
  let bytes = 0;

  const consume = (): void => {
    const buffer = new PartitionBuffer({ maxEvents: 4_000, lingerMs: 200 });
    const flush = (): void => {
      const range = buffer.take();
      if (range === undefined) return;
      const e0 = cpuMs();
      const encoded: Buffer[] = [];
      const head = { topic: 't', partition: 0, generation: 1, from: 0, to: range.to };
      for (const builder of range.byMailbox.values()) encoded.push(builder.encode(head));
      releaseRange(range);
      const e1 = cpuMs();
      for (const entry of encoded) decodeMailboxEntry(entry);
      decodeMs += cpuMs() - e1;
      encodeMs += e1 - e0;
      entries += encoded.length;
      for (const entry of encoded) bytes += entry.length;
    };
    for (const messages of input) {
      const routed = routeBatch(messages, target, hasher);
      const last = messages.at(-1);
      buffer.add(routed, Number(last?.offset), 0);
      if (buffer.full) flush();
    }
    flush();
  };

  for (let round = 1; round <= ROUNDS; round++) {
    encodeMs = 0;
    decodeMs = 0;
    entries = 0;
    bytes = 0;
    const c0 = cpuMs();
    consume();
    const c1 = cpuMs();
    const us = (ms: number) => ((ms * 1000) / EVENTS).toFixed(3);
    console.log(
      `round ${round}: consume ${us(c1 - c0 - decodeMs)} µs/event (encode ${us(encodeMs)}), ` +
        `decode ${us(decodeMs)} µs/event, ${entries} entries, ${(bytes / EVENTS).toFixed(1)} B/event`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
