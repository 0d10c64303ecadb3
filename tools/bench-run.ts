/**
 * One system through the throughput phase over a pre-produced topic, and what every phase shares
 * (bench-rate.ts has the fixed-rate phases). Each phase gets its own table and a freshly launched
 * system, and stops what it launched whatever happens.
 */
import {
  chQuery,
  cpuSplit,
  ProcessSampler,
  type RedisCommandCost,
  RedisCommandSampler,
  redisKeysMemory,
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
  /**
   * events/s over the last 90% of the rows (from the insert time by which 10% were visible to the
   * last): the first insert is often a small early batch whose distance to the bulk varies from
   * run to run, which moves `eventsPerSec` of a 300k run by 2-4x; this one does not depend on it.
   */
  eventsPerSecLast90: number;
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

const SETTLE_MS = 3_000;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

export function ownPids(name: SystemName, system: RunningSystem, stack: StackPids): number[] {
  return name === 'kafka-engine' ? [stack.clickhouse] : system.pids;
}

/** Polls count() until `expected` rows are there, then once more after SETTLE_MS for extras. */
export async function waitForRows(
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

/** Seconds from the insert time by which 10% of the rows were visible to the last insert. */
async function last90Seconds(ctx: SystemContext): Promise<number> {
  const [row] = await chQuery<{ p10: string; last: string }>(
    ctx.ch,
    `SELECT quantileExact(0.1)(toUnixTimestamp64Milli(inserted_at)) AS p10,
            max(toUnixTimestamp64Milli(inserted_at)) AS last FROM ${ctx.table}`,
  );
  return (Number(row?.last ?? 0) - Number(row?.p10 ?? 0)) / 1000;
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
  const last90 = await last90Seconds(ctx);
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
    eventsPerSecLast90: last90 > 0 ? Math.round((expected.messages * 0.9) / last90) : 0,
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
