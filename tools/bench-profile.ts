/**
 * Summarises a V8 `.cpuprofile` (from `npm run bench -- --cpu-prof`): the top functions by self
 * time, the share of time by package, and by pipeline stage, so the performance notes quote
 * evidence, not guesses. With the number of events the profiled run handled, each stage is also
 * given in microseconds per event.
 *
 *   node dist/tools/bench-profile.js <file.cpuprofile> [top=25] [events]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0)
    return url
      .slice(nm + 'node_modules/'.length)
      .split('/')
      .slice(0, 2)
      .join('/');
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url || '(native)';
}

function packageOf(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
  }
  if (url.includes('/dist/')) return 'sluice';
  if (url.startsWith('node:')) return 'node';
  return url ? 'other' : '(vm/native)';
}

/**
 * The stage a Sluice file belongs to. Mailbox encoding is the consumer's work and decoding the
 * owner's, though both live in one file, so the entry codec is told apart by function name.
 */
function stageOfFile(path: string, fn: string): string | undefined {
  if (path.includes('node_modules/') || !path.includes('/dist/')) return undefined;
  if (path.includes('libs/pipeline/src/mailbox/entry'))
    return /^decode/.test(fn) ? 'owner' : 'consumer';
  const rules: [RegExp, string][] = [
    [/src\/roles\/consumer\/|libs\/pipeline\/src\/mailbox\/|libs\/kafka\//, 'consumer'],
    [/src\/roles\/owner\/|libs\/pipeline\/src\//, 'owner'],
    [/src\/roles\/writer\/|libs\/clickhouse\//, 'writer'],
    [/telemetry\/|tracing/, 'telemetry'],
  ];
  for (const [re, stage] of rules) if (re.test(path)) return stage;
  return 'other sluice (startup, cluster, Redis scripts)';
}

/**
 * A sample's stage: the nearest Sluice frame from the leaf up decides, so library code (ioredis
 * encoding a command, msgpackr, JSON.parse) counts for the stage that called it. Samples with no
 * Sluice frame (async stacks are cut at awaits: kafkajs's fetch loop, ioredis reply parsing, GC)
 * are named by their leaf's package.
 */
function stageOf(id: number, byId: Map<number, ProfileNode>, parent: Map<number, number>): string {
  const leaf = byId.get(id);
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at)?.callFrame;
    if (!frame) break;
    const stage = stageOfFile(frame.url, frame.functionName);
    if (stage) return stage;
  }
  const name = leaf?.callFrame.functionName ?? '';
  if (name === '(idle)' || name === '(garbage collector)' || name === '(program)') return name;
  return `${packageOf(leaf?.callFrame.url ?? '')} (no Sluice caller)`;
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bench-profile <file.cpuprofile> [top]');
  const top = Number(process.argv[3] ?? 25);
  const events = Number(process.argv[4] ?? 0);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const byStage = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'}  ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const pkg = packageOf(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const stage = stageOf(id, byId, parent);
    byStage.set(stage, (byStage.get(stage) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s sampled\n\nTop self time:\n`);
  for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`  ${pct(us)}  ${name}\n`);
  }
  process.stdout.write('\nBy package:\n');
  for (const [name, us] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    process.stdout.write(`  ${pct(us)}  ${name}\n`);
  }
  const busy = total - (byStage.get('(idle)') ?? 0);
  process.stdout.write(
    `\nBy stage (share of busy time${events > 0 ? ', us per event' : ''}; busy ${(busy / 1e6).toFixed(1)} s):\n`,
  );
  for (const [name, us] of [...byStage].sort((a, b) => b[1] - a[1])) {
    if (name === '(idle)') continue;
    const perEvent = events > 0 ? `  ${(us / events).toFixed(2).padStart(6)} us` : '';
    process.stdout.write(`  ${((100 * us) / busy).toFixed(1).padStart(5)}%${perEvent}  ${name}\n`);
  }
}

main();
