import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer } from './support/events';
import {
  allCounters,
  createJoinSources,
  joinPipeline,
  type KeyedMessage,
  produceTo,
} from './support/join-fixture';
import { clickhouse, deletePipeline, postPipeline, uniqueName } from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

const ORDER_PARTITIONS = 2;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`[join-restart] ${line}\n`);

/** A customer and its order, both stamped with the wall clock now (a live stream). */
function pair(n: number): { customer: KeyedMessage; order: KeyedMessage } {
  const ts = new Date().toISOString();
  return {
    customer: {
      partition: 0,
      value: { id: `c${n}`, version: 1, name: `c${n}-v1`, updated_at: ts },
    },
    order: {
      partition: n % ORDER_PARTITIONS,
      value: { order_id: `o${n}`, customer_id: `c${n}`, amount: 1, region: 'L', ts },
    },
  };
}

// Default lateness (0s) and idle timeout (10s): sources quiet long enough to be idle, the process
// SIGKILLed, events produced while it is down; after the restart (and the session timeout the
// consumer group waits for the dead member, 4 s here: SHORT_GROUP_SESSION) every one of them must
// join, none late.
describe('join restart while the sources are quiet', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let id: string | undefined;

  beforeAll(() => {
    ch = clickhouse();
  });
  afterAll(async () => {
    if (app?.running && id) await deletePipeline(app, id);
    await app?.stop();
    await ch.close();
  });

  it('joins every event produced during the downtime, none late, with the default lateness', async () => {
    const { orders, customers, table } = await createJoinSources(ch, 'jr', ORDER_PARTITIONS, 1);
    id = uniqueName('jrestart').replace(/_/g, '-');
    const pipelineId = id;
    const definition = joinPipeline({
      id,
      orders,
      customers,
      table,
      type: 'inner',
      window: '1m',
      lateness: '0s',
      partitions: 2,
    });
    delete (definition.join as Record<string, unknown>).lateness;
    app = await SluiceProcess.start({ env: { ...env, ...SHORT_GROUP_SESSION } });
    await postPipeline(app, definition);
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const produce = async (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        const { customer, order } = pair(n);
        await produceTo(producer, customers, [customer]);
        await produceTo(producer, orders, [order]);
        await sleep(200);
      }
    };
    const written = (running: SluiceProcess, count: number) =>
      running.waitFor(
        async () => (await allCounters(running, pipelineId)).written === count,
        60_000,
        `${count} rows written`,
      );

    await produce(0, 10);
    await written(app, 10);
    // Quiet past the idle timeout: every source partition caught up and idle.
    await sleep(13_000);
    await app.kill();
    log('SIGKILL while quiet; producing during the downtime');
    await produce(10, 30);
    app = await SluiceProcess.start({ env: { ...env, ...SHORT_GROUP_SESSION } });
    const restarted = app;
    await written(restarted, 30);
    await close();
    const counters = await allCounters(restarted, pipelineId);
    log(`counters ${JSON.stringify(counters)}`);
    expect(counters).toMatchObject({ late: 0, deadLettered: 0, joined: 30, written: 30 });
    const result = await ch.query({
      query: `SELECT order_id FROM ${table}`,
      format: 'JSONEachRow',
    });
    const rows = (await result.json<{ order_id: string }>()).map((r) => r.order_id).sort();
    expect(rows).toEqual(Array.from({ length: 30 }, (_, n) => `o${n}`).sort());
  });
});
