/**
 * Bench output: the terminal table, and hand-written SVG charts (bars for the comparison, lines
 * for the sustained run). Pure string building; the caller writes the files.
 */
import type { MaxSustained } from './bench-max';
import type { LatencyResult, SustainedResult } from './bench-rate';
import type { RepeatSummary } from './bench-repeat';
import type { ThroughputResult } from './bench-run';
import { SYSTEM_LABELS, type SystemName } from './bench-systems';

export interface Ratios {
  [pair: string]: number | null;
}

export interface Targets {
  throughputVsNaive: boolean | null;
  throughputVsKafkaEngine: boolean | null;
  /** null when Sluice's latency run did not get its asked rate from the bench producer. */
  p99Under2s: boolean | null;
  latencyAtAskedRate: boolean | null;
  dedupBytesPerKeyAtMost32: boolean | null;
  exactlyOnce: boolean | null;
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n)
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits });

export function ratios(throughput: ThroughputResult[], latency: LatencyResult[]): Ratios {
  const eps = (s: SystemName) => throughput.find((r) => r.system === s)?.eventsPerSec;
  const out: Ratios = {};
  for (const sluice of ['sluice', 'sluice-split'] as const) {
    for (const peer of ['naive', 'kafka-engine'] as const) {
      const a = eps(sluice);
      const b = eps(peer);
      out[`${sluice}/${peer} events/s`] = a && b ? Math.round((a / b) * 100) / 100 : null;
      const la = latency.find((r) => r.system === sluice)?.p99Ms;
      const lb = latency.find((r) => r.system === peer)?.p99Ms;
      out[`${sluice}/${peer} p99`] = la && lb ? Math.round((la / lb) * 100) / 100 : null;
    }
  }
  return out;
}

export function targets(throughput: ThroughputResult[], latency: LatencyResult[]): Targets {
  const get = (s: SystemName) => throughput.find((r) => r.system === s);
  const sluice = get('sluice');
  const cmp = (peer: SystemName) => {
    const p = get(peer);
    return sluice && p ? sluice.eventsPerSec >= p.eventsPerSec : null;
  };
  const lat = latency.find((r) => r.system === 'sluice');
  const p99 = lat?.p99Ms;
  const bytes = sluice?.extras.redisBytesPerDedupKey;
  const sluices = throughput.filter((r) => r.system.startsWith('sluice'));
  return {
    throughputVsNaive: cmp('naive'),
    throughputVsKafkaEngine: cmp('kafka-engine'),
    p99Under2s: p99 === undefined || !lat?.producer.atRate ? null : p99 < 2_000,
    latencyAtAskedRate: lat ? lat.producer.atRate : null,
    dedupBytesPerKeyAtMost32: bytes === undefined ? null : bytes <= 32,
    exactlyOnce:
      sluices.length === 0
        ? null
        : sluices.every((r) => r.ok && r.rows === r.expectedDistinct && r.lostIds === 0),
  };
}

