/**
 * `npm run bench -- --find-max-sustained`: for each system, a search over offered rates
 * (bench-search.ts), each probe a sustained run held for `--search-hold` (60 s by default) into a
 * fresh topic and table. Reports each system's highest rate with bounded lag and p99 under the
 * limit (`maxSustainedEventsPerSec`), its own CPU per 1k live events at that rate
 * (`cpuMsPer1kLive`), Redis's and ClickHouse's, and every probe.
 */
import type { SustainedResult } from './bench-rate';
import {
  judgeProbe,
  maxSustained,
  nextRate,
  record,
  type ProbeVerdict,
  type SearchOptions,
  type SearchState,
} from './bench-search';
import type { SystemName } from './bench-systems';

export interface Probe {
  rate: number;
  pass: boolean;
  reasons: string[];
  lagAtThird: number;
  lagAtEnd: number;
  lagMax: number;
  p50Ms: number;
  p99Ms: number;
  achievedRate: number;
  cpuMsPer1kLive: number;
  redisMsPer1kLive: number;
  clickhouseMsPer1kLive: number;
  rssMaxMb: number;
}

export interface MaxSustained {
  system: SystemName;
  maxSustainedEventsPerSec: number;
  /** At the max sustained rate (the probe that passed); null if no probe passed. */
  cpuMsPer1kLive: number | null;
  redisMsPer1kLive: number | null;
  clickhouseMsPer1kLive: number | null;
  p99MsAtMax: number | null;
  probes: Probe[];
}

export function probeOf(result: SustainedResult, holdSeconds: number): Probe {
  const verdict: ProbeVerdict = judgeProbe({
    rate: result.rate,
    holdSeconds,
    lag: result.samples.map((s) => ({ t: s.t, events: s.lag })),
    p99Ms: result.latency.p99Ms,
    producerAtRate: result.producer.atRate,
    inputLost: result.inputLost === true,
    error: result.inputLost ? undefined : result.error,
  });
  return {
    rate: result.rate,
    pass: verdict.pass,
    reasons: verdict.reasons,
    lagAtThird: verdict.lagAtThird,
    lagAtEnd: verdict.lagAtEnd,
    lagMax: result.lag.maxEvents,
    p50Ms: result.latency.p50Ms,
    p99Ms: result.latency.p99Ms,
    achievedRate: result.producer.achievedRate,
    cpuMsPer1kLive: result.cpu.msPer1kEvents,
    redisMsPer1kLive: result.cpu.redisMsPer1kEvents,
    clickhouseMsPer1kLive: result.cpu.clickhouseMsPer1kEvents,
    rssMaxMb: result.rss.maxMb,
  };
}

/**
 * Runs the searches of all systems in lockstep: one probe of each system in turn, then the next
 * round, so that every system's probes meet the same background load on this shared machine
 * (searched one after the other, one system's probes could all run at load 3 and the other's at
 * load 15). `probe` runs one sustained run of a system at a rate.
 */
export async function searchSystems(
  systems: SystemName[],
  opts: SearchOptions,
  holdSeconds: number,
  probe: (system: SystemName, rate: number) => Promise<SustainedResult>,
  log: (line: string) => void,
): Promise<MaxSustained[]> {
  const searches = systems.map((system) => {
    const state: SearchState = { probes: [] };
    const probes: Probe[] = [];
    return { system, state, probes };
  });
  for (;;) {
    const round = searches.flatMap((search) => {
      const rate = nextRate(search.state, opts);
      return rate === undefined ? [] : [{ search, rate }];
    });
    if (round.length === 0) break;
    for (const { search, rate } of round) {
      log(
        `Probe ${search.probes.length + 1}: ${search.system} at ${rate.toLocaleString()} events/s for ${holdSeconds} s`,
      );
      const p = probeOf(await probe(search.system, rate), holdSeconds);
      search.probes.push(p);
      search.state = record(search.state, rate, p.pass);
      log(
        `\n  ${p.pass ? 'PASS' : 'FAIL'}: lag ${p.lagAtThird.toLocaleString()} at 1/3, ${p.lagAtEnd.toLocaleString()} at the end (max ${p.lagMax.toLocaleString()}); p50 ${p.p50Ms} ms p99 ${p.p99Ms} ms; producer ${p.achievedRate.toLocaleString()}/s; CPU ${p.cpuMsPer1kLive} ms per 1k events (Redis ${p.redisMsPer1kLive}, CH ${p.clickhouseMsPer1kLive})${p.reasons.length > 0 ? `; ${p.reasons.join('; ')}` : ''}`,
      );
    }
  }
  return searches.map(({ system, state, probes }) => {
    const max = maxSustained(state);
    const atMax = probes.find((p) => p.pass && p.rate === max);
    return {
      system,
      maxSustainedEventsPerSec: max,
      cpuMsPer1kLive: atMax?.cpuMsPer1kLive ?? null,
      redisMsPer1kLive: atMax?.redisMsPer1kLive ?? null,
      clickhouseMsPer1kLive: atMax?.clickhouseMsPer1kLive ?? null,
      p99MsAtMax: atMax?.p99Ms ?? null,
      probes,
    };
  });
}

