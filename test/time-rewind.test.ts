import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer } from './support/events';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  pipelineView,
  postPipeline,
  setPipelineRunning,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

// `startFrom` an ISO time and `POST /pipelines/:id/rewind` on the local stack, whose mock broker
// answers ListOffsets by timestamp with the log end: the offsets come from the search over
// fetched record timestamps (libs/kafka time-offset.ts).

const PARTITIONS = 4;
const EVENTS = 1_200;
const T0 = Date.UTC(2026, 0, 1, 9);
/** Event i has Kafka timestamp (and `ts`) T0 + i s; the cut is at event CUT. */
const CUT = 700;

const cutMs = T0 + CUT * 1_000;
/** A second cut, for the rewind of a stopped pipeline. */
const CUT2 = 1_000;
const cut2Ms = T0 + CUT2 * 1_000;

const idOf = (i: number) => `e-${i}`;

/** Events 0..EVENTS-1, each sent with an explicit Kafka timestamp equal to its `ts`, in several
 * requests per partition so a partition holds several record batches. */
async function produceTimed(topic: string): Promise<void> {
  const { producer, close } = await connectProducer(testStackEnv().KAFKA_BROKERS);
  try {
    for (let from = 0; from < EVENTS; from += 100) {
      const messages = [];
      for (let i = from; i < from + 100; i++) {
        const time = T0 + i * 1_000;
        const value = JSON.stringify({
          event_id: idOf(i),
          ts: new Date(time).toISOString(),
          user_id: i,
          project: 'p',
          action: 'click',
          amount: 1,
        });
        messages.push({ value, partition: i % PARTITIONS, timestamp: String(time) });
      }
      await producer.send({ topic, messages });
    }
  } finally {
    await close();
  }
}

