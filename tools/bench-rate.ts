/**
 * The fixed-rate phases: end-to-end latency at a fixed rate, and the sustained run sampling RSS
 * and lag. The bench's producer sends pre-built bodies (bench-feed.ts) and reports what it
 * achieved: a run whose producer fell below AT_RATE_SHARE of the asked events measured a lighter
 * load than asked, so its latency is not the latency at that rate.
 */
import { EventSource } from './bench-data';
import { KeepUpWatch, RetentionProbe, SourceLossWatch } from './bench-guard';
import { EventFeed, produceAtRate, type RateSender, type RateStats } from './bench-feed';
import {
  cpuSeconds,
  latencyQuantiles,
  type RedisCommandCost,
  RedisCommandSampler,
  rowCount,
  statusBytes,
  tableSummary,
} from './bench-measure';
import { mb, ownPids, sleep, waitForRows, type StackPids } from './bench-run';
import { DEDUPS, launch, type SystemContext, type SystemName } from './bench-systems';

/** Below this share of the asked events a run is flagged as not at the asked rate. */
export const AT_RATE_SHARE = 0.95;
/** A sustained run builds this many seconds of bodies at a time (a latency run: all of them). */
const SUSTAINED_BLOCK_S = 10;

/** What the bench's own producer managed, and what it cost (this process's CPU while sending). */
export interface ProducerFigures {
  askedEvents: number;
  events: number;
  /** Events sent per second of the timed phase. */
  achievedRate: number;
  /** events / askedEvents >= AT_RATE_SHARE. */
  atRate: boolean;
  cpuSeconds: number;
  msPer1kEvents: number;
}

