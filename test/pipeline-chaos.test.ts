import type { ClickHouseClient } from '@clickhouse/client';
import { stackKill, stackUp } from '@sluice/stack';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { TEST_STACK_DIR } from './support/paths';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  expectSettledOnce,
  postPipeline,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVENTS = 100_000;
const WAVES = 20;
const KAFKA_PARTITIONS = 16;
const LEASE_TTL_MS = 3_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[chaos] ${line}\n`);

/** Polls ClickHouse for an INSERT into the table that is running right now. */
async function waitForInsertInFlight(
  ch: ClickHouseClient,
  table: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const result = await ch
      .query({
        query: `SELECT count() AS n FROM system.processes WHERE query_kind = 'Insert' AND query LIKE {pattern:String}`,
        query_params: { pattern: `%${table}%` },
        format: 'JSONEachRow',
      })
      .then((r) => r.json<{ n: number | string }>())
      .catch(() => [{ n: 0 }]);
    if (Number(result[0]?.n ?? 0) > 0) return true;
  }
  return false;
}

describe('exactly once under failures', () => {
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let pipelineId: string | undefined;

  beforeAll(() => {
    ch = clickhouse();
  });
  afterAll(async () => {
    // Leave the stack whole for the suites after this one, whatever happened here.
    await stackUp({ dir: TEST_STACK_DIR, services: ['redis', 'clickhouse'] });
    if (app?.running && pipelineId) await deletePipeline(app, pipelineId);
    await app?.stop();
    await ch.close();
  });

  it('survives SIGKILL of Sluice (once mid-insert), ClickHouse down for 20 s and a Redis SIGKILL', async () => {
    const topic = uniqueName('chaos');
    const table = uniqueName('chaos_events');
    const id = uniquePipelineId('chaos');
    pipelineId = id;
    await createSourceTopic(topic, KAFKA_PARTITIONS);
    await createEventsTable(ch, table);
    const stream = generateEvents(EVENTS, { duplicateRatio: 0.1, malformedRatio: 0.005, seed: 7 });
    const env = { ...testStackEnv(), LEASE_TTL_MS: String(LEASE_TTL_MS) };
    const start = () => SluiceProcess.start({ env });

    app = await start();
    await postPipeline(app, dedupPipeline(id, topic, table));

    // Produce in waves in the background so every failure below hits a stream in motion.
    const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
    const waveSize = Math.ceil(EVENTS / WAVES);
    const producing = (async () => {
      for (let w = 0; w < WAVES; w += 1) {
        await produceAll(
          producer,
          topic,
          KAFKA_PARTITIONS,
          stream.messages.slice(w * waveSize, (w + 1) * waveSize),
        );
        await sleep(400);
      }
    })();

    // 1. SIGKILL while an insert is in flight.
    const caughtInsert = await waitForInsertInFlight(ch, table, 60_000);
    await app.kill();
    log(`SIGKILL 1 (insert in flight: ${caughtInsert})`);
    expect(caughtInsert).toBe(true);

    // 2 and 3. SIGKILL at random moments after a restart.
    for (let k = 2; k <= 3; k += 1) {
      app = await start();
      await sleep(1_000 + Math.floor(Math.random() * 3_000));
      await app.kill();
      log(`SIGKILL ${k}`);
    }
    app = await start();

    // ClickHouse away for 20 s while events keep coming.
    await sleep(1_500);
    await stackKill('clickhouse', { dir: TEST_STACK_DIR });
    log('ClickHouse killed');
    await sleep(20_000);
    await stackUp({ dir: TEST_STACK_DIR, services: ['clickhouse'] });
    log('ClickHouse back');

    // Redis SIGKILL and restart (AOF with appendfsync always keeps every acknowledged write).
    await sleep(2_000);
    await stackKill('redis', { dir: TEST_STACK_DIR });
    log('Redis killed');
    await sleep(2_000);
    await stackUp({ dir: TEST_STACK_DIR, services: ['redis'] });
    log('Redis back');

    await producing;
    await close();

    await expectSettledOnce(app, ch, id, table, stream, 150_000, log);
  });
});
