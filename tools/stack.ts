/**
 * `npm run stack -- <verb>`: the local stack (Redis, dev Kafka, ClickHouse) on loopback.
 * Stack dir: $SLUICE_STACK_DIR or <repo>/.stack.
 */
import { readFileSync } from 'node:fs';
import {
  createTopic,
  isServiceName,
  KAFKA_CODECS,
  produceMessages,
  setKafkaBroker,
  stackDir,
  stackDown,
  stackKill,
  stackStatus,
  stackUp,
  StackError,
  type KafkaCodec,
  type ServiceName,
  type StackStatus,
} from '@sluice/stack';

const USAGE = `usage: npm run stack -- <verb>
  up [redis|kafka|clickhouse]        start (or reuse) the stack, write <dir>/env
  down [redis|kafka|clickhouse]      stop what up started
  kill <redis|kafka|clickhouse>      SIGKILL one server (chaos); up <service> brings it back
  status [--json]                    exit 0 when every server is healthy
  topic <name> <partitions>          create a topic on the dev Kafka
  kafka-broker <id> down|up          fault injection on one mock broker
  produce <topic> <codec>            stdin lines -> messages via librdkafka (${KAFKA_CODECS.join('|')})
stack dir: ${'$'}SLUICE_STACK_DIR or <repo>/.stack`;

class UsageError extends Error {}

const log = (line: string) => process.stdout.write(`${line}\n`);

function serviceArg(value: string | undefined, required: boolean): ServiceName[] | undefined {
  if (value === undefined) {
    if (required) throw new UsageError('a service name is required');
    return undefined;
  }
  if (!isServiceName(value)) throw new UsageError(`unknown service ${value}`);
  return [value];
}

function positiveInt(value: string | undefined, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} must be a positive integer`);
  return n;
}

function printStatus(status: StackStatus): void {
  log(`stack dir ${status.dir}`);
  for (const s of status.services) {
    const state = s.healthy ? 'healthy' : s.running ? 'UNHEALTHY' : 'stopped';
    const where = [
      s.pid && s.running ? `pid ${s.pid}` : '',
      s.url ?? '',
      s.service === 'kafka' && s.port ? `control port ${s.port}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    log(`${s.service.padEnd(10)} ${state.padEnd(9)} ${where}${s.detail ? ` (${s.detail})` : ''}`);
    const down = s.brokers?.filter((b) => !b.up).map((b) => b.id) ?? [];
    if (down.length > 0) log(`${''.padEnd(20)} brokers down: ${down.join(', ')}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'up': {
      await stackUp({ services: serviceArg(rest[0], false), log });
      log(`env written to ${stackDir()}/env`);
      return 0;
    }
    case 'down':
      await stackDown({ services: serviceArg(rest[0], false), log });
      return 0;
    case 'kill': {
      const [service] = serviceArg(rest[0], true) ?? [];
      if (service) await stackKill(service);
      log(`killed ${service}`);
      return 0;
    }
    case 'status': {
      const status = await stackStatus();
      if (rest.includes('--json')) log(JSON.stringify(status, null, 2));
      else printStatus(status);
      return status.healthy ? 0 : 1;
    }
    case 'topic': {
      const [name, partitions] = rest;
      if (!name) throw new UsageError('topic name required');
      await createTopic(name, positiveInt(partitions, 'partitions'));
      log(`created topic ${name} with ${partitions} partitions`);
      return 0;
    }
    case 'kafka-broker': {
      const [id, state] = rest;
      if (state !== 'up' && state !== 'down') throw new UsageError('kafka-broker <id> down|up');
      await setKafkaBroker(positiveInt(id, 'broker id'), state);
      log(`broker ${id} ${state}`);
      return 0;
    }
    case 'produce': {
      const [topic, codec] = rest;
      if (!topic || !KAFKA_CODECS.includes(codec as KafkaCodec)) {
        throw new UsageError(`produce <topic> <${KAFKA_CODECS.join('|')}>`);
      }
      const lines = readFileSync(0, 'utf8').split('\n').filter(Boolean);
      const result = await produceMessages(
        topic,
        lines.map((value) => ({ value })),
        { codec: codec as KafkaCodec },
      );
      log(
        `delivered ${result.delivered}${result.errors.length ? `, errors: ${result.errors.join('; ')}` : ''}`,
      );
      return result.errors.length > 0 ? 1 : 0;
    }
    default:
      throw new UsageError(verb ? `unknown verb ${verb}` : 'no verb');
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n${USAGE}\n`);
      process.exit(2);
    }
    // Our own errors carry a complete message; anything else is a bug, so keep the stack.
    const text =
      err instanceof StackError
        ? `${err.name}: ${err.message}`
        : String((err as Error)?.stack ?? err);
    process.stderr.write(`${text}\n`);
    process.exit(1);
  },
);