export function producerFigures(stats: RateStats): ProducerFigures {
  const round2 = (n: number) => Math.round(n * 100) / 100;
  return {
    askedEvents: stats.asked,
    events: stats.sent,
    achievedRate: stats.seconds > 0 ? Math.round(stats.sent / stats.seconds) : 0,
    atRate: stats.sent >= AT_RATE_SHARE * stats.asked,
    cpuSeconds: round2(stats.cpuSeconds),
    msPer1kEvents: round2((stats.cpuSeconds / Math.max(1, stats.sent)) * 1e6),
  };
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
  /** The bench producer's achieved rate and CPU: p50/p99 mean "at `rate`" only if `atRate`. */
  producer: ProducerFigures;
  /** Rows of the run's events (marker rows excluded), distinct ids, and what is wrong with them. */
  rows: number;
  distinctIds: number;
  duplicateRows: number;
  lostIds: number;
  /**
   * The system's own CPU from the first timed event to the last row visible, per 1k events; per
   * own process (launch order), and Redis's and ClickHouse's over the same span (the Kafka
   * engine's own CPU is ClickHouse's).
   */
  cpu: {
    seconds: number;
    msPer1kEvents: number;
    processMsPer1kEvents: number[];
    redisMsPer1kEvents: number;
    clickhouseMsPer1kEvents: number;
  };
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

/** Sends marker events until the first one is visible: the system is consuming from then on. */
async function warmUp(
  ctx: SystemContext,
  sender: RateSender,
  partitions: number,
  timeoutMs: number,
): Promise<void> {
  const feed = new EventFeed(new EventSource('warm-', 0, 150), 0);
  const deadline = Date.now() + timeoutMs;
  while ((await rowCount(ctx.ch, ctx.table)) === 0) {
    if (Date.now() > deadline) throw new Error(`no row visible ${timeoutMs} ms after start`);
    await produceAtRate(sender, partitions, feed, 20, 500);
  }
}

/** A run that produces at a fixed rate for a while (latency, sustained). */
export interface RateRunOptions {
  partitions: number;
  rate: number;
  seconds: number;
  dupShare: number;
  eventSize: number;
  /** Latency runs give up when the rows fall this many seconds of input behind (KeepUpWatch). */
  giveUpS?: number;
}

function produceForRun(
  sender: RateSender,
  ctx: SystemContext,
  opts: RateRunOptions,
  feed: EventFeed,
  stop?: () => boolean,
): Promise<RateStats> {
  return produceAtRate(sender, opts.partitions, feed, opts.rate, opts.seconds * 1000, stop);
}

/** Polls the rows while the producer runs; a guard's message ends the production. */
function watchRows(
  ctx: SystemContext,
  warm: number,
  everyMs: number,
  check: (rows: number) => Promise<string | undefined> | string | undefined,
) {
  const state = { error: undefined as string | undefined, done: false };
  const loop = (async () => {
    while (!state.done && state.error === undefined) {
      await sleep(everyMs);
      if (state.done) break;
      // A failed poll is skipped: this loop is awaited only at the end, so it must not reject.
      const rows = await rowCount(ctx.ch, ctx.table).catch(() => undefined);
      if (rows !== undefined) state.error = await check(rows - warm);
    }
  })();
  return {
    stopped: () => state.error !== undefined,
    error: () => state.error,
    finish: async () => {
      state.done = true;
      await loop;
    },
  };
}

/** The rows the events sent should leave in the table: unique events where the system dedups. */
function rowsFor(name: SystemName, feed: EventFeed): number {
  return DEDUPS[name] ? feed.unique : feed.produced;
}

export async function latencyRun(
  name: SystemName,
  ctx: SystemContext,
  stack: StackPids,
  sender: RateSender,
  opts: RateRunOptions,
  timeoutMs: number,
): Promise<LatencyResult> {
  const system = await launch(name, ctx);
  const source = new EventSource('lat-', opts.dupShare, opts.eventSize, 11);
  const feed = new EventFeed(source, opts.rate * opts.seconds + 1);
  let stats: RateStats = { sent: 0, asked: opts.rate * opts.seconds, seconds: 0, cpuSeconds: 0 };
  // CPU seconds of each own process (split Sluice: consumer, owner+writer), then Redis and
  // ClickHouse: which one saturates first at this rate.
  const pids = () => [...ownPids(name, system, stack), stack.redis, stack.clickhouse];
  const cpuNow = () => pids().map(cpuSeconds);
  let error: string | undefined;
  let cpuDelta: number[] = [];
  try {
    await system.begin();
    await warmUp(ctx, sender, opts.partitions, 120_000);
    const warm = await rowCount(ctx.ch, ctx.table);
    feed.prepare(); // every body of the run, before the clock starts
    const cpuStart = cpuNow();
    const keepUp = new KeepUpWatch(opts.rate, opts.giveUpS ?? 30);
    const rowsPerEvent = () => rowsFor(name, feed) / Math.max(1, feed.produced);
    const watch = watchRows(ctx, warm, 2_000, (rows) =>
      keepUp.producing(rowsFor(name, feed), rows, rowsPerEvent()),
    );
    try {
      stats = await produceForRun(sender, ctx, opts, feed, watch.stopped);
    } finally {
      // Also when producing failed: the row poll must not go on into later systems' runs.
      await watch.finish();
    }
    const gaveUp = watch.error();
    if (gaveUp !== undefined) throw new Error(gaveUp);
    // CPU is read when the rows are there, before the settle pause of waitForRows.
    const target = warm + rowsFor(name, feed);
    const draining = (rows: number) => {
      const stalled = keepUp.draining(target - warm, rows - warm, Date.now());
      if (stalled !== undefined) throw new Error(stalled);
    };
    await waitForRows(ctx, target, timeoutMs, draining, () => {
      cpuDelta = cpuNow().map((now, i) => now - (cpuStart[i] ?? 0));
    });
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    await system.stop();
  }
  const q = await latencyQuantiles(ctx.ch, ctx.table, 'lat-');
  const summary = await tableSummary(ctx.ch, ctx.table, "startsWith(event_id, 'lat-')");
  const duplicateRows = summary.rows - summary.distinctIds;
  const lostIds = feed.unique - summary.distinctIds;
  const exact = !DEDUPS[name] || duplicateRows === 0;
  const own = cpuDelta.slice(0, -2);
  const cpuUsed = own.reduce((a, b) => a + b, 0);
  const per1k = (sec: number) => Math.round((sec / Math.max(1, feed.produced)) * 1e6 * 100) / 100;
  return {
    system: name,
    ok: error === undefined && lostIds === 0 && exact,
    rows: summary.rows,
    distinctIds: summary.distinctIds,
    duplicateRows,
    lostIds,
    cpu: {
      seconds: Math.round(cpuUsed * 100) / 100,
      msPer1kEvents: per1k(cpuUsed),
      processMsPer1kEvents: own.map(per1k),
      redisMsPer1kEvents: per1k(cpuDelta.at(-2) ?? 0),
      clickhouseMsPer1kEvents: per1k(cpuDelta.at(-1) ?? 0),
    },
    error,
    rate: opts.rate,
    seconds: opts.seconds,
    p50Ms: q.p50Ms,
    p99Ms: q.p99Ms,
    maxMs: q.maxMs,
    events: feed.produced,
    producer: producerFigures(stats),
  };
}

export interface SustainedResult {
  system: SystemName;
  ok: boolean;
  error?: string;
  /** The run stopped early: events were dropped by the broker before the system read them. */
  inputLost?: boolean;
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
  /**
   * The system's own CPU from the first timed event to the last row visible (live, small record
   * batches), per 1k events; Redis's and ClickHouse's over the same span.
   */
  cpu: {
    seconds: number;
    msPer1kEvents: number;
    redisMsPer1kEvents: number;
    clickhouseMsPer1kEvents: number;
  };
  /** Redis time and calls per command over the run (INFO commandstats delta), most first. */
  redisCommands?: RedisCommandCost[];
  /** The run's rows (warm-up markers excluded): what is wrong with them, once all arrived. */
  duplicateRows?: number;
  lostIds?: number;
  producer: ProducerFigures;
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
  sender: RateSender,
  opts: RateRunOptions,
  onSample: (s: SustainedSample) => void,
): Promise<SustainedResult> {
  const system = await launch(name, ctx);
  const source = new EventSource('sus-', opts.dupShare, opts.eventSize, 13);
  const feed = new EventFeed(source, opts.rate * SUSTAINED_BLOCK_S);
  let stats: RateStats = { sent: 0, asked: opts.rate * opts.seconds, seconds: 0, cpuSeconds: 0 };
  const samples: SustainedSample[] = [];
  let error: string | undefined;
  let stopSampling = false;
  // Own processes summed, then Redis, then ClickHouse.
  const cpuNow = () => [
    ownPids(name, system, stack).reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    cpuSeconds(stack.redis),
    cpuSeconds(stack.clickhouse),
  ];
  let cpuStart = [0, 0, 0];
  let cpuUsed = [0, 0, 0];
  // A probe of --find-max-sustained gives up once this far behind (the lag rule has failed it).
  const keepUp = opts.giveUpS === undefined ? undefined : new KeepUpWatch(opts.rate, opts.giveUpS);
  let gaveUp: string | undefined;
  let drained = false;
  const commands = new RedisCommandSampler(ctx.env.REDIS_URL);
  let redisCommands: RedisCommandCost[] | undefined;
  const retention = new RetentionProbe(ctx.env.KAFKA_BROKERS.split(','), ctx.topic);
  const loss = new SourceLossWatch();
  let lost: string | undefined;
  try {
    await system.begin();
    await warmUp(ctx, sender, opts.partitions, 120_000);
    const warm = await rowCount(ctx.ch, ctx.table);
    feed.prepare();
    const started = Date.now();
    cpuStart = cpuNow();
    await commands.start();
    const sampling = (async () => {
      while (!stopSampling) {
        await sleep(5_000);
        const rows = (await rowCount(ctx.ch, ctx.table)) - warm;
        const expectedNow = rowsFor(name, feed);
        const pids = ownPids(name, system, stack);
        const rss = pids.reduce((sum, pid) => sum + statusBytes(pid, 'VmRSS'), 0);
        const split = await system.memory?.().catch(() => undefined);
        const sample: SustainedSample = {
          t: Math.round((Date.now() - started) / 1000),
          rssMb: mb(rss),
          lag: Math.max(0, expectedNow - rows),
          produced: feed.produced,
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
        // Sluice counts resets itself; the others are judged by their lag (non-dedup: rows are
        // events). Either way the run stops: its numbers would describe a lighter load.
        const held = await retention.read().catch(() => undefined);
        const resets = system.memory && {
          resets: split?.sourceResets ?? 0,
          skippedOffsets: split?.sourceSkipped ?? 0,
        };
        lost ??= loss.check(sample.lag, held, resets);
        gaveUp ??= keepUp?.producing(expectedNow, rows, expectedNow / Math.max(1, feed.produced));
        if (lost !== undefined || gaveUp !== undefined) stopSampling = true;
      }
    })();
    stats = await produceForRun(
      sender,
      ctx,
      opts,
      feed,
      () => lost !== undefined || gaveUp !== undefined,
    );
    stopSampling = true;
    await sampling;
    if (lost !== undefined) throw new Error(lost);
    if (gaveUp !== undefined) throw new Error(gaveUp);
    // CPU is read when the rows are there, before the settle pause of waitForRows.
    await waitForRows(ctx, warm + rowsFor(name, feed), 120_000, undefined, () => {
      cpuUsed = cpuNow().map((now, i) => now - (cpuStart[i] ?? 0));
    });
    drained = true;
    redisCommands = await commands.stop();
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    stopSampling = true;
    await retention.close();
    await system.stop();
  }
  const q = await latencyQuantiles(ctx.ch, ctx.table, 'sus-');
  const summary = drained
    ? await tableSummary(ctx.ch, ctx.table, "startsWith(event_id, 'sus-')")
    : undefined;
  const duplicateRows = summary && summary.rows - summary.distinctIds;
  const lostIds = summary && feed.unique - summary.distinctIds;
  if (error === undefined && (lostIds !== 0 || (DEDUPS[name] && duplicateRows !== 0)))
    error = `rows not exact: ${lostIds} lost ids, ${duplicateRows} duplicate rows`;
  const per1k = (sec: number) => Math.round((sec / Math.max(1, feed.produced)) * 1e6 * 100) / 100;
  const exDedup = samples.flatMap((s) => (s.rssExDedupMb === undefined ? [] : [s.rssExDedupMb]));
  const last = samples[samples.length - 1];
  const lags = samples.map((s) => s.lag);
  const half = Math.floor(lags.length / 2);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return {
    system: name,
    ok: error === undefined,
    error,
    ...(lost !== undefined && { inputLost: true }),
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
      seconds: Math.round((cpuUsed[0] ?? 0) * 100) / 100,
      msPer1kEvents: per1k(cpuUsed[0] ?? 0),
      redisMsPer1kEvents: per1k(cpuUsed[1] ?? 0),
      clickhouseMsPer1kEvents: per1k(cpuUsed[2] ?? 0),
    },
    ...(summary && { duplicateRows, lostIds }),
    ...(redisCommands && { redisCommands }),
    producer: producerFigures(stats),
  };
}
