import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StackBuildMissingError, StackError } from './errors';

let cachedRoot: string | undefined;

/**
 * The repo root: the nearest package.json named "sluice" above this file. Walking up works the
 * same from TS source (Jest) and from dist/, whose tree has no package.json of its own.
 */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown };
      if (parsed.name === 'sluice') return (cachedRoot = dir);
    }
    if (dirname(dir) === dir)
      throw new StackError(`no package.json named "sluice" above ${__dirname}`);
  }
}

/** `SLUICE_STACK_DIR` when set, else `<repo root>/.stack` (git-ignored). */
export function stackDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.SLUICE_STACK_DIR;
  return configured ? resolve(configured) : join(repoRoot(), '.stack');
}

export type HostName = 'clickhouse-host' | 'kafka-host';

/**
 * Hosts always run as compiled JS, even when the library itself runs from TS under Jest: a
 * detached server must not depend on the test runner's transpiler.
 */
export function hostScript(name: HostName): string {
  const script = join(repoRoot(), 'dist', 'libs', 'stack', 'src', 'hosts', `${name}.js`);
  if (!existsSync(script)) {
    throw new StackBuildMissingError(`${script} is missing: run \`npm run build\` first`);
  }
  return script;
}

/** Where each file of a stack lives; one place so `up`, `down` and `status` agree. */
export function stackFiles(dir: string) {
  return {
    state: join(dir, 'state.json'),
    env: join(dir, 'env'),
    lock: join(dir, 'lock'),
    redisData: join(dir, 'redis'),
    redisLog: join(dir, 'redis.log'),
    kafkaLog: join(dir, 'kafka.log'),
    kafkaReady: join(dir, 'kafka.ready.json'),
    clickhouseData: join(dir, 'clickhouse'),
    clickhouseLog: join(dir, 'clickhouse.log'),
    clickhousePortFile: join(dir, 'clickhouse.port'),
  };
}
