import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { produceMessages, readStackEnv, stackDown, type StackStatus } from '@sluice/stack';
import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { REPO_ROOT } from './support/paths';

// A stack of its own under the OS temp dir: `down` here must never touch the shared stacks.
const DIR = mkdtempSync(join(tmpdir(), 'sluice-stack-test-'));
const CLI = join(REPO_ROOT, 'dist', 'tools', 'stack.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const env = { ...process.env, SLUICE_STACK_DIR: DIR };
    execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function cliOk(...args: string[]): Promise<string> {
  const result = await cli(...args);
  if (result.code !== 0)
    throw new Error(`stack ${args.join(' ')} -> ${result.code}\n${result.stderr}`);
  return result.stdout;
}

interface Recorded {
  pid?: number;
  port?: number;
  brokers?: string;
}

function state(): Record<'redis' | 'kafka' | 'clickhouse', Recorded> {
  return (JSON.parse(readFileSync(join(DIR, 'state.json'), 'utf8')) as { services: never })
    .services;
}

function env() {
  const found = readStackEnv(DIR);
  if (!found) throw new Error('no env file');
  return found;
}

/** A zombie only waits to be reaped by init: it runs nothing and holds no port. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

const kafka = () =>
  new Kafka({
    clientId: 'stack-test',
    brokers: env().KAFKA_BROKERS.split(','),
    logLevel: logLevel.NOTHING,
  });

describe('local stack CLI', () => {
  afterAll(async () => {
    await stackDown({ dir: DIR });
    rmSync(DIR, { recursive: true, force: true });
  });

  it('up starts Redis, Kafka and ClickHouse; status reports them healthy', async () => {
    await cliOk('up');
    expect(readFileSync(join(DIR, 'env'), 'utf8')).toMatch(
      /^REDIS_URL=redis:\/\/127\.0\.0\.1:\d+\nKAFKA_BROKERS=(127\.0\.0\.1:\d+,){2}127\.0\.0\.1:\d+\nCLICKHOUSE_URL=http:\/\/127\.0\.0\.1:\d+\n$/,
    );
    const status = await cli('status', '--json');
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as StackStatus;
    expect(parsed.services.map((s) => [s.service, s.healthy])).toEqual([
      ['redis', true],
      ['kafka', true],
      ['clickhouse', true],
    ]);
  });

  it('a second up reuses the running servers: same PIDs and ports', async () => {
    const before = state();
    await cliOk('up');
    expect(state()).toEqual(before);
  });

  it('kill redis, then up redis: back on the same port with its AOF data', async () => {
    const { port } = state().redis;
    const redis = new Redis(env().REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    await redis.set('stack-test', 'kept');
    redis.disconnect();

    await cliOk('kill', 'redis');
    expect((await cli('status')).code).toBe(1);
    await cliOk('up', 'redis');

    expect(state().redis.port).toBe(port);
    const again = new Redis(env().REDIS_URL, { lazyConnect: true });
    await again.connect();
    expect(await again.get('stack-test')).toBe('kept');
    again.disconnect();
  });

  it('topic t 7 creates a topic that kafkajs sees with 7 partitions', async () => {
    await cliOk('topic', 'stack-test-t', '7');
    const admin = kafka().admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: ['stack-test-t'] });
    await admin.disconnect();
    expect(metadata.topics[0]?.partitions).toHaveLength(7);
    expect((await cli('topic', 'stack-test-t', '7')).stderr).toMatch(/already exists/);
  });

  it('kafkajs produces, consumes in a group and commits on the mock cluster', async () => {
    await cliOk('topic', 'stack-test-group', '3');
    const client = kafka();
    const producer = client.producer();
    await producer.connect();
    const messages = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    await producer.send({ topic: 'stack-test-group', messages });
    await producer.disconnect();

    const consumer = client.consumer({ groupId: 'stack-test-group', maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'stack-test-group', fromBeginning: true });
    let seen = 0;
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachMessage: () => {
          if (++seen === messages.length) resolve();
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect(); // commits the resolved offsets

    const admin = client.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({
      groupId: 'stack-test-group',
      topics: ['stack-test-group'],
    });
    await admin.disconnect();
    const total = committed?.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
    expect(total).toBe(messages.length);
  });

  it('a librdkafka producer writes lz4 and zstd batches through the Kafka host', async () => {
    for (const codec of ['lz4', 'zstd'] as const) {
      const topic = `stack-test-${codec}`;
      await cliOk('topic', topic, '2');
      const messages = Array.from({ length: 500 }, (_, i) => ({ value: JSON.stringify({ i }) }));
      expect(await produceMessages(topic, messages, { dir: DIR, codec })).toEqual({
        delivered: 500,
        errors: [],
      });
      const admin = kafka().admin();
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets(topic);
      await admin.disconnect();
      expect(offsets.reduce((sum, p) => sum + Number(p.high), 0)).toBe(500);
    }
  });

  it('ClickHouse dedups insert tokens and keeps its data across kill -9 on the same port', async () => {
    const { port } = state().clickhouse;
    const ch = createClient({ url: env().CLICKHOUSE_URL });
    await ch.command({
      query: `CREATE TABLE stack_test (id UInt64) ENGINE = MergeTree ORDER BY id
              SETTINGS non_replicated_deduplication_window = 1000`,
    });
    for (let i = 0; i < 2; i++) {
      await ch.insert({
        table: 'stack_test',
        values: [{ id: 1 }, { id: 2 }],
        format: 'JSONEachRow',
        clickhouse_settings: { insert_deduplication_token: 'batch-1' },
      });
    }
    await ch.close();

    await cliOk('kill', 'clickhouse');
    await cliOk('up', 'clickhouse');
    expect(state().clickhouse.port).toBe(port);

    const again = createClient({ url: env().CLICKHOUSE_URL });
    const rows = await again.query({
      query: 'SELECT count() AS n FROM stack_test',
      format: 'JSONEachRow',
    });
    // 64-bit ints come unquoted from this ClickHouse (26.7), quoted from older ones.
    const [row] = await rows.json<{ n: number | string }>();
    expect(Number(row?.n)).toBe(2);
    await again.close();
  });

  it('down stops every recorded process and frees every port', async () => {
    const recorded = state();
    const pids = Object.values(recorded).map((s) => s.pid);
    const ports = [
      recorded.redis.port,
      recorded.clickhouse.port,
      recorded.kafka.port,
      ...(recorded.kafka.brokers ?? '').split(',').map((b) => Number(b.split(':')[1])),
    ];
    expect(pids.every((pid) => pid !== undefined && running(pid))).toBe(true);

    await cliOk('down');

    expect(pids.filter((pid) => running(pid as number))).toEqual([]);
    for (const port of ports) expect(await refuses(port as number)).toBe(true);
    expect((await cli('status')).code).toBe(1);
  });
});
