import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SystemPackageError } from './errors';
import type { ServiceName } from './types';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const LIB_DIRS = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/usr/local/lib',
  '/usr/lib',
  '/usr/lib64',
];

function which(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

export function redisServerPath(): string | undefined {
  return which('redis-server');
}

/** Whether dlopen("librdkafka.so.1") will succeed: the linker cache first, then the usual dirs. */
function hasLibrdkafka(): boolean {
  const ldconfig = which('ldconfig');
  if (ldconfig) {
    const out = spawnSync(ldconfig, ['-p'], { encoding: 'utf8' });
    if (out.status === 0 && out.stdout.includes('librdkafka.so.1 ')) return true;
  }
  return LIB_DIRS.some((dir) => existsSync(join(dir, 'librdkafka.so.1')));
}

function missingPackages(services: readonly ServiceName[]): string[] {
  const missing: string[] = [];
  if (services.includes('redis') && !redisServerPath()) missing.push('redis-server');
  if (services.includes('kafka') && !hasLibrdkafka()) missing.push('librdkafka1');
  return missing;
}

const canApt = () =>
  process.getuid?.() === 0 && existsSync('/etc/debian_version') && which('apt-get') !== undefined;

function apt(args: string[], log: (line: string) => void): void {
  log(`apt-get ${args.join(' ')}`);
  const run = spawnSync('apt-get', args, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) {
    const tail = `${run.stdout}\n${run.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new SystemPackageError(`apt-get ${args.join(' ')} failed:\n${tail}`);
  }
}

/**
 * Redis and the mock Kafka come from the OS (Debian: redis-server, librdkafka1). Installed here
 * only where that is safe and expected (Debian/Ubuntu as root, e.g. a fresh CI box); anywhere
 * else the error says exactly what to install.
 */
export function ensureSystemPackages(
  services: readonly ServiceName[],
  log: (line: string) => void,
): void {
  const missing = missingPackages(services);
  if (missing.length === 0) return;
  if (!canApt()) {
    throw new SystemPackageError(
      `missing system packages: ${missing.join(', ')}. On Debian/Ubuntu: ` +
        `sudo apt-get install -y ${missing.join(' ')}. Elsewhere install Redis 7 (redis-server) ` +
        `and librdkafka 2.x (librdkafka.so.1) with your package manager.`,
    );
  }
  apt(['update'], log);
  apt(['install', '-y', '--no-install-recommends', ...missing], log);
  const still = missingPackages(services);
  if (still.length > 0) {
    throw new SystemPackageError(`still missing after apt-get install: ${still.join(', ')}`);
  }
}
