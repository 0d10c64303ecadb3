/**
 * The four systems the bench runs, each behind the same two steps: launch() brings its processes
 * up and ready (not measured), begin() makes it start consuming the topic (measured from here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { freePort, type StackEnv } from '@sluice/stack';
import { Redis } from 'ioredis';

export const SYSTEM_NAMES = ['naive', 'kafka-engine', 'sluice', 'sluice-split'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export const SYSTEM_LABELS: Record<SystemName, string> = {
  naive: 'naive consumer (kafkajs -> 10k-row inserts, at-least-once)',
  'kafka-engine': 'ClickHouse Kafka engine + MV (at-least-once)',
  sluice: 'Sluice, dedup on, all roles in 1 process',
  'sluice-split': 'Sluice, dedup on, consumer | owner+writer in 2 processes',
};

/** Whether the system removes duplicates: what "expected rows" means for it. */
export const DEDUPS: Record<SystemName, boolean> = {
  naive: false,
  'kafka-engine': false,
  sluice: true,
  'sluice-split': true,
};

export interface SystemContext {
  env: StackEnv;
  ch: ClickHouseClient;
  topic: string;
  table: string;
  /** Unique per run and system: pipeline id, group names, view names. */
  id: string;
  logDir: string;
  tuning: Tuning;
}

export interface Tuning {
  sluicePartitions: number;
  sluiceMaxRows: number;
  sluiceMaxDelay: string;
  kafkaEngineFlushMs: number;
  kafkaEngineConsumers: number;
  /** Extra env for Sluice processes (e.g. WRITER_CONCURRENCY). */
  sluiceEnv: Record<string, string>;
  /** Directory for `node --cpu-prof` of the Sluice processes; none when undefined. */
  cpuProfDir: string | undefined;
  /** The pipeline's dedup window (24h by default; shorter so sustained runs reach steady state). */
  sluiceDedupWindow: string;
}

export interface SluiceExtras {
  counters?: Record<string, number>;
  dedupKeys?: number;
  dedupBytes?: number;
  redisBytesPerDedupKey?: number;
}

/** Memory of the system's processes as they report it (Sluice's /metrics), summed, in bytes. */
export interface MemorySplit {
  rss: number;
  heapUsed: number;
  /** V8 heap committed (used plus free pages it keeps). */
  heapTotal: number;
  /** Off-heap memory V8 knows of: Buffers and typed arrays (the dedup tables among them). */
  external: number;
  /** The actors' in-memory dedup tables and the keys in them. */
  dedup: number;
  dedupKeys: number;
  /** Source offset resets and offsets they skipped (input lost at the source). */
  sourceResets: number;
  sourceSkipped: number;
}

export interface RunningSystem {
  /** The processes whose CPU and RSS are this system's own. */
  pids: number[];
  begin(): Promise<void>;
  /** Reads what only the system can tell (Sluice counters, dedup memory) before stop(). */
  extras(): Promise<SluiceExtras>;
  /** The processes' own memory split (Sluice only). */
  memory?(): Promise<MemorySplit>;
  /** Stops everything it started, by PID. Safe to call twice. */
  stop(): Promise<void>;
}

export const tableDdl = (table: string) => `
  CREATE TABLE ${table} (
    event_id String, ts DateTime64(3, 'UTC'), user_id UInt32,
    project LowCardinality(String), action LowCardinality(String), amount Float64,
    session String, inserted_at DateTime64(3, 'UTC') DEFAULT now64(3))
  ENGINE = MergeTree ORDER BY (project, event_id)
  SETTINGS non_replicated_deduplication_window = 1000`;

export async function launch(name: SystemName, ctx: SystemContext): Promise<RunningSystem> {
  await ctx.ch.command({ query: tableDdl(ctx.table) });
  if (name === 'naive') return launchNaive(ctx);
  if (name === 'kafka-engine') return launchKafkaEngine(ctx);
  return launchSluice(ctx, name === 'sluice' ? [undefined] : ['consumer', 'owner,writer']);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** SIGTERM the child by PID, SIGKILL after 20 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await gone;
  clearTimeout(timer);
}

