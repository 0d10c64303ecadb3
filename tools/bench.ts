/**
 * `npm run bench`: Sluice against its peers on the same machine and the same data.
 *
 * Starts its own local stack (SLUICE_STACK_DIR, default `.stack-bench`), produces the topic once,
 * then runs each system in turn into a fresh table: throughput over the whole topic, then
 * end-to-end latency at a fixed rate (half of Sluice's measured maximum unless --latency-rate).
 * `--duration 5m --rate R` runs the sustained mode instead (RSS and lag over time).
 * Results: a table on the terminal, bench/results/{comparison,sustained}.{json,svg}, and a
 * timestamped copy under bench/results/runs/. The stack is stopped at the end (by PID) unless
 * --keep-stack.
 */
import { execSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { parseDuration } from '@sluice/pipeline/duration';
import { createTopic, stackDown, stackStatus, stackUp, type StackEnv } from '@sluice/stack';
import { connectProducer, EventSource, produceAll } from './bench-data';
import { currentLoad, formatCommandCosts, type Load } from './bench-measure';
import {
  comparisonSvg,
  comparisonTable,
  maxSustainedSvg,
  ratios,
  sustainedSvg,
  targets,
} from './bench-report';
import { maxSustainedTable, maxTargets, searchSystems, type MaxSustained } from './bench-max';
import { SEARCH_DEFAULTS } from './bench-search';
import { BENCH_USAGE } from './bench-usage';
import type { RateSender } from './bench-feed';
import { WireProducer } from './bench-wire';
import { medianResults, repeatLines, summarize, type RepeatSummary } from './bench-repeat';
import { latencyRun, sustainedRun, type LatencyResult, type SustainedResult } from './bench-rate';
import { throughputRun, type StackPids, type ThroughputResult } from './bench-run';
import { SYSTEM_NAMES, type SystemContext, type SystemName, type Tuning } from './bench-systems';

const REPO = join(__dirname, '..', '..');
const RESULTS = join(REPO, 'bench', 'results');

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    'event-size': { type: 'string', default: '150' },
    'dup-share': { type: 'string', default: '0.1' },
    partitions: { type: 'string', default: '48' },
    'record-batch': { type: 'string', default: '1000' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    systems: { type: 'string', default: SYSTEM_NAMES.join(',') },
    'latency-rate': { type: 'string' },
    'latency-seconds': { type: 'string', default: '20' },
    'latency-give-up-s': { type: 'string', default: '30' },
    'sluice-partitions': { type: 'string', default: '16' },
    'sluice-max-rows': { type: 'string', default: '10000' },
    'sluice-max-delay': { type: 'string', default: '1s' },
    'kafka-engine-flush-ms': { type: 'string', default: '1000' },
    'kafka-engine-consumers': { type: 'string', default: '2' },
    'sluice-env': { type: 'string', default: '' },
    'dedup-window': { type: 'string', default: '24h' },
    'cpu-prof': { type: 'boolean', default: false },
    'keep-stack': { type: 'boolean', default: false },
    'timeout-s': { type: 'string', default: '900' },
    out: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    producer: { type: 'string', default: 'wire' },
    'find-max-sustained': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
    'search-hold': { type: 'string', default: '60s' },
    'search-start': { type: 'string', default: String(SEARCH_DEFAULTS.start) },
    'search-max': { type: 'string', default: String(SEARCH_DEFAULTS.max) },
    'search-probes': { type: 'string', default: String(SEARCH_DEFAULTS.maxProbes) },
    'search-resolution': { type: 'string', default: String(SEARCH_DEFAULTS.resolution) },
  },
});

/** `K=V,K2=V2`: extra environment for the Sluice processes (e.g. CONSUMER_LINGER_MS=0). */
function envPairs(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--sluice-env: expected KEY=VALUE, got "${pair}"`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

const num = (name: keyof typeof flags): number => {
  const value = Number(flags[name]);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number`);
  return value;
};
const out = (line = '') => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stdout.write(`\r  ${line}        `);

function systemsFlag(): SystemName[] {
  const names = (flags.systems ?? '').split(',').filter(Boolean);
  const bad = names.filter((n) => !(SYSTEM_NAMES as readonly string[]).includes(n));
  if (bad.length > 0)
    throw new Error(`unknown --systems ${bad.join(',')}; pick from ${SYSTEM_NAMES.join(',')}`);
  return names as SystemName[];
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
  } catch {
    return 'unknown';
  }
}

