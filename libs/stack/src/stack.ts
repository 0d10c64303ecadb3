import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ServiceStartError, StackError, StackNotRunningError } from './errors';
import { kafkaControl } from './kafka-control';
import { stackDir, stackFiles } from './paths';
import { isOurProcess, kill9, sleep, terminate, withLock } from './proc';
import { logFile, probe, startService } from './services';
import {
  allStopped,
  envFromState,
  readState,
  removeEnvFile,
  writeEnvFile,
  writeState,
  type ServiceRecord,
  type StackState,
} from './state';
import { ensureSystemPackages } from './system-packages';
import {
  SERVICES,
  type KafkaCodec,
  type ProduceMessage,
  type ProduceResult,
  type ServiceName,
  type ServiceStatus,
  type StackEnv,
  type StackStatus,
} from './types';

type Log = (line: string) => void;

const STOP_GRACE_MS = 10_000;
// A running server that fails its probe gets this long before it is declared dead and restarted.
const UNHEALTHY_GRACE_MS = 5_000;

const resolveDir = (dir: string | undefined) => (dir ? resolve(dir) : stackDir());

function where(service: ServiceName, record: ServiceRecord): string {
  const port = service === 'kafka' ? `brokers ${record.brokers}, control port` : 'port';
  return `${service}: pid ${record.pid}, ${port} ${record.port}`;
}

function ourPid(dir: string, record: ServiceRecord | undefined): number | undefined {
  const pid = record?.pid;
  return pid !== undefined && isOurProcess(pid, dir, record?.startTicks) ? pid : undefined;
}

/** Forgets the process but keeps the port, so the next start comes back on the same address. */
function markStopped(state: StackState, service: ServiceName): void {
  const record = state.services[service];
  if (!record) return;
  delete record.pid;
  delete record.startTicks;
  // The mock's broker ports die with its host: a new host gets new ones.
  if (service === 'kafka') delete record.brokers;
}

/** True when our process runs and answers; a dead or sick one is stopped and forgotten. */
async function reusable(dir: string, state: StackState, service: ServiceName, log: Log) {
  const record = state.services[service];
  const pid = ourPid(dir, record);
  if (pid === undefined || !record) {
    markStopped(state, service);
    return false;
  }
  const deadline = Date.now() + UNHEALTHY_GRACE_MS;
  while (Date.now() < deadline) {
    if ((await probe(service, record)).healthy) return true;
    await sleep(250);
  }
  log(`${service}: pid ${pid} runs but is not healthy; restarting it`);
  await terminate(pid, STOP_GRACE_MS);
  markStopped(state, service);
  return false;
}

function fullEnv(state: StackState): StackEnv {
  const env = envFromState(state);
  return {
    REDIS_URL: env.REDIS_URL ?? '',
    KAFKA_BROKERS: env.KAFKA_BROKERS ?? '',
    CLICKHOUSE_URL: env.CLICKHOUSE_URL ?? '',
  };
}

/**
 * Starts what is not running (all services, or the ones named) and returns the addresses of the
 * whole stack. Idempotent: healthy servers are reused as they are. A service started for only a
 * subset on a fresh dir leaves the other addresses '' (and out of the env file).
 */
export async function stackUp(
  opts: { dir?: string; services?: ServiceName[]; log?: Log } = {},
): Promise<StackEnv> {
  const dir = resolveDir(opts.dir);
  const log = opts.log ?? (() => undefined);
  const wanted = opts.services ?? [...SERVICES];
  mkdirSync(dir, { recursive: true });
  return withLock(stackFiles(dir).lock, async () => {
    const state = readState(dir);
    const toStart: ServiceName[] = [];
    for (const service of wanted) {
      const record = state.services[service];
      if (record && (await reusable(dir, state, service, log)))
        log(`${where(service, record)} (running)`);
      else toStart.push(service);
    }
    writeState(dir, state);
    ensureSystemPackages(toStart, log);
    const results = await Promise.allSettled(
      toStart.map(async (service) => {
        const spawned = (record: ServiceRecord) => {
          state.services[service] = { ...state.services[service], ...record };
          writeState(dir, state);
        };
        const ctx = { dir, previous: state.services[service], log, spawned };
        const record = await startService(service, ctx);
        state.services[service] = record;
        log(
          `${where(service, record)} (started in ${record.startupMs} ms, log ${logFile(dir, service)})`,
        );
      }),
    );
    const failures: string[] = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') return;
      const service = toStart[i] as ServiceName;
      markStopped(state, service);
      failures.push(result.reason instanceof Error ? result.reason.message : String(result.reason));
    });
    writeState(dir, state);
    writeEnvFile(dir, state);
    if (failures.length > 0) throw new ServiceStartError(failures.join('\n\n'));
    return fullEnv(state);
  });
}