export interface MaxTargets {
  /** Sluice's max sustained rate >= the naive consumer's. */
  sustainedVsNaive: boolean | null;
  sustainedRatio: number | null;
  /**
   * Sluice's own CPU per live event over naive's, at the highest rate both passed, else the
   * highest both were probed at (cost per event falls with the rate as batches grow, so each at
   * its own max would not compare like with like).
   */
  cpuRatioRate: number | null;
  cpuRatio: number | null;
  cpuWithin1_5x: boolean | null;
}

export function maxTargets(results: MaxSustained[]): MaxTargets {
  const sluice = results.find((r) => r.system === 'sluice');
  const naive = results.find((r) => r.system === 'naive');
  const none = {
    sustainedVsNaive: null,
    sustainedRatio: null,
    cpuRatioRate: null,
    cpuRatio: null,
    cpuWithin1_5x: null,
  };
  if (!sluice || !naive) return none;
  const round2 = (n: number) => Math.round(n * 100) / 100;
  // The highest rate both passed; failing that, the highest both were probed at.
  const both = (pass: boolean) =>
    sluice.probes
      .filter(
        (s) =>
          (!pass || s.pass) && naive.probes.some((n) => n.rate === s.rate && (!pass || n.pass)),
      )
      .sort((a, b) => b.rate - a.rate)[0];
  const common = both(true) ?? both(false);
  const naiveAt = common && naive.probes.find((n) => n.rate === common.rate);
  const cpuRatio =
    common && naiveAt && naiveAt.cpuMsPer1kLive > 0
      ? round2(common.cpuMsPer1kLive / naiveAt.cpuMsPer1kLive)
      : null;
  return {
    sustainedVsNaive: sluice.maxSustainedEventsPerSec >= naive.maxSustainedEventsPerSec,
    sustainedRatio:
      naive.maxSustainedEventsPerSec > 0
        ? round2(sluice.maxSustainedEventsPerSec / naive.maxSustainedEventsPerSec)
        : null,
    cpuRatioRate: common?.rate ?? null,
    cpuRatio,
    cpuWithin1_5x: cpuRatio === null ? null : cpuRatio <= 1.5,
  };
}

const fmt = (n: number | null) => (n === null ? '-' : n.toLocaleString('en-US'));

export function maxSustainedTable(results: MaxSustained[]): string {
  const head = [
    'system',
    'max sustained ev/s',
    'p99 ms at max',
    'CPU ms/1k live',
    'Redis ms/1k',
    'CH ms/1k',
    'probes (rate: pass/FAIL)',
  ];
  const rows = results.map((r) => [
    r.system,
    fmt(r.maxSustainedEventsPerSec),
    fmt(r.p99MsAtMax),
    fmt(r.cpuMsPer1kLive),
    fmt(r.redisMsPer1kLive),
    fmt(r.clickhouseMsPer1kLive),
    r.probes.map((p) => `${p.rate / 1000}k ${p.pass ? 'pass' : 'FAIL'}`).join(', '),
  ]);
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) =>
        i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0),
      )
      .join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