export function comparisonTable(throughput: ThroughputResult[], latency: LatencyResult[]): string {
  const head = [
    'system',
    'events/s',
    'span s',
    'lat ev/s',
    'p50 ms',
    'p99 ms',
    'CPU ms/1k live',
    'Redis ms/1k live',
    'CPU s',
    'CH CPU s',
    'Redis CPU s',
    'peak RSS MB',
    'rows',
    'expected',
    'dup rows',
    'lost ids',
    'B/dedup key',
  ];
  const names = [...throughput, ...latency]
    .map((r) => r.system)
    .filter((name, i, all) => all.indexOf(name) === i);
  const rows = names.map((name) => {
    const r = throughput.find((x) => x.system === name);
    const l = latency.find((x) => x.system === name);
    const ok = (r?.ok ?? true) && (l?.ok ?? true);
    return [
      name + (ok ? '' : ' (!)'),
      fmt(r?.eventsPerSec),
      fmt(r?.spanSeconds, 1),
      // The producer's achieved rate in the latency phase; '*' when below the asked rate.
      l ? `${fmt(l.producer.achievedRate)}${l.producer.atRate ? '' : '*'}` : '-',
      fmt(l?.p50Ms),
      fmt(l?.p99Ms),
      // The latency phase's own CPU per 1k events (live: small fetches and batches), and Redis's.
      fmt(l?.cpu.msPer1kEvents, 1),
      fmt(l?.cpu.redisMsPer1kEvents, 1),
      fmt(r?.cpuSeconds, 1),
      fmt(r?.clickhouseCpuSeconds, 1),
      fmt(r?.redisCpuSeconds, 1),
      fmt(r?.peakRssMb),
      fmt(r?.rows ?? l?.rows),
      fmt(r?.expectedRows),
      fmt(r?.duplicateRows ?? l?.duplicateRows),
      fmt(r?.lostIds ?? l?.lostIds),
      fmt(r?.extras.redisBytesPerDedupKey, 1),
    ];
  });
  const slow = latency.filter((l) => !l.producer.atRate);
  // A failed run's numbers describe something else than asked: say what, under the table.
  const errors = [
    ...throughput.map((r) => ({ phase: 'throughput', system: r.system, error: r.error })),
    ...latency.map((l) => ({ phase: 'latency', system: l.system, error: l.error })),
  ].flatMap(({ phase, system, error }) =>
    error === undefined ? [] : [`ERROR ${system} (${phase}): ${error}`],
  );
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ');
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...(slow.length > 0
      ? [
          `* the bench producer fell below 95% of the asked ${fmt(slow[0]?.rate)} events/s: p50/p99 are not at the asked rate`,
        ]
      : []),
    ...errors,
  ].join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function bars(
  title: string,
  items: { label: string; value: number; note?: string }[],
  x: number,
  y: number,
  width: number,
  unit: string,
): string {
  const max = Math.max(1, ...items.map((i) => i.value));
  const rowH = 26;
  const labelW = 330;
  const parts = [`<text x="${x}" y="${y}" font-weight="bold">${esc(title)}</text>`];
  items.forEach((item, i) => {
    const top = y + 12 + i * rowH;
    const w = ((width - labelW - 120) * item.value) / max;
    const colour = item.label.startsWith('sluice') ? '#2b7bb9' : '#999';
    parts.push(
      `<text x="${x}" y="${top + 16}">${esc(SYSTEM_LABELS[item.label as SystemName] ?? item.label)}</text>`,
      `<rect x="${x + labelW}" y="${top + 3}" width="${w.toFixed(1)}" height="18" fill="${colour}"/>`,
      `<text x="${x + labelW + w + 6}" y="${top + 16}">${fmt(item.value)} ${unit}${item.note ? ` ${esc(item.note)}` : ''}</text>`,
    );
  });
  return parts.join('\n');
}

export function comparisonSvg(
  throughput: ThroughputResult[],
  latency: LatencyResult[],
  caption: string,
  repeats: RepeatSummary[] = [],
): string {
  const width = 1000;
  const range = (system: SystemName) => {
    const r = repeats.find((x) => x.system === system);
    return r ? `median of ${r.runs} (${fmt(r.eventsPerSec.min)}..${fmt(r.eventsPerSec.max)})` : '';
  };
  const achieved = (l: LatencyResult) =>
    `(producer ${fmt(l.producer.achievedRate)}/s${l.producer.atRate ? '' : ', NOT at the asked rate'})`;
  const blockH = (n: number) => 30 + n * 26;
  let y = 50;
  const parts: string[] = [];
  parts.push(
    bars(
      'Throughput, events/s (first to last row visible)',
      throughput.map((r) => ({ label: r.system, value: r.eventsPerSec, note: range(r.system) })),
      20,
      y,
      width,
      'ev/s',
    ),
  );
  y += blockH(throughput.length) + 20;
  for (const q of ['p50Ms', 'p99Ms'] as const) {
    parts.push(
      bars(
        `End-to-end latency ${q.slice(0, 3)}, ms, at ${fmt(latency[0]?.rate)} events/s`,
        latency.map((r) => ({ label: r.system, value: r[q], note: achieved(r) })),
        20,
        y,
        width,
        'ms',
      ),
    );
    y += blockH(latency.length) + 20;
  }
  parts.push(
    bars(
      "CPU seconds of the system's own processes (whole throughput run)",
      throughput.map((r) => ({ label: r.system, value: Math.round(r.cpuSeconds * 10) / 10 })),
      20,
      y,
      width,
      's',
    ),
  );
  y += blockH(throughput.length) + 20;
  return svg(width, y + 10, caption, parts.join('\n'));
}

