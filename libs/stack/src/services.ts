import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { ServiceStartError, SystemPackageError } from './errors';
import { kafkaHealth } from './kafka-control';
import { hostScript, stackFiles, type HostName } from './paths';
import { clickhousePing, redisPing } from './probes';
import {
  isAlive,
  logTail,
  portIsFree,
  reusePort,
  sleep,
  spawnDetached,
  startTicks,
  terminate,
} from './proc';
import type { ServiceRecord } from './state';
import { redisServerPath } from './system-packages';
import type { KafkaBrokerStatus, ServiceName } from './types';

export interface StartContext {
  dir: string;
  previous: ServiceRecord | undefined;
  log: (line: string) => void;
  /** Called right after spawn, so the PID is on disk even if we die while waiting. */
  spawned: (record: ServiceRecord) => void;
}

export interface Probe {
  healthy: boolean;
  brokers?: KafkaBrokerStatus[];
  detail?: string;
}

const START_TIMEOUT_MS: Record<ServiceName, number> = {
  redis: 15_000,
  kafka: 20_000,
  // libchdb.so is 540 MB: a cold page cache can make the first start slow.
  clickhouse: 90_000,
};

export function logFile(dir: string, service: ServiceName): string {
  const files = stackFiles(dir);
  return { redis: files.redisLog, kafka: files.kafkaLog, clickhouse: files.clickhouseLog }[service];
}

/** Never throws: whatever goes wrong while probing means "not healthy", with the reason. */
export async function probe(service: ServiceName, record: ServiceRecord): Promise<Probe> {
  if (record.port === undefined) return { healthy: false, detail: 'no port recorded' };
  try {
    if (service === 'redis') return { healthy: await redisPing(record.port) };
    if (service === 'clickhouse') return { healthy: await clickhousePing(record.port) };
    return await kafkaHealth(record.port);
  } catch (err) {
    return { healthy: false, detail: `probe failed: ${String(err)}` };
  }
}

/** Polls `check` until it yields a value; fails early, with the log tail, if the process dies. */
async function waitFor<T>(
  service: ServiceName,
  dir: string,
  pid: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + START_TIMEOUT_MS[service];
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const log = logFile(dir, service);
    if (!isAlive(pid)) {
      throw new ServiceStartError(
        `${service} (pid ${pid}) exited while starting. ${log}:\n${logTail(log)}`,
      );
    }
    if (Date.now() > deadline) {
      await terminate(pid, 5_000);
      throw new ServiceStartError(
        `${service} (pid ${pid}) not healthy after ${START_TIMEOUT_MS[service] / 1000} s. ${log}:\n${logTail(log)}`,
      );
    }
    await sleep(50);
  }
}

const healthyOrUndefined = async (service: ServiceName, record: ServiceRecord) =>
  (await probe(service, record)).healthy ? true : undefined;

function readIfPresent(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8').trim();
  return text === '' ? undefined : text;
}

/**
 * AOF with `appendfsync always`: every write is fsynced before Redis replies. `everysec` would
 * survive kill -9 too in the common case, but may postpone the write itself by up to 2 s while a
 * background fsync is slow, and Redis is Sluice's system of record for in-flight data. Measured
 * cost here: about 0.5 ms per event-loop turn; pipelined throughput ~360k vs ~750k SET/s.
 * RDB snapshots are off (`save ""`): the AOF alone is the durable copy.
 */
async function startRedis(ctx: StartContext): Promise<ServiceRecord> {
  const redisServer = redisServerPath();
  if (!redisServer) throw new SystemPackageError('redis-server is not installed');
  const files = stackFiles(ctx.dir);
  mkdirSync(files.redisData, { recursive: true });
  const port = await reusePort(ctx.previous?.port, ctx.log);
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', files.redisData],
    ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
    // Keep argv as given: it names the stack dir, which is how `down` recognises our process.
    ...['--daemonize', 'no', '--set-proc-title', 'no', '--logfile', ''],
  ];
  const pid = spawnDetached(redisServer, args, { cwd: files.redisData, logFile: files.redisLog });
  const record: ServiceRecord = { pid, startTicks: startTicks(pid), port };
  ctx.spawned(record);
  await waitFor('redis', ctx.dir, pid, () => healthyOrUndefined('redis', record));
  return record;
}

function spawnHost(ctx: StartContext, host: HostName, service: ServiceName, args: string[]) {
  const script = hostScript(host);
  const allArgs = [script, `--stack-dir=${ctx.dir}`, ...args];
  return spawnDetached(process.execPath, allArgs, {
    cwd: ctx.dir,
    logFile: logFile(ctx.dir, service),
  });
}

/** New broker ports on every host start (the mock picks them); the control port is reused. */
async function startKafka(ctx: StartContext): Promise<ServiceRecord> {
  const files = stackFiles(ctx.dir);
  const controlPort = await reusePort(ctx.previous?.port, ctx.log);
  rmSync(files.kafkaReady, { force: true });
  const pid = spawnHost(ctx, 'kafka-host', 'kafka', [
    `--control-port=${controlPort}`,
    '--brokers=3',
    `--ready-file=${files.kafkaReady}`,
  ]);
  const record: ServiceRecord = { pid, startTicks: startTicks(pid), port: controlPort };
  ctx.spawned(record);
  const ready = await waitFor('kafka', ctx.dir, pid, () => {
    const text = readIfPresent(files.kafkaReady);
    return Promise.resolve(text ? (JSON.parse(text) as { bootstraps: string }) : undefined);
  });
  record.brokers = ready.bootstraps;
  await waitFor('kafka', ctx.dir, pid, () => healthyOrUndefined('kafka', record));
  return record;
}

/** `--http_port=0` on first start; later starts ask for the recorded port. */
async function startClickHouse(ctx: StartContext): Promise<ServiceRecord> {
  const files = stackFiles(ctx.dir);
  mkdirSync(files.clickhouseData, { recursive: true });
  const recorded = ctx.previous?.port;
  let askPort = 0;
  if (recorded !== undefined) {
    if (await portIsFree(recorded)) askPort = recorded;
    else ctx.log(`port ${recorded} is taken by another program; picking a new one`);
  }
  rmSync(files.clickhousePortFile, { force: true });
  const pid = spawnHost(ctx, 'clickhouse-host', 'clickhouse', [
    `--path=${files.clickhouseData}`,
    `--port=${askPort}`,
    `--port-file=${files.clickhousePortFile}`,
  ]);
  const record: ServiceRecord = { pid, startTicks: startTicks(pid), port: askPort || undefined };
  ctx.spawned(record);
  const port = await waitFor('clickhouse', ctx.dir, pid, () => {
    // The trailing newline proves ClickHouse finished writing the TSV line.
    const text =
      existsSync(files.clickhousePortFile) && readFileSync(files.clickhousePortFile, 'utf8');
    return Promise.resolve(text && /^\d+\n$/.test(text) ? Number(text) : undefined);
  });
  record.port = port;
  ctx.spawned(record);
  await waitFor('clickhouse', ctx.dir, pid, () => healthyOrUndefined('clickhouse', record));
  return record;
}

export async function startService(
  service: ServiceName,
  ctx: StartContext,
): Promise<ServiceRecord> {
  const began = Date.now();
  const record =
    service === 'redis'
      ? await startRedis(ctx)
      : service === 'kafka'
        ? await startKafka(ctx)
        : await startClickHouse(ctx);
  return { ...record, startedAt: new Date().toISOString(), startupMs: Date.now() - began };
}
