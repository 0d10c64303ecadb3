/**
 * What the bench measures of processes it did not write: CPU seconds and RSS read from /proc of
 * PIDs it knows (its own children, or the stack's recorded servers), and row counts, timings and
 * latencies read back from ClickHouse.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';

const TICKS_PER_SECOND = 100;

/** utime + stime of a live process, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

/** utime and stime apart (system time: syscalls such as Redis's AOF writes and fsyncs). */
export function cpuSplit(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name, utime and stime are fields 14 and 15 (indexes 11 and 12).
    return {
      user: Number(fields[11]) / TICKS_PER_SECOND,
      system: Number(fields[12]) / TICKS_PER_SECOND,
    };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM); 0 once the process is gone. */
export function statusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface Load {
  loadavg1: number;
  loadavg5: number;
  cores: number;
}

export function currentLoad(): Load {
  const [one = 0, five = 0] = loadavg();
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 0;
  return { loadavg1: one, loadavg5: five, cores };
}

/**
 * Samples RSS of a set of processes every `everyMs` and keeps the peak of their sum, and their
 * CPU time between start() and stop(). `group` names what the numbers are attributed to.
 */
export class ProcessSampler {
  private timer: NodeJS.Timeout | undefined;
  private cpuStart = 0;
  private cpuEnd: number | undefined;
  peakRss = 0;
  readonly series: { t: number; rss: number }[] = [];
  private startedAt = 0;

  constructor(
    private readonly pids: () => number[],
    private readonly everyMs = 250,
    private readonly keepSeries = false,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    this.cpuStart = this.cpu();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** Safe to call twice; the first call fixes the CPU figure. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    this.cpuEnd ??= this.cpu();
  }

  get cpuSeconds(): number {
    return (this.cpuEnd ?? this.cpu()) - this.cpuStart;
  }

  private cpu(): number {
    return this.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  }

  private sample(): void {
    const rss = this.pids().reduce((sum, pid) => sum + statusBytes(pid, 'VmRSS'), 0);
    if (rss > this.peakRss) this.peakRss = rss;
    if (this.keepSeries) this.series.push({ t: (Date.now() - this.startedAt) / 1000, rss });
  }
}

export async function chQuery<T>(ch: ClickHouseClient, query: string): Promise<T[]> {
  const result = await ch.query({ query, format: 'JSONEachRow' });
  return result.json<T>();
}

export async function rowCount(ch: ClickHouseClient, table: string): Promise<number> {
  const [row] = await chQuery<{ n: string }>(ch, `SELECT count() AS n FROM ${table}`);
  return Number(row?.n ?? 0);
}

export interface TableSummary {
  rows: number;
  distinctIds: number;
  /** Seconds between the first and the last row's insert time. */
  spanSeconds: number;
  /** Rows of the first insert (same insert time): they arrived before the span started. */
  firstRows: number;
  firstInsertMs: number;
  lastInsertMs: number;
}

export async function tableSummary(
  ch: ClickHouseClient,
  table: string,
  where = '1',
): Promise<TableSummary> {
  const [row] = await chQuery<Record<string, string>>(
    ch,
    `SELECT count() AS rows, uniqExact(event_id) AS ids,
            toUnixTimestamp64Milli(min(inserted_at)) AS first,
            toUnixTimestamp64Milli(max(inserted_at)) AS last,
            countIf(inserted_at = (SELECT min(inserted_at) FROM ${table} WHERE ${where})) AS first_rows
       FROM ${table} WHERE ${where}`,
  );
  const first = Number(row?.first ?? 0);
  const last = Number(row?.last ?? 0);
  return {
    rows: Number(row?.rows ?? 0),
    distinctIds: Number(row?.ids ?? 0),
    spanSeconds: (last - first) / 1000,
    firstRows: Number(row?.first_rows ?? 0),
    firstInsertMs: first,
    lastInsertMs: last,
  };
}

