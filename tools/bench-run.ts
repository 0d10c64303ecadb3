/**
 * One system through one bench phase: throughput over a pre-produced topic, end-to-end latency at
 * a fixed rate, or a sustained run sampling RSS and lag. Each phase gets its own table and a
 * freshly launched system, and stops what it launched whatever happens.
 */
import type { Producer } from 'kafkajs';
import { EventSource, produceAtRate } from './bench-data';
import {
  cpuSeconds,
  latencyQuantiles,
  cpuSplit,
  ProcessSampler,
  type RedisCommandCost,
  RedisCommandSampler,
  redisKeysMemory,
  statusBytes,
  rowCount,
  tableSummary,
  type TableSummary,
} from './bench-measure';
import {
  DEDUPS,
  launch,
  type RunningSystem,
  type SluiceExtras,
  type SystemContext,
  type SystemName,
} from './bench-systems';

export interface StackPids {
  clickhouse: number;
  redis: number;
}

export interface Usage {
  /** CPU seconds of the system's own processes (the ClickHouse host for the Kafka engine). */
  cpuSeconds: number;
  /** CPU seconds of the ClickHouse host (inserts, merges; all of the Kafka engine's work). */
  clickhouseCpuSeconds: number;
  redisCpuSeconds: number;
  /** Peak of the summed RSS of the system's own processes, sampled every 250 ms. */
  peakRssMb: number;
}

export interface ThroughputResult extends Usage {
  system: SystemName;
  ok: boolean;
  error?: string;
  eventsPerSec: number;
  /** First to last row visible (insert time). */
  spanSeconds: number;
  /** Rows of the first insert, not counted in events/s (read before the span began). */
  firstInsertRows: number;
  /** From begin() (the system told to start) to the last row visible. */
  wallSeconds: number;
  rows: number;
  distinctIds: number;
  expectedRows: number;
  expectedDistinct: number;
  duplicateRows: number;
  lostIds: number;
  /** CPU seconds of each own process, in launch order (split Sluice: consumer, owner+writer):
   * which one saturates first. */
  processCpuSeconds: number[];
  /** Redis time per command over the run (INFO commandstats delta), most expensive first. */
  redisCommands: RedisCommandCost[];
  /** Redis's CPU split: user (commands, parsing) and system (socket and AOF syscalls). */
  redisCpuSplit: { user: number; system: number };
  /** MEMORY USAGE of the find-my-event index keys after the run (Sluice only). */
  redisIndex?: { keys: number; bytes: number; bytesPerEvent: number };
  extras: SluiceExtras;
}

export interface LatencyResult {
  system: SystemName;
  ok: boolean;
  error?: string;
  rate: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  events: number;
  /** Rows of the run's events (marker rows excluded), distinct ids, and what is wrong with them. */
  rows: number;
  distinctIds: number;
  duplicateRows: number;
  lostIds: number;
  /** The system's own CPU from the first timed event to the last row visible, per 1k events. */
  cpu: { seconds: number; msPer1kEvents: number };
}

export interface SustainedSample {
  t: number;
  rssMb: number;
  lag: number;
  produced: number;
  rows: number;
  /** From the system's own /metrics (Sluice): V8 heap used, external (Buffers, typed arrays). */
  heapMb?: number;
  heapTotalMb?: number;
  externalMb?: number;
  /** The actors' in-memory dedup tables: RSS minus this is what must stay flat. */
  dedupMb?: number;
  dedupKeys?: number;
  rssExDedupMb?: number;
}

const SETTLE_MS = 3_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

function ownPids(name: SystemName, system: RunningSystem, stack: StackPids): number[] {
  return name === 'kafka-engine' ? [stack.clickhouse] : system.pids;
}

/** Polls count() until `expected` rows are there, then once more after SETTLE_MS for extras. */
async function waitForRows(
  ctx: SystemContext,
  expected: number,
  timeoutMs: number,
  onPoll?: (rows: number) => void,
  onReached?: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await rowCount(ctx.ch, ctx.table);
    onPoll?.(rows);
    if (rows >= expected) {
      onReached?.();
      break;
    }
    if (Date.now() > deadline) throw new Error(`${rows} of ${expected} rows after ${timeoutMs} ms`);
    await sleep(500);
  }
  await sleep(SETTLE_MS);
}