function launchNaive(ctx: SystemContext): Promise<RunningSystem> {
  const options = {
    brokers: ctx.env.KAFKA_BROKERS.split(','),
    topic: ctx.topic,
    group: `bench-naive-${ctx.id}`,
    clickhouseUrl: ctx.env.CLICKHOUSE_URL,
    table: ctx.table,
    batchRows: 10_000,
    flushMs: 1_000,
  };
  const log = openSync(join(ctx.logDir, `${ctx.id}.log`), 'a');
  // Profiled like Sluice's processes, so the two profiles compare stage by stage.
  const profile = ctx.tuning.cpuProfDir
    ? ['--cpu-prof', `--cpu-prof-dir=${ctx.tuning.cpuProfDir}`]
    : [];
  const child = spawn(
    process.execPath,
    [...profile, join(__dirname, 'bench-naive.js'), JSON.stringify(options)],
    {
      stdio: ['pipe', 'pipe', log],
    },
  );
  let stopped: Promise<void> | undefined;
  const running: RunningSystem = {
    pids: [child.pid ?? -1],
    // The child connects only on "go", so connection setup stays out of the measured window.
    begin: async () => {
      child.stdin?.write('go\n');
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`naive consumer exited with ${code}`)));
      });
    },
    extras: () => Promise.resolve({}),
    stop: () => (stopped ??= stopChild(child)),
  };
  return Promise.resolve(running);
}

function launchKafkaEngine(ctx: SystemContext): Promise<RunningSystem> {
  const { ch, env, tuning } = ctx;
  const source = `${ctx.table}_kafka`;
  const view = `${ctx.table}_mv`;
  let stopped: Promise<void> | undefined;
  return Promise.resolve({
    pids: [],
    begin: async () => {
      // ts stays a String in the Kafka table and is parsed in the view: JSONEachRow's default
      // DateTime parser does not take the ISO 'T…Z' form.
      await ch.command({
        query: `CREATE TABLE ${source} (
                  event_id String, ts String, user_id UInt32, project String, action String,
                  amount Float64, session String)
                ENGINE = Kafka SETTINGS
                  kafka_broker_list = '${env.KAFKA_BROKERS}', kafka_topic_list = '${ctx.topic}',
                  kafka_group_name = 'bench-ke-${ctx.id}', kafka_format = 'JSONEachRow',
                  kafka_num_consumers = ${tuning.kafkaEngineConsumers},
                  kafka_thread_per_consumer = 1, kafka_max_block_size = 65536,
                  kafka_flush_interval_ms = ${tuning.kafkaEngineFlushMs},
                  kafka_skip_broken_messages = 1000000`,
      });
      await ch.command({
        query: `CREATE MATERIALIZED VIEW ${view} TO ${ctx.table} AS
                SELECT event_id, parseDateTime64BestEffort(ts, 3, 'UTC') AS ts, user_id, project,
                       action, amount, session, now64(3) AS inserted_at
                  FROM ${source}`,
      });
    },
    extras: () => Promise.resolve({}),
    stop: () =>
      (stopped ??= (async () => {
        await ch.command({ query: `DROP VIEW IF EXISTS ${view}` });
        await ch.command({ query: `DROP TABLE IF EXISTS ${source}` });
      })()),
  });
}

interface SluiceChild {
  child: ChildProcess;
  base: string;
}