/** Event time to insert time, over each event_id's first row (a duplicate is not a new event). */
export async function latencyQuantiles(
  ch: ClickHouseClient,
  table: string,
  idPrefix: string,
): Promise<{ p50Ms: number; p99Ms: number; maxMs: number; rows: number }> {
  const [row] = await chQuery<Record<string, string>>(
    ch,
    `SELECT quantileExact(0.5)(d) AS p50, quantileExact(0.99)(d) AS p99, max(d) AS mx, count() AS n
       FROM (SELECT toUnixTimestamp64Milli(min(inserted_at)) - toUnixTimestamp64Milli(any(ts)) AS d
               FROM ${table} WHERE startsWith(event_id, '${idPrefix}') GROUP BY event_id)`,
  );
  return {
    p50Ms: Number(row?.p50 ?? 0),
    p99Ms: Number(row?.p99 ?? 0),
    maxMs: Number(row?.mx ?? 0),
    rows: Number(row?.n ?? 0),
  };
}

/** One Redis command's share of a run: the delta of its `INFO commandstats` line. */
export interface RedisCommandCost {
  command: string;
  calls: number;
  usec: number;
}

/** Per-command totals from `INFO commandstats` (cmdstat_<name>:calls=..,usec=..,...). */
export function parseCommandStats(info: string): Map<string, { calls: number; usec: number }> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const match of info.matchAll(/^cmdstat_(\S+?):calls=(\d+),usec=(\d+)/gm)) {
    stats.set(match[1] as string, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  // Bytes read from and written to clients (replies, no AOF): the work no command line shows.
  for (const match of info.matchAll(/^total_net_(input|output)_bytes:(\d+)/gm)) {
    stats.set(`net_${match[1]}_bytes`, { calls: Number(match[2]), usec: 0 });
  }
  return stats;
}

/**
 * Redis's own time per command over a system's run, from `INFO commandstats` before and after,
 * most expensive first. The script commands (evalsha) include the commands the script calls,
 * and those are counted under their own names too: the lines overlap, do not add them up.
 */
export class RedisCommandSampler {
  private before = new Map<string, { calls: number; usec: number }>();

  constructor(private readonly url: string) {}

  async start(): Promise<void> {
    this.before = await this.read();
  }

  async stop(): Promise<RedisCommandCost[]> {
    const after = await this.read();
    const costs: RedisCommandCost[] = [];
    for (const [command, { calls, usec }] of after) {
      const was = this.before.get(command) ?? { calls: 0, usec: 0 };
      if (calls > was.calls)
        costs.push({ command, calls: calls - was.calls, usec: usec - was.usec });
    }
    // net_input_bytes / net_output_bytes carry their byte count as `calls`, and sort last.
    return costs.sort((a, b) => b.usec - a.usec);
  }

  private async read(): Promise<Map<string, { calls: number; usec: number }>> {
    const redis = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    try {
      await redis.connect();
      return parseCommandStats(`${await redis.info('commandstats')}\n${await redis.info('stats')}`);
    } finally {
      redis.disconnect();
    }
  }
}

/** `evalsha 2.10 s/3.2k, hset 1.40 s/1.6k, ..., in 95 MB, out 101 MB`: one terminal line. */
export function formatCommandCosts(costs: readonly RedisCommandCost[], top = 6): string {
  const count = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n));
  const net = (name: string) =>
    `${((costs.find((c) => c.command === `net_${name}_bytes`)?.calls ?? 0) / 1e6).toFixed(0)} MB`;
  const commands = costs.filter((c) => !c.command.startsWith('net_')).slice(0, top);
  return [
    ...commands.map((c) => `${c.command} ${(c.usec / 1e6).toFixed(2)} s/${count(c.calls)}`),
    `in ${net('input')}, out ${net('output')}`,
  ].join(', ');
}

/** MEMORY USAGE summed over the keys matching `pattern`, and how many there were. */
export async function redisKeysMemory(
  url: string,
  pattern: string,
): Promise<{ keys: number; bytes: number }> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    let cursor = '0';
    let keys = 0;
    let bytes = 0;
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of found) {
        keys += 1;
        bytes += Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
      }
    } while (cursor !== '0');
    return { keys, bytes };
  } finally {
    redis.disconnect();
  }
}