async function stackPids(dir: string): Promise<StackPids> {
  const status = await stackStatus({ dir });
  const pid = (s: string) => status.services.find((x) => x.service === s)?.pid ?? -1;
  return { clickhouse: pid('clickhouse'), redis: pid('redis') };
}

interface Run {
  id: string;
  env: StackEnv;
  ch: ClickHouseClient;
  stack: StackPids;
  tuning: Tuning;
  logDir: string;
  partitions: number;
}

function context(run: Run, system: SystemName, phase: string, topic: string): SystemContext {
  const id = `b${run.id}-${phase}-${system}`;
  return {
    env: run.env,
    ch: run.ch,
    topic,
    table: id.replace(/-/g, '_'),
    id,
    logDir: run.logDir,
    tuning: { ...run.tuning, cpuProfDir: phase === 'lat' ? undefined : run.tuning.cpuProfDir },
  };
}

async function comparison(run: Run, systems: SystemName[]): Promise<Record<string, unknown>> {
  const events = num('events');
  const eventSize = num('event-size');
  const dupShare = num('dup-share');
  const timeoutMs = num('timeout-s') * 1000;
  const topic = `bench-${run.id}`;
  // --events 0 with --latency-rate: the latency phase alone (no throughput topic or phase).
  const latencyOnly = events === 0;
  if (latencyOnly && !flags['latency-rate']) throw new Error('--events 0 needs --latency-rate');
  if (!latencyOnly) await createTopic(topic, run.partitions, { dir: stackDirOf() });
  const producer = await connectProducer(run.env.KAFKA_BROKERS.split(','));
  try {
    const source = new EventSource('evt-', dupShare, eventSize);
    out(
      `Producing ${events.toLocaleString()} events (~${eventSize} B, ${dupShare * 100}% duplicates) to ${topic} (${run.partitions} partitions)...`,
    );
    const t0 = Date.now();
    if (!latencyOnly)
      await produceAll(producer, topic, run.partitions, source, events, num('record-batch'), (n) =>
        progress(`${n.toLocaleString()} produced`),
      );
    const produceSeconds = (Date.now() - t0) / 1000;
    out(
      `\n  ${source.unique.toLocaleString()} unique, ${(source.produced - source.unique).toLocaleString()} duplicates, in ${produceSeconds.toFixed(1)} s`,
    );
    const expected = { messages: source.produced, unique: source.unique };

    // --repeat N: every system N times, alternated; the table and ratios use the medians.
    const repeat = Math.max(1, Math.floor(num('repeat')));
    const runs: ThroughputResult[] = [];
    for (let round = 1; round <= (latencyOnly ? 0 : repeat); round++) {
      for (const system of systems) {
        out(`Throughput: ${system}${repeat > 1 ? ` (run ${round} of ${repeat})` : ''}`);
        const ctx = context(run, system, repeat > 1 ? `tp${round}` : 'tp', topic);
        const result = await throughputRun(system, ctx, run.stack, expected, timeoutMs, (rows) =>
          progress(`${rows.toLocaleString()} rows`),
        );
        runs.push(result);
        out(
          `\n  ${result.eventsPerSec.toLocaleString()} events/s over ${result.spanSeconds.toFixed(1)} s (last 90% of rows: ${result.eventsPerSecLast90.toLocaleString()}/s), ${result.rows.toLocaleString()} rows, CPU s ${result.cpuSeconds.toFixed(2)} (per process ${result.processCpuSeconds.join(' | ')}), CH ${result.clickhouseCpuSeconds.toFixed(2)}; load ${currentLoad().loadavg1.toFixed(2)}${result.error ? `, ERROR ${result.error}` : ''}`,
        );
        const index = result.redisIndex;
        out(
          `  Redis ${result.redisCpuSeconds.toFixed(2)} s CPU (user ${result.redisCpuSplit.user.toFixed(2)}, system ${result.redisCpuSplit.system.toFixed(2)}): ${formatCommandCosts(result.redisCommands)}${index ? `; index ${index.keys} keys, ${index.bytesPerEvent.toFixed(1)} B/event` : ''}`,
        );
      }
    }
    const repeats: RepeatSummary[] = repeat > 1 ? summarize(runs, systems) : [];
    const throughput = repeat > 1 ? medianResults(runs, systems) : runs;

    const sluiceEps = throughput.find((r) => r.system === 'sluice')?.eventsPerSec;
    const rate = flags['latency-rate']
      ? num('latency-rate')
      : Math.round((sluiceEps ?? 20_000) / 2);
    const latency: LatencyResult[] = [];
    const seconds = num('latency-seconds');
    if (seconds > 0) {
      for (const system of systems) {
        out(`Latency at ${rate.toLocaleString()} events/s for ${seconds} s: ${system}`);
        const latTopic = `lat-${run.id}-${system}`;
        await createTopic(latTopic, run.partitions, { dir: stackDirOf() });
        const ctx = context(run, system, 'lat', latTopic);
        const giveUpS = num('latency-give-up-s');
        const opts = { partitions: run.partitions, rate, seconds, dupShare, eventSize, giveUpS };
        const sender = await senderFor(producer, run.env.KAFKA_BROKERS.split(','), latTopic);
        const result = await latencyRun(system, ctx, run.stack, sender, opts, timeoutMs).finally(
          () => sender.close(),
        );
        latency.push(result);
        const p = result.producer;
        out(
          `  producer: ${p.events.toLocaleString()} of ${p.askedEvents.toLocaleString()} events, ${p.achievedRate.toLocaleString()} events/s${p.atRate ? '' : ' (NOT at the asked rate)'}, its CPU ${p.msPer1kEvents} ms per 1k events; load ${currentLoad().loadavg1.toFixed(2)}`,
        );
        out(
          `  p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms; ${result.rows.toLocaleString()} rows, ${result.duplicateRows} duplicate, ${result.lostIds} lost; CPU ${result.cpu.seconds} s (${result.cpu.msPer1kEvents} ms per 1k events; per process ${result.cpu.processMsPer1kEvents.join(' | ')}; Redis ${result.cpu.redisMsPer1kEvents}, CH ${result.cpu.clickhouseMsPer1kEvents})${result.error ? `, ERROR ${result.error}` : ''}`,
        );
      }
    }
    out();
    out(comparisonTable(throughput, latency));
    if (repeats.length > 0) {
      out();
      out(`Throughput over ${repeat} alternated runs per system (median, min..max):`);
      for (const line of repeatLines(repeats)) out(line);
    }
    const r = ratios(throughput, latency);
    out();
    for (const [pair, value] of Object.entries(r)) out(`  ${pair.padEnd(34)} ${value ?? '-'}`);
    const t = targets(throughput, latency);
    out();
    out(`Targets: ${JSON.stringify(t)}`);
    return {
      produce: {
        events: source.produced,
        unique: source.unique,
        seconds: produceSeconds,
        eventSize,
        dupShare,
      },
      throughput,
      ...(repeats.length > 0 && { repeat: { runs: repeat, summaries: repeats, allRuns: runs } }),
      latency: { rate, seconds, results: latency },
      // Per system, the latency phase's own and Redis CPU per 1k live events (table columns).
      live: latency.map((l) => ({
        system: l.system,
        cpuMsPer1kLive: l.cpu.msPer1kEvents,
        redisMsPer1kLive: l.cpu.redisMsPer1kEvents,
      })),
      ratios: r,
      targets: t,
    };
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/** One sustained run of `system` at `rate` into a fresh topic (`phase` names it apart). */
async function sustainedOnce(
  run: Run,
  producer: Producer,
  system: SystemName,
  phase: string,
  rate: number,
  seconds: number,
  giveUpS?: number,
): Promise<SustainedResult> {
  const topic = `${phase}-${run.id}-${system}`;
  await createTopic(topic, run.partitions, { dir: stackDirOf() });
  const ctx = context(run, system, phase, topic);
  const opts = {
    partitions: run.partitions,
    rate,
    seconds,
    dupShare: num('dup-share'),
    eventSize: num('event-size'),
    giveUpS,
  };
  const sender = await senderFor(producer, run.env.KAFKA_BROKERS.split(','), topic);
  return sustainedRun(system, ctx, run.stack, sender, opts, (s) =>
    progress(
      `t=${s.t}s rss ${s.rssMb} MB (dedup ${s.dedupMb ?? '-'} MB, ${(s.dedupKeys ?? 0).toLocaleString()} keys) lag ${s.lag.toLocaleString()} rows ${s.rows.toLocaleString()}`,
    ),
  ).finally(() => sender.close());
}

/** --find-max-sustained: the search of bench-max.ts for every system, one after the other. */
async function findMaxSustained(run: Run, systems: SystemName[]): Promise<MaxSustained[]> {
  const hold = parseDuration(flags['search-hold'] ?? '60s') / 1000;
  const opts = {
    ...SEARCH_DEFAULTS,
    start: num('search-start'),
    max: num('search-max'),
    maxProbes: num('search-probes'),
    resolution: num('search-resolution'),
  };
  const producer = await connectProducer(run.env.KAFKA_BROKERS.split(','));
  const results: MaxSustained[] = [];
  try {
    let n = 0;
    const probe = (system: SystemName, rate: number) => {
      out(`  load ${currentLoad().loadavg1.toFixed(2)}`);
      return sustainedOnce(
        run,
        producer,
        system,
        `max${++n}`,
        rate,
        hold,
        num('latency-give-up-s'),
      );
    };
    results.push(...(await searchSystems(systems, opts, hold, probe, out)));
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  out();
  out(maxSustainedTable(results));
  out();
  out(`Targets: ${JSON.stringify(maxTargets(results))}`);
  return results;
}

async function sustained(run: Run, systems: SystemName[]): Promise<SustainedResult[]> {
  const seconds = parseDuration(flags.duration ?? '5m') / 1000;
  const rate = flags.rate ? num('rate') : 10_000;
  const producer = await connectProducer(run.env.KAFKA_BROKERS.split(','));
  const results: SustainedResult[] = [];
  try {
    for (const system of systems) {
      out(`Sustained: ${system} at ${rate.toLocaleString()} events/s for ${seconds} s`);
      const result = await sustainedOnce(run, producer, system, 'sus', rate, seconds);
      results.push(result);
      if (result.redisCommands) out(`\n  Redis: ${formatCommandCosts(result.redisCommands, 8)}`);
      out(
        `\n  RSS ${result.rss.minMb}..${result.rss.maxMb} MB (median ${result.rss.medianMb}, within ±${result.rss.withinPct}%: ${result.rss.flat ? 'flat' : 'NOT flat'})${result.rssExDedup ? `, minus the dedup state ${result.rssExDedup.minMb}..${result.rssExDedup.maxMb} MB (±${result.rssExDedup.withinPct}%: ${result.rssExDedup.flat ? 'flat' : 'NOT flat'}); dedup ${result.dedup?.bytesPerKey ?? '-'} B per in-memory key` : ''}; lag max ${result.lag.maxEvents}, last ${result.lag.lastEvents} (${result.lag.growing ? 'growing' : 'bounded'}); p50 ${result.latency.p50Ms} ms p99 ${result.latency.p99Ms} ms; CPU ${result.cpu.seconds} s (${result.cpu.msPer1kEvents} ms per 1k events; Redis ${result.cpu.redisMsPer1kEvents}, CH ${result.cpu.clickhouseMsPer1kEvents})${result.error ? `\n  ERROR ${system}: ${result.error}` : ''}`,
      );
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  return results;
}

/**
 * The fixed-rate phases' sender for `topic`: the hand-written wire producer (default), or
 * `--producer kafkajs` (the shared kafkajs producer, ~14 µs of CPU per event) for comparison.
 */
async function senderFor(
  producer: Producer,
  brokers: string[],
  topic: string,
): Promise<RateSender> {
  if (flags.producer === 'kafkajs')
    return {
      send: async (messages) => void (await producer.send({ topic, acks: 1, messages })),
      close: () => undefined,
    };
  if (flags.producer !== 'wire') throw new Error('--producer must be wire or kafkajs');
  return WireProducer.connect(brokers, topic);
}

const stackDirOf = () => process.env.SLUICE_STACK_DIR ?? join(REPO, '.stack-bench');

function write(name: string, json: unknown, svg: string): void {
  const runs = join(RESULTS, 'runs');
  mkdirSync(runs, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const base = flags.out ?? name;
  writeFileSync(join(RESULTS, `${base}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS, `${base}.svg`), svg);
  copyFileSync(join(RESULTS, `${base}.json`), join(runs, `${base}-${stamp}.json`));
  copyFileSync(join(RESULTS, `${base}.svg`), join(runs, `${base}-${stamp}.svg`));
  out(`Results: ${join(RESULTS, `${base}.json`)} and .svg`);
}

async function main(): Promise<number> {
  if (flags.help) {
    out(BENCH_USAGE);
    return 0;
  }
  const systems = systemsFlag();
  const dir = stackDirOf();
  const loadBefore: Load = currentLoad();
  out(
    `Load before: ${loadBefore.loadavg1.toFixed(2)} (1 min) on ${loadBefore.cores} cores. Stack in ${dir}...`,
  );
  const env = await stackUp({ dir, log: (line) => out(`  ${line}`) });
  const ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 120_000 });
  const logDir = join(dir, 'bench-logs');
  mkdirSync(logDir, { recursive: true });
  const run: Run = {
    id: Date.now().toString(36),
    env,
    ch,
    stack: await stackPids(dir),
    logDir,
    partitions: num('partitions'),
    tuning: {
      sluicePartitions: num('sluice-partitions'),
      sluiceMaxRows: num('sluice-max-rows'),
      sluiceMaxDelay: flags['sluice-max-delay'] ?? '1s',
      kafkaEngineFlushMs: num('kafka-engine-flush-ms'),
      kafkaEngineConsumers: num('kafka-engine-consumers'),
      sluiceEnv: envPairs(flags['sluice-env'] ?? ''),
      cpuProfDir: flags['cpu-prof'] ? join(RESULTS, 'runs', 'profiles') : undefined,
      sluiceDedupWindow: flags['dedup-window'] ?? '24h',
    },
  };
  try {
    const meta = {
      startedAt: new Date().toISOString(),
      commit: gitCommit(),
      node: process.version,
      loadBefore,
      flags,
      tuning: run.tuning,
    };
    if (flags['find-max-sustained']) {
      const all = flags.systems === SYSTEM_NAMES.join(',');
      const results = await findMaxSustained(run, all ? ['naive', 'sluice'] : systems);
      const json = {
        mode: 'max-sustained',
        ...meta,
        loadAfter: currentLoad(),
        holdSeconds: parseDuration(flags['search-hold'] ?? '60s') / 1000,
        results,
        targets: maxTargets(results),
      };
      const caption = `Sluice bench, max sustained live rate, ${meta.startedAt} (${meta.commit}), load ${loadBefore.loadavg1.toFixed(2)} on ${loadBefore.cores} cores`;
      write('max-sustained', json, maxSustainedSvg(results, caption));
      return results.every((r) => r.maxSustainedEventsPerSec > 0) ? 0 : 1;
    }
    if (flags.duration) {
      const results = await sustained(
        run,
        flags.systems === SYSTEM_NAMES.join(',') ? ['sluice'] : systems,
      );
      const json = { mode: 'sustained', ...meta, loadAfter: currentLoad(), results };
      const caption = `Sluice bench, sustained, ${meta.startedAt} (${meta.commit}), load ${loadBefore.loadavg1.toFixed(2)} on ${loadBefore.cores} cores`;
      write('sustained', json, sustainedSvg(results, caption));
      return results.every((r) => r.ok) ? 0 : 1;
    }
    const report = await comparison(run, systems);
    const json = { mode: 'comparison', ...meta, loadAfter: currentLoad(), ...report };
    const caption = `Sluice bench: ${num('events').toLocaleString()} events, ${meta.startedAt} (${meta.commit}), load ${loadBefore.loadavg1.toFixed(2)} on ${loadBefore.cores} cores`;
    const { throughput, latency, repeat } = report as {
      throughput: ThroughputResult[];
      latency: { results: LatencyResult[] };
      repeat?: { summaries: RepeatSummary[] };
    };
    write(
      'comparison',
      json,
      comparisonSvg(throughput, latency.results, caption, repeat?.summaries ?? []),
    );
    return throughput.every((r) => r.ok) && latency.results.every((r) => r.ok) ? 0 : 1;
  } finally {
    await ch.close();
    if (!flags['keep-stack']) {
      await stackDown({ dir, log: (line) => out(`  ${line}`) });
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
