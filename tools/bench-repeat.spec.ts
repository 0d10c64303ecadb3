import { medianResults, spreadOf, summarize } from './bench-repeat';
import type { ThroughputResult } from './bench-run';
import type { SystemName } from './bench-systems';

function result(system: SystemName, eventsPerSec: number, cpuSeconds: number): ThroughputResult {
  return {
    system,
    ok: true,
    eventsPerSec,
    eventsPerSecLast90: eventsPerSec,
    spanSeconds: 1,
    firstInsertRows: 0,
    wallSeconds: 1,
    rows: 900,
    distinctIds: 900,
    expectedRows: 900,
    expectedDistinct: 900,
    duplicateRows: 0,
    lostIds: 0,
    cpuSeconds,
    clickhouseCpuSeconds: 1,
    redisCpuSeconds: 2,
    peakRssMb: 100,
    redisCommands: [],
    redisCpuSplit: { user: 1.5, system: 0.5 },
    processCpuSeconds: [cpuSeconds],
    extras: {},
  };
}

describe('spreadOf', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(spreadOf([3, 1, 2])).toMatchObject({ median: 2, min: 1, max: 3 });
    expect(spreadOf([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4 });
    expect(spreadOf([5])).toMatchObject({ median: 5, min: 5, max: 5 });
  });
});

describe('medianResults', () => {
  const runs = [
    result('sluice', 100_000, 15),
    result('naive', 120_000, 8),
    result('sluice', 90_000, 16),
    result('naive', 125_000, 7),
    result('sluice', 110_000, 14),
    result('naive', 118_000, 9),
  ];

  it('reports each system by its medians and keeps the order of the systems', () => {
    const [sluice, naive] = medianResults(runs, ['sluice', 'naive']);
    expect(sluice).toMatchObject({ system: 'sluice', eventsPerSec: 100_000, cpuSeconds: 15 });
    expect(naive).toMatchObject({ system: 'naive', eventsPerSec: 120_000, cpuSeconds: 8 });
    expect(summarize(runs, ['sluice'])[0]?.eventsPerSec).toMatchObject({
      min: 90_000,
      max: 110_000,
    });
  });

  it('shows a duplicate or a loss of any run, and is ok only if every run was', () => {
    const bad = { ...result('sluice', 95_000, 15), ok: false, duplicateRows: 3, lostIds: 1 };
    const [sluice] = medianResults([...runs, bad], ['sluice']);
    expect(sluice).toMatchObject({ ok: false, duplicateRows: 3, lostIds: 1 });
  });

  it('leaves out a system that has no run', () => {
    expect(medianResults(runs, ['kafka-engine', 'naive']).map((r) => r.system)).toEqual(['naive']);
  });
});