export async function throughputRun(
  name: SystemName,
  ctx: SystemContext,
  stack: StackPids,
  expected: { messages: number; unique: number },
  timeoutMs: number,
  onPoll: (rows: number) => void,
): Promise<ThroughputResult> {
  const expectedRows = DEDUPS[name] ? expected.unique : expected.messages;
  const system = await launch(name, ctx);
  const own = new ProcessSampler(() => ownPids(name, system, stack));
  const each = ownPids(name, system, stack).map((pid) => new ProcessSampler(() => [pid]));
  const clickhouse = new ProcessSampler(() => [stack.clickhouse]);
  const redis = new ProcessSampler(() => [stack.redis]);
  const commands = new RedisCommandSampler(ctx.env.REDIS_URL);
  let redisCommands: RedisCommandCost[] = [];
  let redisIndex: ThroughputResult['redisIndex'];
  const redisBefore = cpuSplit(stack.redis);
  let redisCpuSplit = { user: 0, system: 0 };
  let error: string | undefined;
  let extras: SluiceExtras = {};
  const began = Date.now();
  try {
    await commands.start();
    for (const sampler of [own, ...each, clickhouse, redis]) sampler.start();
    await system.begin();
    await waitForRows(ctx, expectedRows, timeoutMs, onPoll);
    for (const sampler of [own, ...each, clickhouse, redis]) sampler.stop();
    redisCommands = await commands.stop();
    const redisAfter = cpuSplit(stack.redis);
    redisCpuSplit = {
      user: redisAfter.user - redisBefore.user,
      system: redisAfter.system - redisBefore.system,
    };
    extras = await system.extras();
    if (DEDUPS[name]) {
      const index = await redisKeysMemory(ctx.env.REDIS_URL, `{sl:${ctx.id}:*}:ev*`);
      redisIndex = { ...index, bytesPerEvent: index.bytes / expected.messages };
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    for (const sampler of [own, ...each, clickhouse, redis]) sampler.stop();
    await system.stop();
  }
  const summary: TableSummary = await tableSummary(ctx.ch, ctx.table);
  const lostIds = expected.unique - summary.distinctIds;
  return {
    system: name,
    ok: error === undefined && lostIds === 0 && (!DEDUPS[name] || summary.rows === expectedRows),
    error,
    // The first insert's rows were read before the span began: a system inserting big blocks
    // would otherwise look faster than it is.
    eventsPerSec:
      summary.spanSeconds > 0 && summary.rows > 0
        ? Math.round(
            (expected.messages * (1 - summary.firstRows / summary.rows)) / summary.spanSeconds,
          )
        : 0,
    spanSeconds: summary.spanSeconds,
    firstInsertRows: summary.firstRows,
    wallSeconds: (summary.lastInsertMs - began) / 1000,
    rows: summary.rows,
    distinctIds: summary.distinctIds,
    expectedRows,
    expectedDistinct: expected.unique,
    duplicateRows: summary.rows - summary.distinctIds,
    lostIds,
    cpuSeconds: own.cpuSeconds,
    processCpuSeconds: each.map((sampler) => Math.round(sampler.cpuSeconds * 100) / 100),
    clickhouseCpuSeconds: clickhouse.cpuSeconds,
    redisCpuSeconds: redis.cpuSeconds,
    peakRssMb: mb(own.peakRss),
    redisCommands,
    redisCpuSplit,
    redisIndex,
    extras,
  };
}

/** Sends marker events until the first one is visible: the system is consuming from then on. */
async function warmUp(
  ctx: SystemContext,
  producer: Producer,
  partitions: number,
  timeoutMs: number,
): Promise<void> {
  const source = new EventSource('warm-', 0, 150);
  const deadline = Date.now() + timeoutMs;
  while ((await rowCount(ctx.ch, ctx.table)) === 0) {
    if (Date.now() > deadline) throw new Error(`no row visible ${timeoutMs} ms after start`);
    await produceAtRate(producer, ctx.topic, partitions, source, 20, 500);
  }
}

/** A run that produces at a fixed rate for a while (latency, sustained). */
export interface RateRunOptions {
  partitions: number;
  rate: number;
  seconds: number;
  dupShare: number;
  eventSize: number;
}

function produceForRun(
  producer: Producer,
  ctx: SystemContext,
  opts: RateRunOptions,
  source: EventSource,
): Promise<void> {
  return produceAtRate(
    producer,
    ctx.topic,
    opts.partitions,
    source,
    opts.rate,
    opts.seconds * 1000,
  );
}

/** The rows `source` should leave in the table: unique events where the system dedups. */
function rowsFor(name: SystemName, source: EventSource): number {
  return DEDUPS[name] ? source.unique : source.produced;
}

export async function latencyRun(
  name: SystemName,
  ctx: SystemContext,
  stack: StackPids,
  producer: Producer,
  opts: RateRunOptions,
  timeoutMs: number,
): Promise<LatencyResult> {
  const system = await launch(name, ctx);
  const source = new EventSource('lat-', opts.dupShare, opts.eventSize, 11);
  const cpuNow = () => ownPids(name, system, stack).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  let error: string | undefined;
  let cpuUsed = 0;
  try {
    await system.begin();
    await warmUp(ctx, producer, opts.partitions, 120_000);
    const warm = await rowCount(ctx.ch, ctx.table);
    const cpuStart = cpuNow();
    await produceForRun(producer, ctx, opts, source);
    // CPU is read when the rows are there, before the settle pause of waitForRows.
    await waitForRows(ctx, warm + rowsFor(name, source), timeoutMs, undefined, () => {
      cpuUsed = cpuNow() - cpuStart;
    });
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    await system.stop();
  }
  const q = await latencyQuantiles(ctx.ch, ctx.table, 'lat-');
  const summary = await tableSummary(ctx.ch, ctx.table, "startsWith(event_id, 'lat-')");
  const duplicateRows = summary.rows - summary.distinctIds;
  const lostIds = source.unique - summary.distinctIds;
  const exact = !DEDUPS[name] || duplicateRows === 0;
  return {
    system: name,
    ok: error === undefined && lostIds === 0 && exact,
    rows: summary.rows,
    distinctIds: summary.distinctIds,
    duplicateRows,
    lostIds,
    cpu: {
      seconds: Math.round(cpuUsed * 100) / 100,
      msPer1kEvents: Math.round((cpuUsed / Math.max(1, source.produced)) * 1e6 * 100) / 100,
    },
    error,
    rate: opts.rate,
    seconds: opts.seconds,
    p50Ms: q.p50Ms,
    p99Ms: q.p99Ms,
    maxMs: q.maxMs,
    events: source.produced,
  };
}

export interface SustainedResult {
  system: SystemName;
  ok: boolean;
  error?: string;
  rate: number;
  seconds: number;
  samples: SustainedSample[];
  /** RSS after the first fifth of the run (warm-up excluded): min, max, median, spread. */
  rss: RssSpread;
  /**
   * The same for RSS minus the in-memory dedup state: with a window the run never fills, that
   * state grows with every live key (the product working), so this is the leak check.
   */
  rssExDedup?: RssSpread;
  /** In-memory dedup state at the last sample: keys, bytes per key. */
  dedup?: { keys: number; mb: number; bytesPerKey: number };
  lag: { maxEvents: number; lastEvents: number; growing: boolean };
  latency: { p50Ms: number; p99Ms: number };
  /** The system's own CPU over the produce span (live, small record batches), per 1k events. */
  cpu: { seconds: number; msPer1kEvents: number };
}

export interface RssSpread {
  minMb: number;
  maxMb: number;
  medianMb: number;
  withinPct: number;
  flat: boolean;
}

/** Spread around the median of the values after the first fifth (warm-up excluded). */
function spread(values: number[]): RssSpread {
  const steady = values.slice(Math.floor(values.length / 5));
  const sorted = [...steady].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const min = sorted[0] ?? 0;
  const max = sorted[sorted.length - 1] ?? 0;
  const withinPct = median > 0 ? (Math.max(max - median, median - min) / median) * 100 : 0;
  return {
    minMb: min,
    maxMb: max,
    medianMb: median,
    withinPct: Math.round(withinPct * 10) / 10,
    flat: withinPct <= 10,
  };
}

export async function sustainedRun(
  name: SystemName,
  ctx: SystemContext,
  stack: StackPids,
  producer: Producer,
  opts: RateRunOptions,
  onSample: (s: SustainedSample) => void,
): Promise<SustainedResult> {
  const system = await launch(name, ctx);
  const source = new EventSource('sus-', opts.dupShare, opts.eventSize, 13);
  const samples: SustainedSample[] = [];
  let error: string | undefined;
  let stopSampling = false;
  let cpuStart = 0;
  let cpuUsed = 0;
  try {
    await system.begin();
    await warmUp(ctx, producer, opts.partitions, 120_000);
    const warm = await rowCount(ctx.ch, ctx.table);
    const started = Date.now();
    cpuStart = ownPids(name, system, stack).reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const sampling = (async () => {
      while (!stopSampling) {
        await sleep(5_000);
        const rows = (await rowCount(ctx.ch, ctx.table)) - warm;
        const expectedNow = rowsFor(name, source);
        const pids = ownPids(name, system, stack);
        const rss = pids.reduce((sum, pid) => sum + statusBytes(pid, 'VmRSS'), 0);
        const split = await system.memory?.().catch(() => undefined);
        const sample: SustainedSample = {
          t: Math.round((Date.now() - started) / 1000),
          rssMb: mb(rss),
          lag: Math.max(0, expectedNow - rows),
          produced: source.produced,
          rows,
          ...(split && {
            heapMb: mb(split.heapUsed),
            heapTotalMb: mb(split.heapTotal),
            externalMb: mb(split.external),
            dedupMb: mb(split.dedup),
            dedupKeys: split.dedupKeys,
            rssExDedupMb: mb(rss - split.dedup),
          }),
        };
        samples.push(sample);
        onSample(sample);
      }
    })();
    await produceForRun(producer, ctx, opts, source);
    stopSampling = true;
    await sampling;
    await waitForRows(ctx, warm + rowsFor(name, source), 120_000);
    cpuUsed =
      ownPids(name, system, stack).reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpuStart;
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    stopSampling = true;
    await system.stop();
  }
  const q = await latencyQuantiles(ctx.ch, ctx.table, 'sus-');
  const exDedup = samples.flatMap((s) => (s.rssExDedupMb === undefined ? [] : [s.rssExDedupMb]));
  const last = samples[samples.length - 1];
  const lags = samples.map((s) => s.lag);
  const half = Math.floor(lags.length / 2);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    system: name,
    ok: error === undefined,
    error,
    rate: opts.rate,
    seconds: opts.seconds,
    samples,
    rss: spread(samples.map((s) => s.rssMb)),
    ...(exDedup.length === samples.length && samples.length > 0 && { rssExDedup: spread(exDedup) }),
    ...(last?.dedupKeys && {
      dedup: {
        keys: last.dedupKeys,
        mb: last.dedupMb ?? 0,
        bytesPerKey: Math.round((((last.dedupMb ?? 0) * 1024 * 1024) / last.dedupKeys) * 10) / 10,
      },
    }),
    lag: {
      maxEvents: Math.max(0, ...lags),
      lastEvents: lags[lags.length - 1] ?? 0,
      // Growing: the second half's mean lag is well above the first half's and above 2 s of input.
      growing: avg(lags.slice(half)) > 2 * avg(lags.slice(0, half)) + 2 * opts.rate,
    },
    latency: { p50Ms: q.p50Ms, p99Ms: q.p99Ms },
    cpu: {
      seconds: Math.round(cpuUsed * 100) / 100,
      msPer1kEvents: Math.round((cpuUsed / Math.max(1, source.produced)) * 1e6 * 100) / 100,
    },
  };
}
