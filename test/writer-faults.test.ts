import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { readHolds } from '@sluice/redis';
import Redis from 'ioredis';
import type { Producer } from 'kafkajs';
import { connectProducer, produceAll } from './support/events';
import { scrape, total } from './support/metrics';
import {
  clickhouse,
  countersOf,
  createSourceTopic,
  deadLettersOf,
  dedupPipeline,
  deletePipeline,
  postPipeline,
  tableIds,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// ClickHouse faults on the writer path, end to end: rows a table refuses, a server that fails
// for reasons that are not the rows', and a table changed under a running pipeline.

const PARTITIONS = 4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Failure {
  code: number;
  type: string;
  message: string;
}

/**
 * Between Sluice and ClickHouse: passes every request through, or answers INSERTs the way
 * ClickHouse answers a failed query (HTTP 500, X-ClickHouse-Exception-Code, `Code: N.
 * DB::Exception: ... (TYPE) (version ...)`) while `failing` is set. Reads (DESCRIBE, the
 * exactly-once check) always pass, as they do on a server whose disk is full.
 */
class ClickHouseProxy {
  failing: Failure | undefined;
  refused = 0;
  private server: Server | undefined;

  constructor(private readonly target: URL) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const query = new URL(req.url ?? '/', 'http://proxy').searchParams.get('query') ?? '';
    const failure = this.failing;
    if (failure !== undefined && /^\s*INSERT\b/i.test(query)) {
      req.resume();
      req.on('end', () => {
        this.refused += 1;
        res.writeHead(500, {
          'Content-Type': 'text/plain; charset=UTF-8',
          'X-ClickHouse-Exception-Code': String(failure.code),
          'X-ClickHouse-Server-Display-Name': 'proxy',
        });
        res.end(
          `Code: ${failure.code}. DB::Exception: ${failure.message}. (${failure.type}) (version 26.7.1.1 (official build))\n`,
        );
      });
      return;
    }
    const upstream = request(
      {
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }
}

interface EventSpec {
  id: string;
  amount?: number;
  extra?: string;
  code?: number | string;
}

function event(e: EventSpec, i: number): string {
  return JSON.stringify({
    event_id: e.id,
    ts: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    user_id: 1000 + (i % 50),
    project: `p${i % 3}`,
    action: 'click',
    amount: e.amount ?? 1.5,
    ...(e.extra === undefined ? {} : { extra: e.extra }),
    ...(e.code === undefined ? {} : { code: e.code }),
  });
}

describe('ClickHouse faults on the writer path', () => {
  const env = testStackEnv();
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  let producer: Producer;
  let closeProducer: () => Promise<void>;
  const pipelines: string[] = [];

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    ({ producer, close: closeProducer } = await connectProducer(env.KAFKA_BROKERS));
    app = await SluiceProcess.start({
      env: { ...env, WRITER_STUCK_AFTER_MS: '2000', SCHEMA_REFRESH_MS: '1000' },
    });
  });

  afterAll(async () => {
    for (const id of pipelines) if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await closeProducer?.();
    await ch?.close();
    redis?.disconnect();
  });

  async function start(
    table: string,
    url = env.CLICKHOUSE_URL,
  ): Promise<{ id: string; topic: string }> {
    const id = uniquePipelineId('wf');
    const topic = uniqueName('wf_events');
    await createSourceTopic(topic, PARTITIONS);
    const definition = dedupPipeline(id, topic, table, PARTITIONS) as {
      sink: { clickhouse: Record<string, unknown> };
    };
    definition.sink.clickhouse.url = url;
    await postPipeline(app, definition);
    pipelines.push(id);
    return { id, topic };
  }

  it('dead-letters exactly the rows a CHECK constraint refuses, with its message, and writes the rest', async () => {
    const table = uniqueName('wf_check');
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), user_id UInt32,
                project LowCardinality(String), action String, amount Float64,
                CONSTRAINT amount_not_negative CHECK amount >= 0)
              ENGINE = MergeTree ORDER BY event_id SETTINGS non_replicated_deduplication_window = 1000`,
    });
    const { id, topic } = await start(table);
    const bad = new Set([7, 123, 500, 501, 999]);
    const messages = Array.from({ length: 1_000 }, (_, i) =>
      event({ id: `c-${i}`, amount: bad.has(i) ? -1 : i }, i),
    );
    await produceAll(producer, topic, PARTITIONS, messages);

    const counters = await waitForSettled(app, id, 1_000, 120_000);
    expect(counters).toMatchObject({ consumed: 1_000, written: 995, deadLettered: 5 });
    const ids = await tableIds(ch, table);
    expect(ids.size).toBe(995);
    expect([...ids.values()].every((n) => n === 1)).toBe(true);
    for (const i of bad) expect(ids.has(`c-${i}`)).toBe(false);
    const letters = await deadLettersOf(app, id);
    expect(
      letters.map((l) => (JSON.parse(l.message) as { event_id: string }).event_id).sort(),
    ).toEqual([...bad].map((i) => `c-${i}`).sort());
    for (const letter of letters) {
      expect(letter.stage).toBe('insert');
      expect(letter.error).toMatch(/\(469\).*amount_not_negative/);
    }
  });

  it('retries infrastructure errors (disk full, an unknown code) without dead-lettering, reports the batch stuck, then lands everything once', async () => {
    const table = uniqueName('wf_infra');
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), user_id UInt32,
                project LowCardinality(String), action String, amount Float64)
              ENGINE = MergeTree ORDER BY event_id SETTINGS non_replicated_deduplication_window = 1000`,
    });
    const proxy = new ClickHouseProxy(new URL(env.CLICKHOUSE_URL));
    const proxyUrl = await proxy.start();
    try {
      const { id, topic } = await start(table, proxyUrl);
      proxy.failing = {
        code: 243,
        type: 'NOT_ENOUGH_SPACE',
        message: 'Cannot reserve 1.00 MiB, not enough space',
      };
      const messages = Array.from({ length: 300 }, (_, i) => event({ id: `i-${i}` }, i));
      await produceAll(producer, topic, PARTITIONS, messages);

      await app.waitFor(
        async () => (await readHolds(redis, id)).some((h) => h.reason === 'stuck'),
        60_000,
        'a stuck hold',
      );
      const stuck = (await readHolds(redis, id)).filter((h) => h.reason === 'stuck');
      expect(stuck[0]?.detail).toMatch(/NOT_ENOUGH_SPACE \(243\)/);
      expect(stuck[0]?.partition).toEqual(expect.any(Number));
      let metrics = await scrape(app);
      expect(total(metrics, 'sluice_insert_retries_total', 'code="243"')).toBeGreaterThan(0);
      expect(total(metrics, 'sluice_insert_stuck_total', `pipeline="${id}"`)).toBeGreaterThan(0);
      expect(await countersOf(app, id)).toMatchObject({ written: 0, deadLettered: 0 });

      // A code this Sluice has never heard of: not known to be about the rows, so retried too.
      proxy.failing = { code: 9_876, type: 'SOMETHING_NEW', message: 'A failure from the future' };
      const refusedBefore = proxy.refused;
      await app.waitFor(
        () => Promise.resolve(proxy.refused > refusedBefore + 4),
        30_000,
        'retries',
      );
      metrics = await scrape(app);
      expect(total(metrics, 'sluice_insert_retries_total', 'code="9876"')).toBeGreaterThan(0);
      expect(await countersOf(app, id)).toMatchObject({ written: 0, deadLettered: 0 });
      expect(await deadLettersOf(app, id)).toEqual([]);

      proxy.failing = undefined;
      const counters = await waitForSettled(app, id, 300, 60_000);
      expect(counters).toMatchObject({ consumed: 300, written: 300, deadLettered: 0 });
      const ids = await tableIds(ch, table);
      expect(ids.size).toBe(300);
      expect([...ids.values()].every((n) => n === 1)).toBe(true);
      await app.waitFor(
        async () => !(await readHolds(redis, id)).some((h) => h.reason === 'stuck'),
        30_000,
        'the stuck hold cleared',
      );
    } finally {
      await proxy.stop();
    }
  });

  it('follows columns added, dropped and retyped while events flow: exact rows, no dead letters', async () => {
    const table = uniqueName('wf_drift');
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), user_id UInt32,
                project LowCardinality(String), action String, amount Float64, code UInt32)
              ENGINE = MergeTree ORDER BY event_id SETTINGS non_replicated_deduplication_window = 1000`,
    });
    const { id, topic } = await start(table);
    // Every event carries `extra` (no column yet) and `code`: a number until well after `code`
    // became a String, then text only the new type takes.
    const produced: { id: string; at: number; code: number | string }[] = [];
    let phase: 'number' | 'text' = 'number';
    let producing = true;
    const feed = (async () => {
      for (let i = 0; producing; i++) {
        const batch = Array.from({ length: 40 }, (_, j) => {
          const n = i * 40 + j;
          const code = phase === 'number' ? n : `code-${n}`;
          produced.push({ id: `d-${n}`, at: Date.now(), code });
          return event({ id: `d-${n}`, extra: `x-${n}`, code }, n);
        });
        await produceAll(producer, topic, PARTITIONS, batch);
        await sleep(100);
      }
    })();
    try {
      await sleep(1_500);
      await ch.command({ query: `ALTER TABLE ${table} ADD COLUMN extra String` });
      const addedAt = Date.now();
      await sleep(1_500);
      await ch.command({ query: `ALTER TABLE ${table} DROP COLUMN action` });
      await sleep(1_500);
      await ch.command({ query: `ALTER TABLE ${table} MODIFY COLUMN code String` });
      const retypedAt = Date.now();
      await sleep(3_000);
      phase = 'text';
      await sleep(2_000);
      producing = false;
      await feed;

      const counters = await waitForSettled(app, id, produced.length, 120_000);
      expect(counters).toMatchObject({ written: produced.length, deadLettered: 0 });
      expect(await deadLettersOf(app, id)).toEqual([]);
      const result = await ch.query({
        query: `SELECT event_id, extra, code, count() AS n FROM ${table} GROUP BY event_id, extra, code`,
        format: 'JSONEachRow',
      });
      const rows = new Map(
        (await result.json<{ event_id: string; extra: string; code: string; n: string }>()).map(
          (r) => [r.event_id, r],
        ),
      );
      expect(rows.size).toBe(produced.length);
      for (const p of produced) {
        const row = rows.get(p.id);
        expect(Number(row?.n)).toBe(1);
        // Built after the owner described the table again (every second): the field is filled.
        if (p.at > addedAt + 3_000) expect(row?.extra).toBe(`x-${p.id.slice(2)}`);
        expect(row?.code).toBe(String(p.code));
      }
      expect(produced.some((p) => typeof p.code === 'string' && p.at > retypedAt)).toBe(true);
    } finally {
      producing = false;
      await feed.catch(() => undefined);
    }
  });

  it("holds the pipeline ('table') while its table is gone or cannot deduplicate, then lands everything once", async () => {
    const table = uniqueName('wf_table');
    const create = (settings: string) =>
      ch.command({
        query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), user_id UInt32,
                  project LowCardinality(String), action String, amount Float64)
                ENGINE = MergeTree ORDER BY event_id ${settings}`,
      });
    await create('SETTINGS non_replicated_deduplication_window = 1000');
    const { id, topic } = await start(table);
    const tableHold = async () => (await readHolds(redis, id)).find((h) => h.reason === 'table');
    // Running first: its actors have described the table and write into it.
    await produceAll(producer, topic, PARTITIONS, [event({ id: 't-warm' }, 0)]);
    await waitForSettled(app, id, 1, 60_000);

    await ch.command({ query: `DROP TABLE ${table} SYNC` });
    await produceAll(producer, topic, PARTITIONS, [
      event({ id: 't-0' }, 0),
      event({ id: 't-1' }, 1),
    ]);
    await app.waitFor(async () => (await tableHold()) !== undefined, 30_000, 'a table hold');
    expect((await tableHold())?.detail).toMatch(/does not exist/);

    // Recreated without a deduplication window: still held, now saying what to set.
    await create('');
    await app.waitFor(
      async () => /deduplication window/.test((await tableHold())?.detail ?? ''),
      30_000,
      'the hold naming the missing window',
    );
    expect((await tableHold())?.detail).toMatch(/non_replicated_deduplication_window = 1000/);
    expect(await countersOf(app, id)).toMatchObject({ written: 1, deadLettered: 0 });

    await ch.command({
      query: `ALTER TABLE ${table} MODIFY SETTING non_replicated_deduplication_window = 1000`,
    });
    const counters = await waitForSettled(app, id, 3, 60_000);
    expect(counters).toMatchObject({ written: 3, deadLettered: 0 });
    const ids = await tableIds(ch, table);
    expect(new Map(ids)).toEqual(
      new Map([
        ['t-0', 1],
        ['t-1', 1],
      ]),
    );
    await app.waitFor(async () => (await tableHold()) === undefined, 30_000, 'the hold cleared');
  });
});
