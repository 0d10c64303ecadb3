import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { StackError } from './errors';
import { stackFiles } from './paths';
import { SERVICES, type ServiceName, type StackEnv } from './types';

/**
 * What `up` started. The port outlives the process on purpose: a service restarted after a
 * crash or `kill` must come back where connected clients expect it.
 */
export interface ServiceRecord {
  pid?: number;
  /** Start time from /proc/PID/stat, so a PID reused by another program is never signalled. */
  startTicks?: number;
  /** Redis / ClickHouse: server port. Kafka: the host's control port. */
  port?: number;
  /** Kafka only: the mock brokers' bootstrap list (new ports on every host start). */
  brokers?: string;
  startedAt?: string;
  startupMs?: number;
}

export interface StackState {
  services: Partial<Record<ServiceName, ServiceRecord>>;
}

export function readState(dir: string): StackState {
  const file = stackFiles(dir).state;
  if (!existsSync(file)) return { services: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StackState>;
    return { services: parsed.services ?? {} };
  } catch (err) {
    throw new StackError(`${file} is not valid JSON; stop the servers it lists and delete it`, {
      cause: err,
    });
  }
}

/** Write-then-rename, so a crash mid-write never leaves a state file that loses our PIDs. */
export function writeState(dir: string, state: StackState): void {
  const file = stackFiles(dir).state;
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function envFromState(state: StackState): Partial<StackEnv> {
  const { redis, kafka, clickhouse } = state.services;
  const env: Partial<StackEnv> = {};
  if (redis?.port) env.REDIS_URL = `redis://127.0.0.1:${redis.port}`;
  if (kafka?.brokers) env.KAFKA_BROKERS = kafka.brokers;
  if (clickhouse?.port) env.CLICKHOUSE_URL = `http://127.0.0.1:${clickhouse.port}`;
  return env;
}

const ENV_KEYS = ['REDIS_URL', 'KAFKA_BROKERS', 'CLICKHOUSE_URL'] as const;

/** One KEY=value line per known service, in a fixed order, so the file can be `source`d. */
export function writeEnvFile(dir: string, state: StackState): void {
  const env = envFromState(state);
  const lines = ENV_KEYS.filter((key) => env[key]).map((key) => `${key}=${env[key]}\n`);
  const file = stackFiles(dir).env;
  writeFileSync(`${file}.tmp`, lines.join(''));
  renameSync(`${file}.tmp`, file);
}

export function removeEnvFile(dir: string): void {
  rmSync(stackFiles(dir).env, { force: true });
}

/** Parses `<dir>/env`; undefined unless all three addresses are there. */
export function readStackEnv(dir: string): StackEnv | undefined {
  const file = stackFiles(dir).env;
  if (!existsSync(file)) return undefined;
  const found: Partial<StackEnv> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    if (eq > 0 && (ENV_KEYS as readonly string[]).includes(key)) {
      found[key as keyof StackEnv] = line.slice(eq + 1).trim();
    }
  }
  const { REDIS_URL, KAFKA_BROKERS, CLICKHOUSE_URL } = found;
  if (!REDIS_URL || !KAFKA_BROKERS || !CLICKHOUSE_URL) return undefined;
  return { REDIS_URL, KAFKA_BROKERS, CLICKHOUSE_URL };
}

export function allStopped(state: StackState): boolean {
  return SERVICES.every((service) => state.services[service]?.pid === undefined);
}