function svg(width: number, height: number, caption: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="24" font-size="15" font-weight="bold">${esc(caption)}</text>
${body}
</svg>
`;
}

function polyline(
  points: { t: number; v: number }[],
  box: { x: number; y: number; w: number; h: number },
  tMax: number,
  vMax: number,
  colour: string,
): string {
  const coords = points.map(
    (p) =>
      `${(box.x + (p.t / Math.max(1, tMax)) * box.w).toFixed(1)},${(box.y + box.h - (p.v / Math.max(1, vMax)) * box.h).toFixed(1)}`,
  );
  return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${coords.join(' ')}"/>`;
}

export function sustainedSvg(results: SustainedResult[], caption: string): string {
  const width = 1000;
  const parts: string[] = [];
  let y = 50;
  for (const r of results) {
    const tMax = Math.max(1, ...r.samples.map((s) => s.t));
    for (const [title, key, colour] of [
      ['RSS, MB (green: minus the in-memory dedup state; grey: that state)', 'rssMb', '#2b7bb9'],
      ['lag, events (expected rows not yet visible)', 'lag', '#c0392b'],
    ] as const) {
      const vMax = Math.max(1, ...r.samples.map((s) => s[key])) * 1.1;
      const box = { x: 80, y: y + 10, w: width - 120, h: 160 };
      parts.push(
        `<text x="20" y="${y}" font-weight="bold">${esc(`${r.system}: ${title} over ${r.seconds} s at ${fmt(r.rate)} events/s`)}</text>`,
        `<rect x="${box.x}" y="${box.y}" width="${box.w}" height="${box.h}" fill="none" stroke="#ccc"/>`,
        `<text x="${box.x - 6}" y="${box.y + 10}" text-anchor="end">${fmt(vMax)}</text>`,
        `<text x="${box.x - 6}" y="${box.y + box.h}" text-anchor="end">0</text>`,
        `<text x="${box.x + box.w}" y="${box.y + box.h + 16}" text-anchor="end">${tMax} s</text>`,
        polyline(
          r.samples.map((s) => ({ t: s.t, v: s[key] })),
          box,
          tMax,
          vMax,
          colour,
        ),
        ...(key === 'rssMb'
          ? (
              [
                ['rssExDedupMb', '#27ae60'],
                ['dedupMb', '#888'],
              ] as const
            )
              .filter(([k]) => r.samples.some((s) => s[k] !== undefined))
              .map(([k, c]) =>
                polyline(
                  r.samples.map((s) => ({ t: s.t, v: s[k] ?? 0 })),
                  box,
                  tMax,
                  vMax,
                  c,
                ),
              )
          : []),
      );
      y += 210;
    }
  }
  return svg(width, y, caption, parts.join('\n'));
}

/** `--find-max-sustained`: max sustained rate and CPU per 1k live events, one bar per system. */
export function maxSustainedSvg(results: MaxSustained[], caption: string): string {
  const width = 1000;
  const blockH = 30 + results.length * 26 + 20;
  const parts = [
    bars(
      'Max sustained live rate, events/s (bounded lag, p99 < 1.5 s, held 60 s)',
      results.map((r) => ({ label: r.system, value: r.maxSustainedEventsPerSec })),
      20,
      50,
      width,
      'ev/s',
    ),
    bars(
      "Own CPU per 1k live events at that rate, ms (Redis's in the note)",
      results.map((r) => ({
        label: r.system,
        value: r.cpuMsPer1kLive ?? 0,
        note: r.redisMsPer1kLive ? `+ Redis ${fmt(r.redisMsPer1kLive, 2)}` : '',
      })),
      20,
      50 + blockH,
      width,
      'ms',
    ),
  ];
  return svg(width, 60 + 2 * blockH, caption, parts.join('\n'));
}