async function launchSluice(
  ctx: SystemContext,
  roles: (string | undefined)[],
): Promise<RunningSystem> {
  const { env, tuning } = ctx;
  const mainJs = join(__dirname, '..', 'src', 'main.js');
  const children: SluiceChild[] = [];
  for (const [i, role] of roles.entries()) {
    const port = await freePort();
    const log = openSync(join(ctx.logDir, `${ctx.id}-${i}.log`), 'a');
    const execArgv: string[] = [];
    if (tuning.cpuProfDir) {
      mkdirSync(tuning.cpuProfDir, { recursive: true });
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${tuning.cpuProfDir}`);
    }
    const child = spawn(process.execPath, [...execArgv, mainJs], {
      env: {
        PATH: process.env.PATH,
        ...env,
        LOG_LEVEL: 'warn',
        ...tuning.sluiceEnv,
        PORT: String(port),
        INSTANCE_ID: `${ctx.id}-${i}`,
        ...(role ? { ROLES: role } : {}),
      },
      stdio: ['ignore', log, log],
    });
    children.push({ child, base: `http://127.0.0.1:${port}` });
  }
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await request(children[0], 'DELETE', `/api/v1/pipelines/${ctx.id}`).catch(() => undefined);
      await Promise.all(children.map(({ child }) => stopChild(child)));
    })());
  try {
    for (const sluice of children) await waitReady(sluice);
  } catch (err) {
    await stop();
    throw err;
  }
  const definition = {
    id: ctx.id,
    source: {
      kafka: { brokers: env.KAFKA_BROKERS.split(',') },
      topics: [{ name: ctx.topic, startFrom: 'earliest', eventTime: 'ts' }],
    },
    partitions: tuning.sluicePartitions,
    dedup: { key: 'event_id', window: tuning.sluiceDedupWindow },
    sink: {
      clickhouse: {
        url: env.CLICKHOUSE_URL,
        table: ctx.table,
        batch: { maxRows: tuning.sluiceMaxRows, maxDelay: tuning.sluiceMaxDelay },
      },
    },
  };
  return {
    pids: children.map(({ child }) => child.pid ?? -1),
    begin: async () => {
      const created = await request(children[0], 'POST', '/api/v1/pipelines', definition);
      if (created.status !== 201) {
        throw new Error(`POST /pipelines: ${created.status} ${JSON.stringify(created.body)}`);
      }
    },
    extras: async () => {
      const got = await request(children[0], 'GET', `/api/v1/pipelines/${ctx.id}`);
      const counters = (got.body as { counters?: Record<string, number> }).counters;
      return { counters, ...(await dedupMemory(env.REDIS_URL, ctx.id)) };
    },
    memory: async () => {
      const splits = await Promise.all(children.map(scrapeMemory));
      const sum = (k: keyof MemorySplit) => splits.reduce((n, m) => n + m[k], 0);
      return {
        rss: sum('rss'),
        heapUsed: sum('heapUsed'),
        heapTotal: sum('heapTotal'),
        external: sum('external'),
        dedup: sum('dedup'),
        dedupKeys: sum('dedupKeys'),
        sourceResets: sum('sourceResets'),
        sourceSkipped: sum('sourceSkipped'),
      };
    },
    stop,
  };
}

/** One process's memory from its Prometheus text (default process metrics and dedup gauges). */
async function scrapeMemory(sluice: SluiceChild): Promise<MemorySplit> {
  const response = await fetch(`${sluice.base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  const total = (name: string) => {
    let n = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
        n += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
      }
    }
    return n;
  };
  return {
    rss: total('process_resident_memory_bytes'),
    heapUsed: total('nodejs_heap_size_used_bytes'),
    heapTotal: total('nodejs_heap_size_total_bytes'),
    external: total('nodejs_external_memory_bytes'),
    dedup: total('sluice_dedup_memory_bytes'),
    dedupKeys: total('sluice_dedup_keys'),
    sourceResets: total('sluice_source_offset_resets_total'),
    sourceSkipped: total('sluice_source_skipped_offsets_total'),
  };
}

async function waitReady(sluice: SluiceChild): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (sluice.child.exitCode !== null) throw new Error('a Sluice process exited while starting');
    const ready = await fetch(`${sluice.base}/health/ready`).catch(() => undefined);
    if (ready?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`Sluice ${sluice.base} not ready after 90 s`);
    await sleep(250);
  }
}

async function request(
  sluice: SluiceChild | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  if (!sluice) throw new Error('no Sluice process');
  const response = await fetch(`${sluice.base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/**
 * Redis memory of the pipeline's dedup state per live key: MEMORY USAGE of every bucket string
 * and bucket index, over the number of hashes the buckets hold (12-byte records; 8-byte ones in
 * strings a version before 96-bit hashes wrote).
 */
async function dedupMemory(redisUrl: string, pipeline: string): Promise<SluiceExtras> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    let cursor = '0';
    let bytes = 0;
    let hashes = 0;
    do {
      const [next, found] = await redis.scan(
        cursor,
        'MATCH',
        `{sl:${pipeline}:*}:dedup*`,
        'COUNT',
        1000,
      );
      cursor = next;
      for (const key of found) {
        bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
        const record = key.includes(':dedup96:') ? 12 : key.includes(':dedup:') ? 8 : 0;
        if (record > 0) hashes += (await redis.strlen(key)) / record;
      }
    } while (cursor !== '0');
    return {
      dedupKeys: hashes,
      dedupBytes: bytes,
      redisBytesPerDedupKey: hashes > 0 ? bytes / hashes : undefined,
    };
  } finally {
    redis.disconnect();
  }
}
