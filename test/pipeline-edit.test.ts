import type { ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import { stringify } from 'yaml';
import { keys } from '@sluice/redis';
import { connectProducer } from './support/events';
import { scrape, total } from './support/metrics';
import {
  clickhouse,
  countersOf,
  createSourceTopic,
  deletePipeline,
  postPipeline,
  settled,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// PUT /pipelines/:id (README "Editing a pipeline"): an edit under load takes effect at a
// checkpoint boundary of each partition, so every event is written once or filtered once, and
// every row obeys the definition version that wrote it (its `marker` column is the version).

const EVENTS = 20_000;
/** Every 40th event is sent twice: the dedup counts it once as a duplicate. */
const REPEAT_EVERY = 40;
const PARTITIONS = 4;
const T0 = Date.parse('2026-01-01T00:00:00Z');
/** The sink password is a reference (empty in the app's environment): GET shows it as ***. */
const PASSWORD_REF = '${env:EDIT_TEST_CH_PASSWORD}';

/** Per version: the filter, and the transform of `n` into `score` (checked again below). */
const VERSIONS = {
  1: {
    filter: 'int(n) % 2 == 0',
    score: 'int(n)',
    keeps: (n: number) => n % 2 === 0,
    f: (n: number) => n,
  },
  2: {
    filter: 'int(n) % 3 == 0',
    score: 'int(n)',
    keeps: (n: number) => n % 3 === 0,
    f: (n: number) => n,
  },
  3: {
    filter: 'int(n) % 3 == 0',
    score: 'int(n) * 10',
    keeps: (n: number) => n % 3 === 0,
    f: (n: number) => n * 10,
  },
} as const;
type Version = keyof typeof VERSIONS;

interface Answer {
  status: number;
  etag: string | null;
  body: {
    version?: number;
    changed?: boolean;
    partitionVersions?: (number | null)[];
    errors?: { path: string; message: string }[];
    definition?: { filter?: string };
  } & Record<string, unknown>;
}

describe('editing a pipeline in place', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let producer: Producer;
  let closeProducer: () => Promise<void>;
  const id = uniquePipelineId('edit');
  const topic = uniqueName('edit');
  const table = uniqueName('edit');

  const definition = (version: Version) => ({
    id,
    source: {
      kafka: { brokers: env.KAFKA_BROKERS.split(',') },
      topics: [{ name: topic, eventTime: 'ts' }],
    },
    partitions: PARTITIONS,
    filter: VERSIONS[version].filter,
    // Version 2 also widens the dedup window, version 3 shrinks the batches: both live changes.
    dedup: { key: 'event_id', window: version === 1 ? '1h' : '2h' },
    transform: { columns: { marker: String(version), score: VERSIONS[version].score } },
    sink: {
      clickhouse: {
        url: env.CLICKHOUSE_URL,
        table,
        password: PASSWORD_REF,
        // Small, quick batches: many checkpoints for an edit to fall between.
        batch: { maxRows: version === 3 ? 300 : 500, maxDelay: '100ms' },
      },
    },
  });

  async function put(
    body: unknown,
    headers: Record<string, string>,
    query = '',
    type = 'application/json',
  ): Promise<Answer> {
    const response = await fetch(`http://127.0.0.1:${app!.port}/api/v1/pipelines/${id}${query}`, {
      method: 'PUT',
      headers: { 'content-type': type, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: response.status,
      etag: response.headers.get('etag'),
      body: (await response.json()) as Answer['body'],
    };
  }

  async function current(): Promise<Answer> {
    const response = await fetch(`http://127.0.0.1:${app!.port}/api/v1/pipelines/${id}`);
    return {
      status: response.status,
      etag: response.headers.get('etag'),
      body: (await response.json()) as Answer['body'],
    };
  }

  /** Waits until every partition's last checkpoint ran `version`. */
  async function reached(version: number): Promise<void> {
    let seen: unknown;
    await app!.waitFor(
      async () => {
        seen = (await current()).body.partitionVersions;
        return Array.isArray(seen) && seen.every((v) => v === version);
      },
      30_000,
      () => `every partition at version ${version} (${JSON.stringify(seen)})`,
    );
  }

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    ({ producer, close: closeProducer } = await connectProducer(env.KAFKA_BROKERS));
    await createSourceTopic(topic, PARTITIONS);
    await ch.command({
      query: `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC'), n UInt32,
              marker UInt8, score Int64) ENGINE = MergeTree ORDER BY event_id
              SETTINGS non_replicated_deduplication_window = 10000`,
    });
    app = await SluiceProcess.start({ env: { ...env, EDIT_TEST_CH_PASSWORD: '' } });
    await postPipeline(app, definition(1));
  });

  afterAll(async () => {
    if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await closeProducer();
    redis.disconnect();
    await ch.command({ query: `DROP TABLE IF EXISTS ${table}` }).catch(() => undefined);
    await ch.close();
  });

  it('changes the filter, then the transform, under load: each event once, by one version', async () => {
    const first = await current();
    expect(first).toMatchObject({ status: 200, etag: '"1"', body: { version: 1 } });
    let produced = 0;
    const messages: string[] = [];
    for (let n = 0; n < EVENTS; n++) {
      const event = JSON.stringify({ event_id: `e${n}`, ts: new Date(T0 + n).toISOString(), n });
      messages.push(event);
      if (n % REPEAT_EVERY === 0) messages.push(event);
    }
    // About 1,000 events a second, while the edits are made.
    const producing = (async () => {
      for (let i = 0; i < messages.length; i += 250) {
        const slice = messages.slice(i, i + 250);
        await producer.send({
          topic,
          messages: slice.map((value, j) => ({ value, partition: (i + j) % PARTITIONS })),
        });
        produced = i + slice.length;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const untilProduced = (count: number) =>
      app!.waitFor(() => Promise.resolve(produced >= count), 60_000, `${count} produced`);

    await untilProduced(messages.length / 4);
    const second = await put(definition(2), { 'if-match': first.etag! });
    expect(second).toMatchObject({ status: 200, etag: '"2"', body: { version: 2, changed: true } });
    await reached(2);
    expect(produced).toBeLessThan(messages.length);

    await untilProduced(messages.length / 2);
    // The transform change as YAML, the way a file is often kept.
    const yaml = stringify(definition(3));
    const third = await put(yaml, { 'if-match': '"2"' }, '', 'application/yaml');
    expect(third).toMatchObject({ status: 200, etag: '"3"', body: { version: 3, changed: true } });
    await reached(3);
    expect(produced).toBeLessThan(messages.length);
    await producing;

    let counters = await countersOf(app!, id);
    await app!.waitFor(
      async () => {
        counters = await countersOf(app!, id);
        return counters.consumed === messages.length && settled(counters);
      },
      120_000,
      () => `every event settled (${JSON.stringify(counters)})`,
    );
    const repeats = Math.ceil(EVENTS / REPEAT_EVERY);
    expect(counters.deadLettered).toBe(0);
    expect(counters.duplicates).toBeLessThanOrEqual(repeats);

    const result = await ch.query({
      query: `SELECT event_id, n, marker, score FROM ${table}`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{
      event_id: string;
      n: number;
      marker: number;
      score: string;
    }>();
    const byId = new Map<string, number>();
    const perVersion: Record<number, number> = { 1: 0, 2: 0, 3: 0 };
    const disobey: unknown[] = [];
    for (const row of rows) {
      byId.set(row.event_id, (byId.get(row.event_id) ?? 0) + 1);
      const v = VERSIONS[row.marker as Version];
      perVersion[row.marker] = (perVersion[row.marker] ?? 0) + 1;
      if (!v || !v.keeps(row.n) || Number(row.score) !== v.f(row.n)) disobey.push(row);
    }
    expect(disobey.slice(0, 10)).toEqual([]);
    expect([...byId].filter(([, c]) => c > 1).slice(0, 10)).toEqual([]);
    expect(rows.length).toBe(counters.written);
    // Each version wrote, and what it wrote is what the metric counted under its label. Only
    // this pipeline's series: the process also writes for pipelines earlier tests left in the
    // shared stack (owner.test.ts leaves batches no writer took), under their own version 1.
    const metrics = await scrape(app!);
    for (const version of [1, 2, 3]) {
      expect(perVersion[version]).toBeGreaterThan(0);
      const labels = [`pipeline="${id}"`, `definition_version="${version}"`];
      expect(total(metrics, 'sluice_events_written_total', labels)).toBe(perVersion[version]);
    }
    // An event every version keeps was written, one none keeps was not, whichever version saw it.
    for (let n = 0; n < EVENTS; n++) {
      const all = ([1, 2, 3] as const).every((v) => VERSIONS[v].keeps(n));
      const none = ([1, 2, 3] as const).every((v) => !VERSIONS[v].keeps(n));
      if (all && !byId.has(`e${n}`)) throw new Error(`e${n} kept by every version is missing`);
      if (none && byId.has(`e${n}`)) throw new Error(`e${n} kept by no version was written`);
    }
    // Filter, transform, window and batch are the actors' business: the group never rejoined.
    expect(app!.text()).not.toContain(`stopping the consumer of pipeline ${id}`);
    // Every event was consumed once and its repeat counted, then written or filtered once.
    expect(counters.written + counters.filtered + counters.duplicates).toBe(messages.length);
    expect(new Set(rows.map((r) => r.event_id)).size + counters.filtered).toBe(
      messages.length - counters.duplicates,
    );
  }, 240_000);

  it('needs If-Match (428), refuses a stale one (412) and a key change (409)', async () => {
    const now = await current();
    expect(now.etag).toBe('"3"');
    const missing = await put(definition(3), {});
    expect(missing).toMatchObject({
      status: 428,
      body: {
        statusCode: 428,
        error: 'Precondition Required',
        message: expect.stringContaining('"3"'),
      },
    });
    const stale = await put(definition(3), { 'if-match': '"2"' });
    expect(stale).toMatchObject({
      status: 412,
      etag: '"3"',
      body: { statusCode: 412, error: 'Precondition Failed' },
    });
    const rekeyed = { ...definition(3), dedup: { key: 'string(n)', window: '2h' } };
    const conflict = await put(rekeyed, { 'if-match': '"3"' });
    expect(conflict).toMatchObject({
      status: 409,
      body: {
        statusCode: 409,
        error: 'Conflict',
        errors: [expect.objectContaining({ path: 'dedup' })],
      },
    });
    const moved = await put({ ...definition(3), partitions: 8 }, { 'if-match': '"3"' });
    expect(moved.status).toBe(409);
    expect(moved.body.errors?.map((e) => e.path)).toEqual(['partitions']);
    const renamed = await put({ ...definition(3), id: 'other' }, { 'if-match': '"3"' });
    expect(renamed.status).toBe(400);
    // The same definition again: nothing to store, the version stays.
    const same = await put(definition(3), { 'if-match': '"3"' });
    expect(same).toMatchObject({ status: 200, etag: '"3"', body: { version: 3, changed: false } });
    // GET, then PUT back what it showed: the secret shown as *** keeps the stored reference.
    const shown = (await current()).body.definition as {
      sink: { clickhouse: { password: string } };
    };
    expect(shown.sink.clickhouse.password).toBe('***');
    const back = await put(shown, { 'if-match': '"3"' });
    expect(back).toMatchObject({ status: 200, body: { version: 3, changed: false } });
    const stored = JSON.parse((await redis.hget(keys.pipelines(), id))!) as typeof shown;
    expect(stored.sink.clickhouse.password).toBe(PASSWORD_REF);
    expect((await current()).body.version).toBe(3);
  });

  it('dry run: every check, nothing stored in Redis or written to the table', async () => {
    const stored = async () => ({
      definition: await redis.hget(keys.pipelines(), id),
      version: await redis.hget(keys.pipelineVersions(), id),
      reloads: await redis.get(keys.pipelinesVersion()),
      rows: await ch
        .query({ query: `SELECT count() AS c FROM ${table}`, format: 'JSONEachRow' })
        .then((r) => r.json()),
    });
    const before = await stored();
    const edited = { ...definition(3), filter: 'int(n) % 5 == 0' };
    const dry = await put(edited, {}, '?dryRun=true');
    expect(dry).toMatchObject({
      status: 200,
      etag: '"3"',
      body: {
        id,
        dryRun: true,
        version: 3,
        changed: true,
        definition: { filter: 'int(n) % 5 == 0' },
      },
    });
    // The live-change rules and the table checks run too.
    const badKey = await put({ ...edited, dedup: { key: 'n', window: '2h' } }, {}, '?dryRun=true');
    expect(badKey.status).toBe(409);
    const badColumn = await put(
      { ...edited, transform: { columns: { nope: '1' } } },
      {},
      '?dryRun=true',
    );
    expect(badColumn.status).toBe(400);
    expect(badColumn.body.errors?.map((e) => e.path)).toContain('transform.columns.nope');
    const after = await stored();
    expect(after).toEqual(before);
    expect(JSON.parse(after.definition!)).toMatchObject({ filter: VERSIONS[3].filter });
  });
});
