import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { ExtraRedis } from './support/extra-redis';
import { scrape, total } from './support/metrics';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  expectExactlyOnce,
  postPipeline,
  tableCount,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { freePort, SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVENTS = 24_000;
const WAVES = 12;
const KAFKA_PARTITIONS = 8;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[failover] ${line}\n`);

async function linkUp(replica: ExtraRedis): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const info = await replica.command((c) => c.info('replication')).catch(() => '');
    if (info.includes('master_link_status:up')) return;
    await sleep(100);
  }
  throw new Error('the replica never linked to its primary');
}

/**
 * Its own primary and replica (two Debian redis-servers beside the stack's, so the stack's Redis
 * and the pipelines of other suites are never touched): the replica is cut off for a few seconds
 * while events flow, the primary is killed, the replica promoted and Sluice restarted on it. With
 * REDIS_MIN_REPLICAS=1 nothing the replica lacks was committed to Kafka or inserted, so the table
 * is exact; without waiting, offsets committed and batches inserted during the cut are lost or
 * their batch ids reused for other rows.
 */
describe('Redis failover to a replica with REDIS_MIN_REPLICAS=1', () => {
  let primary: ExtraRedis | undefined;
  let replica: ExtraRedis | undefined;
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let pipelineId: string | undefined;

  beforeAll(() => {
    ch = clickhouse();
  });
  afterAll(async () => {
    if (app?.running && pipelineId) await deletePipeline(app, pipelineId);
    await app?.stop();
    await primary?.stop();
    await replica?.stop();
    await ch.close();
  });

  it('loses nothing and doubles nothing when the primary dies while the replica lags', async () => {
    const topic = uniqueName('failover');
    const table = uniqueName('failover_events');
    const id = uniquePipelineId('failover');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const stream = generateEvents(EVENTS, { duplicateRatio: 0.1, malformedRatio: 0.005, seed: 16 });

    primary = await ExtraRedis.start('primary');
    replica = await ExtraRedis.start('replica', ['--replicaof', '127.0.0.1', String(primary.port)]);
    await linkUp(replica);
    const base = { ...testStackEnv(), LEASE_TTL_MS: '3000', REDIS_REPLICA_WAIT_MS: '200' };
    app = await SluiceProcess.start({
      env: { ...base, REDIS_URL: primary.url, REDIS_MIN_REPLICAS: '1' },
    });
    await postPipeline(app, dedupPipeline(id, topic, table));

    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    const waveSize = Math.ceil(EVENTS / WAVES);
    const producing = (async () => {
      for (let w = 0; w < WAVES; w += 1) {
        const wave = stream.messages.slice(w * waveSize, (w + 1) * waveSize);
        await produceAll(producer, topic, KAFKA_PARTITIONS, wave);
        await sleep(700);
      }
    })();

    // Rows flowing through the replicated primary first.
    await app.waitFor(async () => (await tableCount(ch, table)).rows > 0, 60_000, 'first rows');
    // Cut the replica off (pointed at an address nobody answers, as in a network partition): it
    // keeps what it has and hears nothing more, while the primary goes on taking writes.
    const nowhere = await freePort();
    await replica.command((c) => c.call('REPLICAOF', '127.0.0.1', String(nowhere)));
    log(`replica cut off at ${(await tableCount(ch, table)).rows} rows`);
    await sleep(3_000);
    const waitFailures = total(await scrape(app), 'sluice_redis_replica_wait_failures_total');
    log(`WAITs that failed during the cut: ${waitFailures}`);
    expect(waitFailures).toBeGreaterThan(0);

    await primary.kill9();
    await app.kill();
    await replica.command((c) => c.call('REPLICAOF', 'NO', 'ONE'));
    log('primary killed, replica promoted, Sluice restarted on it');
    // The promoted server has no replica of its own: nothing to wait for.
    app = await SluiceProcess.start({
      env: { ...base, REDIS_URL: replica.url, REDIS_MIN_REPLICAS: '0' },
    });

    await producing;
    await close();
    await waitForSettled(app, id, EVENTS, 90_000, log);
    await expectExactlyOnce(app, ch, id, table, stream);
  });
});
