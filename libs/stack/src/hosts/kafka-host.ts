/**
 * The dev Kafka: librdkafka's mock cluster in this detached process, plus a loopback HTTP control
 * endpoint (the mock has no CreateTopics, and fault injection is not part of the Kafka protocol).
 *
 *   GET  /health                    -> { bootstraps, brokers: [{ id, up, address }] }
 *   POST /topics {name, partitions} -> 201, or 409 when it exists
 *   POST /brokers/:id/(up|down)     -> 200
 *   POST /produce {topic, codec, messages: [{ value, key?, partition? }]} -> { delivered, errors }
 */
import { renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { KAFKA_CODECS, type KafkaCodec, type ProduceMessage } from '../types';
import { hostArgs, hostLog } from './args';
import {
  ERR_TOPIC_ALREADY_EXISTS,
  errorText,
  librdkafkaVersion,
  MockCluster,
  Producer,
} from './rdkafka';

const args = hostArgs(process.argv.slice(2), [
  'stack-dir',
  'control-port',
  'brokers',
  'ready-file',
]);
const brokerCount = Number(args.get('brokers'));
const cluster = new MockCluster(brokerCount);
const bootstraps = cluster.bootstraps();
// The mock numbers its brokers 1..N and lists them in that order in the bootstraps (checked
// against a kafkajs describeCluster).
const addresses = bootstraps.split(',');
const brokerUp = new Map<number, boolean>();
for (let id = 1; id <= brokerCount; id++) brokerUp.set(id, true);
const producers = new Map<KafkaCodec, Producer>();
// One produce at a time: each call counts its own delivery reports on the shared event queue.
let produceChain: Promise<unknown> = Promise.resolve();

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolveBody, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('error', reject);
    req.on('end', () => {
      try {
        const parsed: unknown = text ? JSON.parse(text) : {};
        if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object');
        resolveBody(parsed as Record<string, unknown>);
      } catch {
        reject(new HttpError(400, 'body must be a JSON object'));
      }
    });
  });
}

function createTopic(body: Record<string, unknown>): { name: string; partitions: number } {
  const { name, partitions } = body;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(name)) {
    throw new HttpError(400, 'name must be a Kafka topic name');
  }
  if (typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 1) {
    throw new HttpError(400, 'partitions must be a positive integer');
  }
  const replication = Math.min(3, brokerCount);
  const rc = cluster.createTopic(name, partitions, replication);
  if (rc === ERR_TOPIC_ALREADY_EXISTS) throw new HttpError(409, `topic ${name} already exists`);
  if (rc !== 0) throw new HttpError(500, `rd_kafka_mock_topic_create: ${errorText(rc)}`);
  hostLog(`created topic ${name} with ${partitions} partitions`);
  return { name, partitions };
}

function setBroker(id: number, state: string): { id: number; up: boolean } {
  if (!brokerUp.has(id)) throw new HttpError(404, `no broker ${id}; ids are 1..${brokerCount}`);
  const up = state === 'up';
  const rc = cluster.setBroker(id, up);
  if (rc !== 0) throw new HttpError(500, `rd_kafka_mock_broker_set_${state}: ${errorText(rc)}`);
  brokerUp.set(id, up);
  hostLog(`broker ${id} ${state}`);
  return { id, up };
}

function parseMessages(raw: unknown): ProduceMessage[] {
  if (!Array.isArray(raw) || raw.length === 0)
    throw new HttpError(400, 'messages must be a non-empty array');
  return raw.map((item: unknown, i) => {
    const msg = item as Partial<ProduceMessage> | null;
    if (typeof msg?.value !== 'string')
      throw new HttpError(400, `messages[${i}].value must be a string`);
    return msg as ProduceMessage;
  });
}

async function produce(
  body: Record<string, unknown>,
): Promise<{ delivered: number; errors: string[] }> {
  const { topic, codec = 'none' } = body;
  if (typeof topic !== 'string') throw new HttpError(400, 'topic must be a string');
  if (!KAFKA_CODECS.includes(codec as KafkaCodec)) {
    throw new HttpError(400, `codec must be one of ${KAFKA_CODECS.join(', ')}`);
  }
  const messages = parseMessages(body.messages);
  let producer = producers.get(codec as KafkaCodec);
  if (!producer) {
    producer = new Producer(bootstraps, codec as string);
    producers.set(codec as KafkaCodec, producer);
  }
  const out = messages.map((m) => ({
    value: Buffer.from(m.value, 'utf8'),
    key: m.key === undefined ? undefined : Buffer.from(m.key, 'utf8'),
    partition: m.partition,
  }));
  const run = produceChain.then(() => producer.produce(topic, out, 30_000));
  produceChain = run.catch(() => undefined);
  const errors = await run;
  return { delivered: messages.length - errors.length, errors };
}

async function route(req: IncomingMessage): Promise<[number, unknown]> {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/health') {
    const brokers = [...brokerUp].map(([id, up]) => ({ id, up, address: addresses[id - 1] }));
    return [200, { bootstraps, brokers }];
  }
  if (req.method !== 'POST') throw new HttpError(404, `no route ${req.method} ${url}`);
  if (url === '/topics') return [201, createTopic(await readJson(req))];
  if (url === '/produce') return [200, await produce(await readJson(req))];
  const broker = /^\/brokers\/(\d+)\/(up|down)$/.exec(url);
  if (broker?.[1] && broker[2]) return [200, setBroker(Number(broker[1]), broker[2])];
  throw new HttpError(404, `no route POST ${url}`);
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  route(req).then(
    ([status, body]) => reply(res, status, body),
    (err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      reply(res, status, { error: err instanceof Error ? err.message : String(err) });
    },
  );
});

server.listen(Number(args.get('control-port')), '127.0.0.1', () => {
  const address = server.address();
  const controlPort = typeof address === 'object' && address ? address.port : 0;
  const readyFile = args.get('ready-file') ?? '';
  // Written last and renamed into place: the launcher treats its presence as "ready".
  writeFileSync(`${readyFile}.tmp`, JSON.stringify({ pid: process.pid, controlPort, bootstraps }));
  renameSync(`${readyFile}.tmp`, readyFile);
  hostLog(
    `librdkafka ${librdkafkaVersion()} mock cluster ${bootstraps}, control port ${controlPort}`,
  );
});

process.on('SIGTERM', () => {
  hostLog('SIGTERM: stopping');
  process.exit(0);
});
