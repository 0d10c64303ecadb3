/**
 * `--repeat N`: the throughput phase runs every system N times, alternated (a, b, a, b, ...), so
 * that a slow minute of the shared machine hits both sides. events/s of one build varies about
 * ±8% run to run here; a single pass cannot tell a 5% change from noise. Each system is then
 * reported by its medians (what the ratios and the table use) and the min..max of its runs.
 */
import type { ThroughputResult } from './bench-run';
import type { SystemName } from './bench-systems';

export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

export interface RepeatSummary {
  system: SystemName;
  runs: number;
  eventsPerSec: Spread;
  eventsPerSecLast90: Spread;
  cpuSeconds: Spread;
  redisCpuSeconds: Spread;
  clickhouseCpuSeconds: Spread;
}

/** The median (the mean of the middle two for an even count), min and max. */
export function spreadOf(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const mid = Math.floor(n / 2);
  const median =
    n === 0
      ? 0
      : n % 2 === 1
        ? (sorted[mid] as number)
        : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted[n - 1] ?? 0, values };
}

export function summarize(runs: ThroughputResult[], systems: SystemName[]): RepeatSummary[] {
  return systems.flatMap((system) => {
    const mine = runs.filter((r) => r.system === system);
    if (mine.length === 0) return [];
    const of = (pick: (r: ThroughputResult) => number) => spreadOf(mine.map(pick));
    return [
      {
        system,
        runs: mine.length,
        eventsPerSec: of((r) => r.eventsPerSec),
        eventsPerSecLast90: of((r) => r.eventsPerSecLast90),
        cpuSeconds: of((r) => r.cpuSeconds),
        redisCpuSeconds: of((r) => r.redisCpuSeconds),
        clickhouseCpuSeconds: of((r) => r.clickhouseCpuSeconds),
      },
    ];
  });
}

/**
 * One result per system for the table, the ratios and the targets: the medians of events/s and
 * CPU, the other figures of the run closest to the median events/s, and correctness from the
 * worst run (a duplicate or a loss in any run shows, and `ok` needs every run ok).
 */
export function medianResults(runs: ThroughputResult[], systems: SystemName[]): ThroughputResult[] {
  return summarize(runs, systems).map((s) => {
    const mine = runs.filter((r) => r.system === s.system);
    const closest = mine.reduce((best, r) =>
      Math.abs(r.eventsPerSec - s.eventsPerSec.median) <
      Math.abs(best.eventsPerSec - s.eventsPerSec.median)
        ? r
        : best,
    );
    const worst = (pick: (r: ThroughputResult) => number) => Math.max(...mine.map(pick));
    const error = mine.find((r) => r.error)?.error;
    return {
      ...closest,
      ok: mine.every((r) => r.ok),
      ...(error !== undefined && { error }),
      eventsPerSec: Math.round(s.eventsPerSec.median),
      eventsPerSecLast90: Math.round(s.eventsPerSecLast90.median),
      cpuSeconds: s.cpuSeconds.median,
      redisCpuSeconds: s.redisCpuSeconds.median,
      clickhouseCpuSeconds: s.clickhouseCpuSeconds.median,
      duplicateRows: worst((r) => r.duplicateRows),
      lostIds: worst((r) => r.lostIds),
    };
  });
}

const k = (n: number) => `${(n / 1000).toFixed(1)}k`;
const s1 = (n: number) => n.toFixed(2);

/** Terminal lines: per system, the median and min..max of events/s and of the CPU figures. */
export function repeatLines(summaries: RepeatSummary[]): string[] {
  return summaries.map(
    (s) =>
      `  ${s.system.padEnd(13)} ${s.runs} runs: events/s ${k(s.eventsPerSec.median)} (${k(s.eventsPerSec.min)}..${k(s.eventsPerSec.max)}), ` +
      `last 90% ${k(s.eventsPerSecLast90.median)} (${k(s.eventsPerSecLast90.min)}..${k(s.eventsPerSecLast90.max)}), ` +
      `CPU s ${s1(s.cpuSeconds.median)} (${s1(s.cpuSeconds.min)}..${s1(s.cpuSeconds.max)}), ` +
      `Redis ${s1(s.redisCpuSeconds.median)} (${s1(s.redisCpuSeconds.min)}..${s1(s.redisCpuSeconds.max)}), ` +
      `CH ${s1(s.clickhouseCpuSeconds.median)} (${s1(s.clickhouseCpuSeconds.min)}..${s1(s.clickhouseCpuSeconds.max)})`,
  );
}
