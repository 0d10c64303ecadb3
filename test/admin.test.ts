import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import {
  deadLetterEntry,
  keys,
  setHold,
  type StoredDeadLetter as DeadLetterView,
} from '@sluice/redis';
import { createTopic, produceMessages } from '@sluice/stack';
import Redis from 'ioredis';
import { scrape } from './support/metrics';
import { TEST_STACK_DIR } from './support/paths';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// A writer-only process: admin REST runs in every process, and without consumer or owner no
// pipeline created here starts moving data (or writing keys) behind the test's back.
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const name = (what: string) => `adm_${RUN}_${what}`;
const pipelineId = (what: string) => `adm-${RUN}-${what}`;

interface Body {
  statusCode?: number;
  error?: string;
  message?: string;
  errors?: { path: string; message: string }[];
  id?: string;
  status?: string;
  definition?: { partitions: number; dedup?: unknown };
  counters?: Record<string, number>;
  otherCounters?: Record<string, number>;
  lag?: number | null;
}

async function api<T = Body>(
  app: SluiceProcess,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<{ status: number; body: T }> {
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1${path}`, {
    method,
    // Every POST states its body type: without one it is refused (415, see test/auth.test.ts).
    headers: method === 'POST' || body !== undefined ? { 'content-type': contentType } : {},
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

interface Definition {
  id: string;
  sink: { clickhouse: Record<string, unknown> };
  [field: string]: unknown;
}

function definition(id: string, table: string, extra: Record<string, unknown> = {}): Definition {
  const env = testStackEnv();
  return {
    id,
    source: {
      kafka: { brokers: env.KAFKA_BROKERS.split(',') },
      topics: [{ name: name('topic'), eventTime: 'ts' }],
    },
    partitions: 4,
    dedup: { key: 'event_id', window: '24h' },
    sink: { clickhouse: { url: env.CLICKHOUSE_URL, table } },
    ...extra,
  };
}

function pathsOf(body: Body): string[] {
  return (body.errors ?? []).map((e) => e.path);
}

function errorAt(body: Body, path: string): string {
  return (body.errors ?? []).find((e) => e.path === path)?.message ?? '';
}

async function scanAll(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

const EVENTS_COLUMNS = `event_id String, ts DateTime64(3, 'UTC'), project String, amount Float64`;

describe('admin REST API', () => {
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  const table = name('events');
  const noWindow = name('nowindow');
  const viewSource = name('mv_source');
  const viewTarget = name('mv_target');
  const view = name('mv');

  const start = () => {
    const { REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS } = testStackEnv();
    return SluiceProcess.start({
      env: { ROLES: 'writer', REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS },
    });
  };

  beforeAll(async () => {
    const env = testStackEnv();
    ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 60_000 });
    redis = new Redis(env.REDIS_URL);
    const window = 'SETTINGS non_replicated_deduplication_window = 1000';
    for (const query of [
      `CREATE TABLE ${table} (${EVENTS_COLUMNS}) ENGINE = MergeTree ORDER BY event_id ${window}`,
      `CREATE TABLE ${noWindow} (${EVENTS_COLUMNS}) ENGINE = MergeTree ORDER BY event_id`,
      `CREATE TABLE ${viewSource} (${EVENTS_COLUMNS}) ENGINE = MergeTree ORDER BY event_id ${window}`,
      `CREATE TABLE ${viewTarget} (project String, amount Float64) ENGINE = MergeTree ORDER BY project`,
      `CREATE MATERIALIZED VIEW ${view} TO ${viewTarget} AS SELECT project, amount FROM ${viewSource}`,
    ]) {
      await ch.command({ query });
    }
    await createTopic(name('topic'), 3, { dir: TEST_STACK_DIR });
    app = await start();
  });

  afterAll(async () => {
    await app?.stop();
    for (const t of [view, viewTarget, viewSource, noWindow, table]) {
      await ch?.command({ query: `DROP TABLE IF EXISTS ${t}` }).catch(() => undefined);
    }
    await ch?.close();
    redis?.disconnect();
  });

  describe('POST /pipelines validation', () => {
    it('rejects a bad duration at its field path', async () => {
      const res = await api(app, 'POST', '/pipelines', {
        ...definition(pipelineId('bad-duration'), table),
        dedup: { key: 'event_id', window: '10 minutes' },
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(pathsOf(res.body)).toEqual(['dedup.window']);
      expect(errorAt(res.body, 'dedup.window')).toMatch(/invalid duration/);
    });

    it('rejects a dedup window over 7 days', async () => {
      const res = await api(app, 'POST', '/pipelines', {
        ...definition(pipelineId('long-window'), table),
        dedup: { key: 'event_id', window: '8d' },
      });
      expect(res.status).toBe(400);
      expect(pathsOf(res.body)).toEqual(['dedup.window']);
      expect(errorAt(res.body, 'dedup.window')).toMatch(/at most 7d/);
    });

    it('rejects a CEL syntax error with its position', async () => {
      const res = await api(app, 'POST', '/pipelines', {
        ...definition(pipelineId('bad-cel'), table),
        filter: 'amount > && project == "a"',
      });
      expect(res.status).toBe(400);
      expect(pathsOf(res.body)).toEqual(['filter']);
      expect(errorAt(res.body, 'filter')).toMatch(/line 1, column \d+/);
    });

    it('rejects an unknown table', async () => {
      const res = await api(
        app,
        'POST',
        '/pipelines',
        definition(pipelineId('no-table'), name('nope')),
      );
      expect(res.status).toBe(400);
      expect(pathsOf(res.body)).toEqual(['sink.clickhouse.table']);
      expect(errorAt(res.body, 'sink.clickhouse.table')).toMatch(/does not exist/);
    });

    it('rejects an unknown database at the table path', async () => {
      const def = definition(pipelineId('no-db'), table);
      def.sink.clickhouse = { ...def.sink.clickhouse, database: name('nodb') };
      const res = await api(app, 'POST', '/pipelines', def);
      expect(res.status).toBe(400);
      expect(errorAt(res.body, 'sink.clickhouse.table')).toMatch(/database .* does not exist/);
    });

    it('rejects a transform column the table does not have', async () => {
      const res = await api(app, 'POST', '/pipelines', {
        ...definition(pipelineId('no-column'), table),
        transform: { columns: { amount: 'amount * 2.0', amount_cents: 'int(amount * 100.0)' } },
      });
      expect(res.status).toBe(400);
      expect(pathsOf(res.body)).toEqual(['transform.columns.amount_cents']);
    });

    it('rejects a table without a deduplication window, naming the ALTER to run', async () => {
      const res = await api(
        app,
        'POST',
        '/pipelines',
        definition(pipelineId('no-window'), noWindow),
      );
      expect(res.status).toBe(400);
      expect(pathsOf(res.body)).toEqual(['sink.clickhouse.table']);
      expect(errorAt(res.body, 'sink.clickhouse.table')).toContain(
        `ALTER TABLE default.${noWindow} MODIFY SETTING non_replicated_deduplication_window = 1000`,
      );
    });

    it('rejects a table whose materialized view target has no deduplication window', async () => {
      const res = await api(app, 'POST', '/pipelines', definition(pipelineId('mv'), viewSource));
      expect(res.status).toBe(400);
      expect(pathsOf(res.body)).toEqual(['sink.clickhouse.table']);
      const message = errorAt(res.body, 'sink.clickhouse.table');
      expect(message).toContain(`default.${view}`);
      expect(message).toContain(`ALTER TABLE default.${viewTarget} MODIFY SETTING`);
    });

    it('lists every error of the document and of the table in one response', async () => {
      const res = await api(app, 'POST', '/pipelines', {
        ...definition(pipelineId('many'), noWindow),
        partitions: 0,
        dedup: { key: 'event_id', window: '30d' },
        transform: { columns: { nope: '1' } },
      });
      expect(res.status).toBe(400);
      expect(pathsOf(res.body).sort()).toEqual(
        ['dedup.window', 'partitions', 'sink.clickhouse.table', 'transform.columns.nope'].sort(),
      );
    });

    it('answers 503 when the sink ClickHouse cannot be reached', async () => {
      const def = definition(pipelineId('ch-down'), table);
      def.sink.clickhouse = { ...def.sink.clickhouse, url: 'http://127.0.0.1:1' };
      const res = await api(app, 'POST', '/pipelines', def);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
      expect(pathsOf(res.body)).toEqual(['sink.clickhouse.url']);
    });

    it('accepts YAML and reports YAML definition errors by path', async () => {
      const env = testStackEnv();
      const id = pipelineId('yaml');
      const yaml = [
        `id: ${id}`,
        'source:',
        '  kafka:',
        `    brokers: [${env.KAFKA_BROKERS}]`,
        '  topics:',
        `    - name: ${name('topic')}`,
        'dedup: { key: event_id, window: 1h }',
        'sink:',
        '  clickhouse:',
        `    url: ${env.CLICKHOUSE_URL}`,
        `    table: ${table}`,
        '    password: ""',
        '',
      ].join('\n');
      const created = await api(app, 'POST', '/pipelines', yaml, 'application/yaml');
      expect(created.status).toBe(201);
      expect(created.body.definition?.dedup).toEqual({ key: 'event_id', window: '1h' });

      const bad = yaml.replace(`id: ${id}`, `id: ${pipelineId('yaml2')}`).replace('1h', '8d');
      const rejected = await api(app, 'POST', '/pipelines', bad, 'text/yaml');
      expect(rejected.status).toBe(400);
      expect(pathsOf(rejected.body)).toEqual(['dedup.window']);
      expect(await api(app, 'DELETE', `/pipelines/${id}`)).toMatchObject({ status: 204 });
    });

    it('answers 409 for an id that exists', async () => {
      const id = pipelineId('dup');
      expect((await api(app, 'POST', '/pipelines', definition(id, table))).status).toBe(201);
      const again = await api(app, 'POST', '/pipelines', definition(id, table, { partitions: 8 }));
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
      expect((await api(app, 'GET', `/pipelines/${id}`)).body.definition?.partitions).toBe(4);
      await api(app, 'DELETE', `/pipelines/${id}`);
    });
  });

  it('creates, lists, stops, resumes and deletes a pipeline with all its keys', async () => {
    const id = pipelineId('crud');
    const def = definition(id, table);
    def.sink.clickhouse = { ...def.sink.clickhouse, password: '' };
    const created = await api(app, 'POST', '/pipelines', def);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id, status: 'running' });
    expect(created.body.definition?.partitions).toBe(4);

    // Counters are summed over partitions; lag counts messages no consumer has committed.
    await redis.hincrby(keys.counters(id, 0), 'consumed', 5);
    await redis.hincrby(keys.counters(id, 3), 'consumed', 7);
    await redis.hincrby(keys.counters(id, 3), 'written', 6);
    await redis.hincrby(keys.counters(id, 3), 'outOfOrderDropped', 2);
    const produced = await produceMessages(
      name('topic'),
      Array.from({ length: 9 }, (_, i) => ({ value: JSON.stringify({ event_id: `e${i}` }) })),
      { dir: TEST_STACK_DIR },
    );
    expect(produced.delivered).toBe(9);
    const got = await api(app, 'GET', `/pipelines/${id}`);
    expect(got.status).toBe(200);
    expect(got.body.counters).toEqual({
      consumed: 12,
      filtered: 0,
      duplicates: 0,
      written: 6,
      deadLettered: 0,
    });
    expect(got.body.otherCounters).toEqual({ outOfOrderDropped: 2 });
    expect(got.body.lag).toBe(9);

    const list = await api(app, 'GET', '/pipelines');
    expect(list.body).toEqual(
      expect.arrayContaining([expect.objectContaining({ id, status: 'running' })]),
    );

    expect(await api(app, 'POST', `/pipelines/${id}/stop`)).toEqual({
      status: 200,
      body: { id, status: 'stopped' },
    });
    expect((await api(app, 'GET', `/pipelines/${id}`)).body.status).toBe('stopped');
    expect((await api(app, 'POST', `/pipelines/${id}/resume`)).body.status).toBe('running');
    expect((await api(app, 'GET', `/pipelines/${id}`)).body.status).toBe('running');
    expect((await api(app, 'POST', `/pipelines/${pipelineId('ghost')}/stop`)).status).toBe(404);

    // Every kind of per-partition key the roles write.
    const p = 2;
    await redis
      .multi()
      .xadd(keys.mailbox(id, p), '*', 'e', 'x')
      .hset(keys.checkpoint(id, p), 'cursor', '0-0')
      .set(keys.lease(id, p), 'someone:1')
      .set(keys.epoch(id, p), '1')
      .set(keys.dedupBucket(id, p, 1_000), 'xxxxxxxx')
      .zadd(keys.dedupIndex(id, p), 1_000, '1000')
      .set(keys.outboxBatch(id, p, `${id}.${p}.1.1`), 'rows')
      .sadd(keys.outboxIndex(id, p), `${id}.${p}.1.1`)
      .xadd(keys.deadLetters(id, p), '*', 'stage', 'parse')
      .exec();
    expect((await scanAll(redis, `{sl:${id}:*`)).length).toBeGreaterThanOrEqual(11);

    const deleted = await api(app, 'DELETE', `/pipelines/${id}`);
    expect(deleted.status).toBe(204);
    expect(await scanAll(redis, `{sl:${id}:*`)).toEqual([]);
    expect(await redis.hexists(keys.pipelines(), id)).toBe(0);
    const gone = await api(app, 'GET', `/pipelines/${id}`);
    expect(gone).toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: `pipeline ${id} not found` },
    });
    expect((await api(app, 'DELETE', `/pipelines/${id}`)).status).toBe(404);
  });

  it('shows holds in the status, the list, /health/ready and sluice_partition_held; delete removes them', async () => {
    const id = pipelineId('holds');
    expect((await api(app, 'POST', '/pipelines', definition(id, table))).status).toBe(201);
    const empty = await api<Body & { holds?: unknown }>(app, 'GET', `/pipelines/${id}`);
    expect(empty.body.holds).toEqual([]);

    // Set as the roles set them (through libs/redis holds.ts): one partition, one whole pipeline.
    await setHold(redis, id, { reason: 'dlq-full', partition: 2, detail: 'dlq 20/20 entries' });
    await setHold(redis, id, { reason: 'table', partition: null, detail: 'table dropped' });
    const got = await api<Body & { holds?: Record<string, unknown>[] }>(
      app,
      'GET',
      `/pipelines/${id}`,
    );
    expect(got.body.holds).toEqual([
      { partition: null, reason: 'table', detail: 'table dropped', since: expect.any(String) },
      { partition: 2, reason: 'dlq-full', detail: 'dlq 20/20 entries', since: expect.any(String) },
    ]);
    const list = await api<{ id: string; holds: unknown }[]>(app, 'GET', '/pipelines');
    expect(list.body.find((p) => p.id === id)?.holds).toEqual({
      count: 2,
      reasons: ['dlq-full', 'table'],
    });

    // Reported, never failed on: the process stays ready (a restart would not clear a hold).
    const ready = await app.get('/health/ready');
    expect(ready.status).toBe(200);
    const report = (ready.body as { info: { holds: { status: string; holds: unknown[] } } }).info
      .holds;
    expect(report.status).toBe('up');
    expect(report.holds).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ pipeline: id, partition: 2, reason: 'dlq-full' }),
        expect.objectContaining({ pipeline: id, partition: null, reason: 'table' }),
      ]),
    );
    const metrics = await scrape(app);
    const series = (partition: string, reason: string) =>
      `sluice_partition_held{pipeline="${id}",partition="${partition}",reason="${reason}"}`;
    expect(metrics.get(series('2', 'dlq-full'))).toBe(1);
    expect(metrics.get(series('*', 'table'))).toBe(1);

    expect((await api(app, 'DELETE', `/pipelines/${id}`)).status).toBe(204);
    expect(await redis.exists(keys.holds(id))).toBe(0);
    expect((await scrape(app)).get(series('2', 'dlq-full'))).toBeUndefined();
  });

  it('returns dead letters of all partitions, newest first', async () => {
    const id = pipelineId('dlq');
    expect((await api(app, 'POST', '/pipelines', definition(id, table))).status).toBe(201);
    const letter = (n: number, stage: string) =>
      deadLetterEntry({
        stage,
        error: `error ${n}`,
        topic: stage === 'insert' ? '' : name('topic'),
        partition: stage === 'insert' ? '' : n % 3,
        offset: stage === 'insert' ? '' : 100 + n,
        message: `{"n": ${n}`,
        at: 1_700_000_000_000 + n,
      });
    // Explicit ids: entry 0 is the oldest, entry 4 the newest, spread over partitions.
    for (const [n, p] of [
      [0, 0],
      [1, 3],
      [2, 1],
      [3, 0],
      [4, 2],
    ] as const) {
      await redis.xadd(
        keys.deadLetters(id, p),
        `${1_700_000_000_000 + n}-0`,
        ...letter(n, n === 4 ? 'insert' : 'parse'),
      );
    }
    const all = await api<DeadLetterView[]>(app, 'GET', `/pipelines/${id}/dlq`);
    expect(all.status).toBe(200);
    expect(all.body.map((e) => e.error)).toEqual([
      'error 4',
      'error 3',
      'error 2',
      'error 1',
      'error 0',
    ]);
    expect(all.body[1]).toEqual({
      id: '1700000000003-0',
      pipelinePartition: 0,
      stage: 'parse',
      error: 'error 3',
      topic: name('topic'),
      partition: 0,
      offset: 103,
      message: '{"n": 3',
      at: new Date(1_700_000_000_003).toISOString(),
    });
    expect(all.body[0]).toMatchObject({
      stage: 'insert',
      topic: '',
      partition: null,
      offset: null,
    });

    const two = await api<DeadLetterView[]>(app, 'GET', `/pipelines/${id}/dlq?limit=2`);
    expect(two.body.map((e) => e.error)).toEqual(['error 4', 'error 3']);
    const bad = await api(app, 'GET', `/pipelines/${id}/dlq?limit=10001`);
    expect(bad.status).toBe(400);
    expect(pathsOf(bad.body)).toEqual(['limit']);
    expect((await api(app, 'GET', `/pipelines/${pipelineId('ghost')}/dlq`)).status).toBe(404);
    await api(app, 'DELETE', `/pipelines/${id}`);
  });

  it('lists source gaps (offset resets) newest first, with the pipeline and on their own', async () => {
    const id = pipelineId('gaps');
    expect((await api(app, 'POST', '/pipelines', definition(id, table))).status).toBe(201);
    const none = await api(app, 'GET', `/pipelines/${id}/source-gaps`);
    expect(none.body).toEqual({ resets: 0, skippedOffsets: 0, acceptedGaps: 0, recent: [] });

    // As the consumer records them (SourceGapMonitor): one closed range, one never read after.
    const topic = name('topic');
    const gap = (expected: string, resumedAt: string, skipped: string, at: number) =>
      ['topic', topic, 'partition', '2', 'expected', expected, 'resumedAt', resumedAt].concat([
        'skipped',
        skipped,
        'resets',
        '1',
        'at',
        String(at),
      ]);
    await redis.xadd(
      keys.sourceGaps(id),
      '1700000000000-0',
      ...gap('10', '510', '500', 1_700_000_000_000),
    );
    await redis.xadd(
      keys.sourceGaps(id),
      '1700000000001-0',
      ...gap('900', '', '', 1_700_000_000_001),
    );
    await redis.hset(keys.sourceGapTotals(id), 'resets', '2', 'skippedOffsets', '500');

    const all = await api<{ resets: number; skippedOffsets: number; recent: unknown[] }>(
      app,
      'GET',
      `/pipelines/${id}/source-gaps`,
    );
    expect(all.status).toBe(200);
    expect(all.body).toEqual({
      resets: 2,
      skippedOffsets: 500,
      acceptedGaps: 0,
      recent: [
        {
          id: '1700000000001-0',
          topic,
          partition: 2,
          expected: 900,
          resumedAt: null,
          skipped: null,
          resets: 1,
          at: new Date(1_700_000_000_001).toISOString(),
          origin: 'offset-reset',
          pipelinePartition: null,
        },
        {
          id: '1700000000000-0',
          topic,
          partition: 2,
          expected: 10,
          resumedAt: 510,
          skipped: 500,
          resets: 1,
          at: new Date(1_700_000_000_000).toISOString(),
          origin: 'offset-reset',
          pipelinePartition: null,
        },
      ],
    });
    const one = await api<{ recent: { id: string }[] }>(
      app,
      'GET',
      `/pipelines/${id}/source-gaps?limit=1`,
    );
    expect(one.body.recent.map((g) => g.id)).toEqual(['1700000000001-0']);
    const got = await api<{ sourceGaps: { resets: number } }>(app, 'GET', `/pipelines/${id}`);
    expect(got.body.sourceGaps.resets).toBe(2);
    const bad = await api(app, 'GET', `/pipelines/${id}/source-gaps?limit=0`);
    expect(bad.status).toBe(400);
    expect(pathsOf(bad.body)).toEqual(['limit']);
    expect((await api(app, 'GET', `/pipelines/${pipelineId('ghost')}/source-gaps`)).status).toBe(
      404,
    );
    // Deleting the pipeline removes its record with the rest of its state.
    await api(app, 'DELETE', `/pipelines/${id}`);
    expect(await redis.exists(keys.sourceGaps(id), keys.sourceGapTotals(id))).toBe(0);
  });

  it('keeps definitions across a restart and applies PIPELINES_DIR at startup', async () => {
    const kept = pipelineId('kept');
    const stopped = pipelineId('stopped');
    expect((await api(app, 'POST', '/pipelines', definition(kept, table))).status).toBe(201);
    expect((await api(app, 'POST', '/pipelines', definition(stopped, table))).status).toBe(201);
    await api(app, 'POST', `/pipelines/${stopped}/stop`);
    await app.stop();

    const env = testStackEnv();
    const dir = mkdtempSync(join(tmpdir(), 'sluice-pipelines-'));
    const fromDir = pipelineId('from-dir');
    try {
      writeFileSync(
        join(dir, 'a.yaml'),
        [
          `id: ${fromDir}`,
          `source: { kafka: { brokers: [${env.KAFKA_BROKERS}] }, topics: [{ name: ${name('topic')} }] }`,
          `sink: { clickhouse: { url: "${env.CLICKHOUSE_URL}", table: ${table} } }`,
        ].join('\n'),
      );
      writeFileSync(
        join(dir, 'b.json'),
        JSON.stringify({
          ...definition(pipelineId('invalid'), table),
          dedup: { key: 'event_id', window: '9d' },
        }),
      );
      // Same id as a stored pipeline, different partitions: the stored one wins.
      writeFileSync(join(dir, 'c.yml'), JSON.stringify(definition(kept, table, { partitions: 2 })));
      writeFileSync(join(dir, 'notes.txt'), 'not a definition');

      const { REDIS_URL, CLICKHOUSE_URL } = env;
      app = await SluiceProcess.start({
        env: { ROLES: 'writer', REDIS_URL, CLICKHOUSE_URL, PIPELINES_DIR: dir },
      });
      const restarted = app;
      const keptNow = await api(restarted, 'GET', `/pipelines/${kept}`);
      expect(keptNow.status).toBe(200);
      expect(keptNow.body.definition?.partitions).toBe(4);
      expect((await api(restarted, 'GET', `/pipelines/${stopped}`)).body.status).toBe('stopped');

      await restarted.waitFor(
        async () => (await api(restarted, 'GET', `/pipelines/${fromDir}`)).status === 200,
        20_000,
        'pipeline from PIPELINES_DIR',
      );
      await restarted.waitFor(
        () => Promise.resolve(/c\.yml: pipeline .* different definition/.test(restarted.text())),
        20_000,
        'log of the differing definition',
      );
      expect(restarted.text()).toMatch(
        /b\.json: invalid pipeline definition, skipped: dedup\.window/,
      );
      expect(restarted.text()).not.toMatch(/notes\.txt/);
      expect((await api(restarted, 'GET', `/pipelines/${pipelineId('invalid')}`)).status).toBe(404);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      for (const id of [kept, stopped, fromDir]) await api(app, 'DELETE', `/pipelines/${id}`);
    }
  });
});