/** Stops exactly the processes `up` recorded (SIGTERM, then SIGKILL after a deadline). */
export async function stackDown(
  opts: { dir?: string; services?: ServiceName[]; log?: Log } = {},
): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const dir = resolveDir(opts.dir);
  if (!existsSync(stackFiles(dir).state)) return;
  await withLock(stackFiles(dir).lock, async () => {
    const state = readState(dir);
    const wanted = opts.services ?? [...SERVICES];
    await Promise.all(
      wanted.map(async (service) => {
        const pid = ourPid(dir, state.services[service]);
        if (pid !== undefined) {
          const how = await terminate(pid, STOP_GRACE_MS);
          log(
            `${service}: pid ${pid} ${how === 'exited' ? 'stopped' : 'killed after SIGTERM timed out'}`,
          );
        }
        markStopped(state, service);
      }),
    );
    writeState(dir, state);
    if (allStopped(state)) removeEnvFile(dir);
    else writeEnvFile(dir, state);
  });
}

/** SIGKILL, for chaos tests; `stackUp({ services: [service] })` brings it back on its port. */
export async function stackKill(service: ServiceName, opts: { dir?: string } = {}): Promise<void> {
  const dir = resolveDir(opts.dir);
  await withLock(stackFiles(dir).lock, async () => {
    const state = readState(dir);
    const pid = ourPid(dir, state.services[service]);
    if (pid === undefined) throw new StackNotRunningError(`${service} is not running in ${dir}`);
    await kill9(pid);
    markStopped(state, service);
    writeState(dir, state);
    writeEnvFile(dir, state);
  });
}

export async function stackStatus(opts: { dir?: string } = {}): Promise<StackStatus> {
  const dir = resolveDir(opts.dir);
  const state = readState(dir);
  const env = envFromState(state);
  const urls: Record<ServiceName, string | undefined> = {
    redis: env.REDIS_URL,
    kafka: env.KAFKA_BROKERS,
    clickhouse: env.CLICKHOUSE_URL,
  };
  const services = await Promise.all(
    SERVICES.map(async (service): Promise<ServiceStatus> => {
      const record = state.services[service];
      const pid = ourPid(dir, record);
      const base = { service, pid: record?.pid, port: record?.port, url: urls[service] };
      if (pid === undefined || !record) {
        return { ...base, running: false, healthy: false, detail: 'not running' };
      }
      const { healthy, brokers, detail } = await probe(service, record);
      return { ...base, running: true, healthy, brokers, detail };
    }),
  );
  return { dir, healthy: services.every((s) => s.healthy), services };
}

function kafkaPort(dir: string): number {
  const state = readState(dir);
  const record = state.services.kafka;
  if (ourPid(dir, record) === undefined || record?.port === undefined) {
    throw new StackNotRunningError(
      `the dev Kafka is not running in ${dir}; run \`npm run stack -- up\``,
    );
  }
  return record.port;
}

/** Creates a topic on the dev Kafka (the mock has no CreateTopics request). */
export async function createTopic(
  name: string,
  partitions: number,
  opts: { dir?: string } = {},
): Promise<void> {
  await kafkaControl(kafkaPort(resolveDir(opts.dir)), 'POST', '/topics', { name, partitions });
}

/** Fault injection: a broker set down drops its connections and refuses new ones until up. */
export async function setKafkaBroker(
  id: number,
  state: 'up' | 'down',
  opts: { dir?: string } = {},
): Promise<void> {
  if (!Number.isInteger(id)) throw new StackError(`broker id must be an integer, got ${id}`);
  await kafkaControl(kafkaPort(resolveDir(opts.dir)), 'POST', `/brokers/${id}/${state}`);
}

/**
 * Produces through a real librdkafka producer in the Kafka host, compressed with `codec`: the
 * record batches look like those of Java or librdkafka clients, unlike kafkajs's.
 */
export async function produceMessages(
  topic: string,
  messages: ProduceMessage[],
  opts: { dir?: string; codec?: KafkaCodec } = {},
): Promise<ProduceResult> {
  const body = { topic, codec: opts.codec ?? 'none', messages };
  const port = kafkaPort(resolveDir(opts.dir));
  return kafkaControl<ProduceResult>(port, 'POST', '/produce', body, 60_000);
}