/** POST /pipelines/:id/rewind; a rewind waits for the actors, the outbox and the group. */
async function rewind(app: SluiceProcess, id: string, ms: number) {
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines/${id}/rewind`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: new Date(ms).toISOString() }),
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The rewind's plan when every partition reads again from event `cut` on (offset cut / 4). */
function rewoundFrom(topic: string, cut: number) {
  return Array.from({ length: PARTITIONS }, (_, partition) => ({
    topic,
    partition,
    timeOffset: cut / PARTITIONS,
    offset: cut / PARTITIONS,
    found: 'search',
  }));
}

function expectIds(ids: Map<string, number>, from: number): void {
  const expected = Array.from({ length: EVENTS - from }, (_, i) => idOf(from + i));
  const missing = expected.filter((e) => !ids.has(e));
  const unexpected = [...ids.keys()].filter((e) => !expected.includes(e));
  const doubled = [...ids].filter(([, n]) => n !== 1).map(([e]) => e);
  expect({
    missing: missing.slice(0, 20),
    unexpected: unexpected.slice(0, 20),
    doubled: doubled.slice(0, 20),
    rows: [...ids.values()].reduce((a, b) => a + b, 0),
  }).toEqual({ missing: [], unexpected: [], doubled: [], rows: expected.length });
}

// Each rewind waits for the stopped consumers to leave the group, and they for the rewind's member:
// a short session (SHORT_GROUP_SESSION) shortens both waits.
const appEnv = () => ({ ...testStackEnv(), ...SHORT_GROUP_SESSION });

describe('start from a time, rewind to a time', () => {
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  const pipelines: string[] = [];

  beforeAll(async () => {
    ch = clickhouse();
    app = await SluiceProcess.start({ env: appEnv() });
  });
  afterAll(async () => {
    for (const id of pipelines) if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await ch.close();
  });

  it('startFrom an ISO time reads exactly the events stamped at or after it', async () => {
    const topic = uniqueName('timed');
    const table = uniqueName('events');
    const id = uniquePipelineId('start');
    await createSourceTopic(topic, PARTITIONS);
    await createEventsTable(ch, table);
    await produceTimed(topic);

    const definition = dedupPipeline(id, topic, table, 4);
    (definition.source as { topics: Record<string, unknown>[] }).topics[0]!.startFrom =
      // Another zone than UTC: stored and applied as the same instant.
      new Date(T0 + CUT * 1_000).toISOString().replace('Z', '+00:00');
    await postPipeline(app, definition);
    pipelines.push(id);

    const counters = await waitForSettled(app, id, EVENTS - CUT, 120_000);
    // Nothing before the time was consumed at all (not read and filtered).
    expect(counters).toMatchObject({ consumed: EVENTS - CUT, written: EVENTS - CUT });
    expectIds(await tableIds(ch, table), CUT);
  });

  it('rows deleted from a time on, then a rewind to it: each row back exactly once', async () => {
    const topic = uniqueName('rewound');
    const table = uniqueName('events');
    const id = uniquePipelineId('rewind');
    await createSourceTopic(topic, PARTITIONS);
    await createEventsTable(ch, table);
    await produceTimed(topic);
    await postPipeline(app, dedupPipeline(id, topic, table, 4));
    pipelines.push(id);
    await waitForSettled(app, id, EVENTS, 120_000);
    expectIds(await tableIds(ch, table), 0);

    // The user's half of the recipe (README "Rewind"): delete the rows from the time on.
    await ch.command({
      query: `DELETE FROM ${table} WHERE ts >= fromUnixTimestamp64Milli(${cutMs}, 'UTC')`,
    });
    expect((await tableIds(ch, table)).size).toBe(CUT);

    expect(await rewind(app, id, cutMs)).toMatchObject({
      status: 200,
      body: {
        to: new Date(cutMs).toISOString(),
        status: 'running',
        // Every event from the cut on was recorded by dedup, so each key is forgotten.
        forgotten: EVENTS - CUT,
        // Event i is offset i / 4 of partition i % 4; the mock's ListOffsets answers the log
        // end, so the offsets come from the search.
        partitions: rewoundFrom(topic, CUT),
      },
    });

    // Read again, not dropped as duplicates of the deleted rows: written once more each.
    const counters = await waitForSettled(app, id, EVENTS + (EVENTS - CUT), 120_000);
    expect(counters).toMatchObject({ duplicates: 0, written: EVENTS + (EVENTS - CUT) });
    expectIds(await tableIds(ch, table), 0);

    // The recipe for a stopped pipeline: stop, rewind (it stays stopped), delete, resume.
    await setPipelineRunning(app, id, false);
    const second = await rewind(app, id, cut2Ms);
    expect(second).toMatchObject({
      status: 200,
      body: { status: 'stopped', forgotten: EVENTS - CUT2, partitions: rewoundFrom(topic, CUT2) },
    });
    expect((await pipelineView(app, id)).status).toBe('stopped');
    await ch.command({
      query: `DELETE FROM ${table} WHERE ts >= fromUnixTimestamp64Milli(${cut2Ms}, 'UTC')`,
    });
    await setPipelineRunning(app, id, true);
    const total = EVENTS + (EVENTS - CUT) + (EVENTS - CUT2);
    expect(await waitForSettled(app, id, total, 120_000)).toMatchObject({
      duplicates: 0,
      written: total,
    });
    expectIds(await tableIds(ch, table), 0);
  });

  it('a rewind whose process is killed mid-way is finished by sending it again', async () => {
    const topic = uniqueName('crashed');
    const table = uniqueName('events');
    const id = uniquePipelineId('crash');
    await createSourceTopic(topic, PARTITIONS);
    await createEventsTable(ch, table);
    await produceTimed(topic);
    await postPipeline(app, dedupPipeline(id, topic, table, 4));
    pipelines.push(id);
    await waitForSettled(app, id, EVENTS, 120_000);
    await ch.command({
      query: `DELETE FROM ${table} WHERE ts >= fromUnixTimestamp64Milli(${cutMs}, 'UTC')`,
    });

    // SIGKILL while the rewind runs: the pipeline is stopped and the rewind waits for the group.
    const first = rewind(app, id, cutMs).catch(() => 'no answer' as const);
    await app.waitFor(
      async () => (await pipelineView(app, id)).status === 'stopped',
      30_000,
      'the rewind to stop the pipeline',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await app.kill();
    expect(await first).toBe('no answer');
    app = await SluiceProcess.start({ env: appEnv() });

    // Half done: not resumable, and no rewind to another time, until this one is finished.
    const url = `http://127.0.0.1:${app.port}/api/v1/pipelines/${id}`;
    const post = { method: 'POST', headers: { 'content-type': 'application/json' } };
    const resumed = await fetch(`${url}/resume`, post);
    expect(resumed.status).toBe(409);
    expect(((await resumed.json()) as { message: string }).message).toMatch(
      /rewind to .* is not finished/,
    );
    expect((await rewind(app, id, cut2Ms)).status).toBe(409);

    const again = await rewind(app, id, cutMs);
    expect(again).toMatchObject({
      status: 200,
      body: { status: 'running', partitions: rewoundFrom(topic, CUT) },
    });
    const total = EVENTS + (EVENTS - CUT);
    expect(await waitForSettled(app, id, total, 120_000)).toMatchObject({
      duplicates: 0,
      written: total,
    });
    expectIds(await tableIds(ch, table), 0);
  });
});
