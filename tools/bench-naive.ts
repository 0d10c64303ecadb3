/**
 * The bench's "naive consumer" peer, run as its own OS process so its CPU and RSS can be read
 * from /proc: kafkajs eachBatch -> JSON.parse -> one @clickhouse/client insert per 10k rows ->
 * commit the offsets the insert covered. At-least-once, no dedup. Tuned fairly: batches of all
 * partitions share one buffer (the mock returns small fetches), a partition's next fetch runs
 * while the buffer fills, and only a full buffer (or the 1 s timer) waits for the insert.
 *
 * argv[2]: JSON {brokers, topic, group, clickhouseUrl, table, batchRows, flushMs}
 */
import { createClient } from '@clickhouse/client';
import { Kafka, logLevel, type EachBatchPayload } from 'kafkajs';

interface NaiveOptions {
  brokers: string[];
  topic: string;
  group: string;
  clickhouseUrl: string;
  table: string;
  batchRows: number;
  flushMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as NaiveOptions;
const clickhouse = createClient({
  url: options.clickhouseUrl,
  request_timeout: 120_000,
  clickhouse_settings: { async_insert: 0, date_time_input_format: 'best_effort' },
});
const kafka = new Kafka({
  clientId: 'bench-naive',
  brokers: options.brokers,
  logLevel: logLevel.NOTHING,
});
const consumer = kafka.consumer({
  groupId: options.group,
  sessionTimeout: 10_000,
  heartbeatInterval: 3_000,
  maxWaitTimeInMs: 100,
});

let rows: unknown[] = [];
// Highest offset buffered per partition: committed (as offset + 1) once its rows are inserted.
let offsets = new Map<number, string>();
let flushing: Promise<void> = Promise.resolve();
let stopped = false;

function fatal(err: unknown): never {
  process.stderr.write(`naive consumer failed: ${String(err)}\n`);
  process.exit(1);
}

function flush(): Promise<void> {
  // A failed insert ends the process (the bench reports it): its rows were never committed.
  flushing = flushing.then(async () => {
    if (rows.length === 0) return;
    const values = rows;
    const covered = offsets;
    rows = [];
    offsets = new Map();
    await clickhouse.insert({ table: options.table, values, format: 'JSONEachRow' });
    await consumer.commitOffsets(
      [...covered].map(([partition, offset]) => ({
        topic: options.topic,
        partition,
        offset: String(Number(offset) + 1),
      })),
    );
  });
  return flushing;
}

async function eachBatch({ batch }: EachBatchPayload): Promise<void> {
  for (const message of batch.messages) {
    if (!message.value) continue;
    try {
      rows.push(JSON.parse(message.value.toString('utf8')));
    } catch {
      // at-least-once peer: a malformed message is skipped
    }
  }
  if (batch.messages.length > 0) offsets.set(batch.partition, batch.lastOffset());
  if (rows.length >= options.batchRows) await flush().catch(fatal);
}

/** The bench writes "go" on stdin when the measured window starts. */
function waitForGo(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('go')) resolve();
    });
  });
}

async function main(): Promise<void> {
  process.on('SIGTERM', () => process.exit(0));
  await waitForGo();
  process.removeAllListeners('SIGTERM');
  await consumer.connect();
  await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
  await consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 8, eachBatch });
  const timer = setInterval(() => {
    flush().catch(fatal);
  }, options.flushMs);
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    await flush().catch(() => undefined);
    await consumer.disconnect().catch(() => undefined);
    await clickhouse.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.stdout.write('ready\n');
}

main().catch(fatal);
