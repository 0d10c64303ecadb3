/**
 * Throughput cost of tracing and of the find-my-event index, on the local stack. One topic is
 * produced once; every run drains it through a fresh pipeline (new consumer group, new table) in
 * a fresh Sluice process (all roles) with one telemetry setting, and times creation -> all rows
 * written. Runs of the modes are interleaved over several rounds because the machine is noisy;
 * the report gives each mode's median events/s and its ratio to tracing off. Spans go over real
 * OTLP/HTTP (protobuf) to a sink in this process that drains and counts requests.
 *
 *   npm run build && node dist/tools/bench-trace-cost.js
 *   env: BENCH_EVENTS (default 100000), BENCH_ROUNDS (default 3), SLUICE_STACK_DIR
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { createTopic, stackUp } from '@sluice/stack';

const MAIN_JS = join(__dirname, '..', 'src', 'main.js');
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTITIONS = 8;

interface Mode {
  name: string;
  env: Record<string, string>;
}
const tracing = (ratio: string) => ({
  OTEL_TRACES_SAMPLER: 'traceidratio',
  OTEL_TRACES_SAMPLER_ARG: ratio,
});
const MODES: Mode[] = [
  { name: 'tracing off', env: {} },
  { name: 'index off, tracing off', env: { EVENT_INDEX_RETENTION_MS: '0' } },
  { name: 'ratio 0', env: tracing('0') },
  { name: 'ratio 0.01', env: tracing('0.01') },
  { name: 'ratio 1', env: tracing('1') },
];

const out = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Accepts OTLP exports and throws them away; counts requests and bytes. */
async function otlpSink(): Promise<{
  server: Server;
  url: string;
  stats: { requests: number; bytes: number };
}> {
  const stats = { requests: 0, bytes: 0 };
  const server = createHttpServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`, stats };
}

let current: ChildProcess | undefined;
// Ctrl-C must not leave the Sluice process of the current run behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    current?.kill('SIGKILL');
    process.exit(130);
  });
}

async function startSluice(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  current = child;
  const base = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(250)) {
    const ready = await fetch(`${base}/health/ready`).catch(() => undefined);
    if (ready?.status === 200) return { child, base };
  }
  child.kill('SIGKILL');
  throw new Error('Sluice not ready after 60 s');
}

async function stopSluice(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** Redis bytes of a pipeline's find-my-event hashes, and how many records they hold. */
async function indexFootprint(
  redis: Redis,
  id: string,
): Promise<{ bytes: number; records: number }> {
  let cursor = '0';
  let bytes = 0;
  let records = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `{sl:${id}:*}:events:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
      records += await redis.hlen(key);
    }
  } while (cursor !== '0');
  return { bytes, records };
}

async function main(): Promise<void> {
  const env = await stackUp({ log: (l) => out(`  ${l}`) });
  const sink = await otlpSink();
  const ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 60_000 });
  const redis = new Redis(env.REDIS_URL);
  const stamp = Date.now().toString(36);
  const topic = `bench_trace_${stamp}`;
  await createTopic(topic, PARTITIONS);
  const kafka = new Kafka({
    clientId: 'bench',
    brokers: env.KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  await producer.connect();
  const start = Date.now() - EVENTS;
  for (let i = 0; i < EVENTS; i += 5_000) {
    const messages = [];
    for (let j = i; j < Math.min(EVENTS, i + 5_000); j++) {
      const value = JSON.stringify({
        event_id: `e-${j}`,
        ts: new Date(start + j).toISOString(),
        user_id: j % 1000,
        project: `p${j % 20}`,
        action: j % 2 ? 'click' : 'view',
        amount: j % 100,
      });
      messages.push({ value, partition: j % PARTITIONS });
    }
    await producer.send({ topic, messages });
  }
  await producer.disconnect();
  out(`produced ${EVENTS} events to ${topic}; ${ROUNDS} round(s) of ${MODES.length} modes`);

  const results = new Map<string, number[]>(MODES.map((m) => [m.name, []]));
  const footprints = new Map<string, { bytes: number; records: number }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [m, mode] of MODES.entries()) {
      const id = `bt-${stamp}-${round}-${m}`;
      const table = `bench_trace_${stamp}_${round}_${m}`;
      await ch.command({
        query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), user_id UInt32, project LowCardinality(String), action String, amount Float64) ENGINE = MergeTree ORDER BY event_id SETTINGS non_replicated_deduplication_window = 10000`,
      });
      const tracingEnv: Record<string, string> = mode.name.startsWith('ratio')
        ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, ...mode.env }
        : mode.env;
      const { child, base } = await startSluice({ ...env, ...tracingEnv });
      try {
        const t0 = Date.now();
        const created = await fetch(`${base}/api/v1/pipelines`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            id,
            source: {
              kafka: { brokers: env.KAFKA_BROKERS.split(',') },
              topics: [{ name: topic, startFrom: 'earliest', eventTime: 'ts' }],
            },
            partitions: 8,
            dedup: { key: 'event_id', window: '24h' },
            sink: {
              clickhouse: {
                url: env.CLICKHOUSE_URL,
                table,
                batch: { maxRows: 10_000, maxDelay: '500ms' },
              },
            },
          }),
        });
        if (created.status !== 201)
          throw new Error(`create: ${created.status} ${await created.text()}`);
        // Timed from the first checkpointed events, not from creation: the consumer group join
        // (seconds on the mock) is not what tracing costs.
        let first: { at: number; consumed: number } | undefined;
        for (;;) {
          const body = (await (await fetch(`${base}/api/v1/pipelines/${id}`)).json()) as {
            counters: { consumed: number; written: number };
          };
          if (first === undefined && body.counters.consumed > 0) {
            first = { at: Date.now(), consumed: body.counters.consumed };
          }
          if (body.counters.written >= EVENTS) break;
          if (Date.now() - t0 > 600_000) throw new Error(`${mode.name}: not done after 600 s`);
          await sleep(50);
        }
        const from = first ?? { at: t0, consumed: 0 };
        const rate = (EVENTS - from.consumed) / ((Date.now() - from.at) / 1000);
        results.get(mode.name)!.push(rate);
        if (round === 0) footprints.set(mode.name, await indexFootprint(redis, id));
        out(`  round ${round + 1} ${mode.name.padEnd(24)} ${Math.round(rate)} events/s`);
        await fetch(`${base}/api/v1/pipelines/${id}`, { method: 'DELETE' });
      } finally {
        await stopSluice(child);
        await ch.command({ query: `DROP TABLE IF EXISTS ${table}` });
      }
    }
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const base = median(results.get('tracing off')!);
  out('\nmode                      median events/s   ratio to tracing off   index bytes/record');
  for (const mode of MODES) {
    const med = median(results.get(mode.name)!);
    const fp = footprints.get(mode.name);
    const perRecord = fp && fp.records > 0 ? (fp.bytes / fp.records).toFixed(1) : '-';
    out(
      `${mode.name.padEnd(26)}${String(Math.round(med)).padStart(15)}${(med / base).toFixed(2).padStart(23)}${perRecord.padStart(21)}`,
    );
  }
  out(
    `OTLP sink: ${sink.stats.requests} export requests, ${(sink.stats.bytes / 1e6).toFixed(1)} MB`,
  );
  redis.disconnect();
  await ch.close();
  await new Promise((r) => sink.server.close(r));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
