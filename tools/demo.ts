/**
 * `npm run demo`: Sluice end to end on the local stack. Starts (or reuses) the stack, creates a
 * topic and a ClickHouse table, starts Sluice, creates a pipeline through the REST API, produces
 * sample events (with duplicates, test events and malformed JSON), shows progress until every
 * event is accounted for, prints the counts and a query, then stops the Sluice it started.
 *
 * Env: DEMO_EVENTS (default 50000), DEMO_TIMEOUT_S (default 300), SLUICE_STACK_DIR.
 * `--keep` keeps the pipeline defined afterwards (it is deleted by default; the table stays).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createTopic, freePort, stackDir, stackUp, type StackEnv } from '@sluice/stack';
import { Kafka, logLevel, type Producer } from 'kafkajs';

// Runs as dist/tools/demo.js; the app is dist/src/main.js.
const MAIN_JS = join(__dirname, '..', 'src', 'main.js');

const EVENTS = Number(process.env.DEMO_EVENTS ?? 50_000);
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_S ?? 300) * 1000;
const KEEP = process.argv.includes('--keep');
const PARTITIONS = 8;
const PROJECTS = ['apollo', 'borealis', 'cassini', 'dawn', 'europa', 'fermi', 'galileo', 'hubble'];
const ACTIONS = ['view', 'view', 'view', 'click', 'click', 'purchase', 'refund'];

interface Counters {
  consumed: number;
  filtered: number;
  duplicates: number;
  written: number;
  deadLettered: number;
}

interface Expected extends Counters {
  messages: string[];
}

const out = (line: string) => process.stdout.write(`${line}\n`);

/** The sample stream and what Sluice must make of it: ~10% duplicate event_ids (exact copies),
 * ~3% `test` events (filtered), a few malformed messages (dead-lettered). */
function sampleEvents(n: number): Expected {
  const messages: string[] = [];
  const kept = new Set<string>();
  const expected: Expected = {
    messages,
    consumed: 0,
    filtered: 0,
    duplicates: 0,
    written: 0,
    deadLettered: 0,
  };
  const malformedEvery = Math.max(50, Math.floor(n / 20));
  const start = Date.now() - n;
  let seq = 0;
  for (let i = 0; i < n; i++) {
    if (i % malformedEvery === malformedEvery - 1) {
      messages.push(`{"event_id": "broken-${i}", "ts": `);
      expected.deadLettered++;
      continue;
    }
    const duplicate = seq > 0 && Math.random() < 0.1;
    const id = duplicate ? Math.floor(Math.random() * seq) : seq++;
    const action = id % 37 === 5 ? 'test' : (ACTIONS[id % ACTIONS.length] as string);
    const event = {
      event_id: `evt-${id.toString().padStart(8, '0')}`,
      ts: new Date(start + id).toISOString(),
      user_id: 1 + ((id * 7919) % 5000),
      project: PROJECTS[(id * 31) % PROJECTS.length],
      action,
      amount: action === 'purchase' ? Math.round((id % 997) * 1.37 * 100) / 100 : 0,
    };
    messages.push(JSON.stringify(event));
    if (action === 'test') expected.filtered++;
    else if (kept.has(event.event_id)) expected.duplicates++;
    else kept.add(event.event_id);
  }
  expected.written = kept.size;
  expected.consumed = messages.length;
  return expected;
}

class Sluice {
  private exited = false;

  private constructor(
    readonly child: ChildProcess,
    readonly base: string,
    readonly logFile: string,
  ) {
    child.once('exit', () => (this.exited = true));
  }

  static async start(env: StackEnv, logFile: string): Promise<Sluice> {
    const port = await freePort();
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [MAIN_JS], {
      env: { ...process.env, ...env, PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', fd, fd],
    });
    const sluice = new Sluice(child, `http://127.0.0.1:${port}`, logFile);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (sluice.exited) throw new Error(`Sluice exited during startup; see ${logFile}`);
      const ready = await fetch(`${sluice.base}/health/ready`).catch(() => undefined);
      if (ready?.status === 200) return sluice;
      if (Date.now() > deadline) throw new Error(`Sluice not ready after 60 s; see ${logFile}`);
      await sleep(250);
    }
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.base}/api/v1${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** SIGTERM by PID, SIGKILL after 20 s. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await gone;
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function produce(
  producer: Producer,
  topic: string,
  messages: string[],
  onProgress: (n: number) => void,
): Promise<void> {
  const BATCH = 1_000;
  for (let i = 0; i < messages.length; i += BATCH) {
    const chunk = messages.slice(i, i + BATCH);
    await producer.send({
      topic,
      messages: chunk.map((value) => ({ key: /"event_id":"([^"]+)"/.exec(value)?.[1], value })),
    });
    onProgress(i + chunk.length);
  }
}

function settled(c: Counters, expected: Expected): boolean {
  return (
    c.consumed === expected.consumed &&
    c.consumed === c.written + c.filtered + c.duplicates + c.deadLettered &&
    c.written === expected.written
  );
}

async function main(): Promise<number> {
  const dir = stackDir();
  out(`Starting the local stack in ${dir} (reused when it runs already)...`);
  const env = await stackUp({ log: (line) => out(`  ${line}`) });
  const run = Date.now().toString(36);
  const topic = `demo_events_${run}`;
  const table = `demo_events_${run}`;
  const id = `demo-${run}`;

  await createTopic(topic, PARTITIONS);
  out(`Topic ${topic} created with ${PARTITIONS} partitions`);
  const ch: ClickHouseClient = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 60_000 });
  let sluice: Sluice | undefined;
  try {
    await ch.command({
      query: `CREATE TABLE ${table} (
                event_id String, ts DateTime64(3, 'UTC'), user_id UInt32,
                project LowCardinality(String), action LowCardinality(String), amount Float64)
              ENGINE = MergeTree ORDER BY (project, event_id)
              SETTINGS non_replicated_deduplication_window = 1000`,
    });
    out(`ClickHouse table ${table} created (non_replicated_deduplication_window = 1000)`);

    const logFile = join(dir, 'demo-sluice.log');
    sluice = await Sluice.start(env, logFile);
    out(`Sluice started: pid ${sluice.child.pid}, ${sluice.base}, log ${logFile}`);

    const definition = {
      id,
      source: {
        kafka: { brokers: env.KAFKA_BROKERS.split(',') },
        topics: [{ name: topic, startFrom: 'earliest', eventTime: 'ts' }],
      },
      partitions: 8,
      filter: "action != 'test'",
      dedup: { key: 'event_id', window: '24h' },
      sink: {
        clickhouse: { url: env.CLICKHOUSE_URL, table, batch: { maxRows: 5000, maxDelay: '500ms' } },
      },
    };
    const created = await sluice.request<unknown>('POST', '/pipelines', definition);
    if (created.status !== 201) {
      throw new Error(`POST /pipelines: ${created.status} ${JSON.stringify(created.body)}`);
    }
    out(`Pipeline ${id} created: filter ${definition.filter}, dedup on event_id (24h)`);

    const expected = sampleEvents(EVENTS);
    out(
      `Producing ${expected.consumed} events (${expected.duplicates} duplicates, ` +
        `${expected.filtered} test events, ${expected.deadLettered} malformed)...`,
    );
    const kafka = new Kafka({
      clientId: 'sluice-demo',
      brokers: env.KAFKA_BROKERS.split(','),
      logLevel: logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    let produced = 0;
    const producing = produce(producer, topic, expected.messages, (n) => (produced = n)).finally(
      () => producer.disconnect(),
    );

    const started = Date.now();
    let counters: Counters | undefined;
    let lag: number | null = null;
    let producerError: Error | undefined;
    producing.catch(
      (err: unknown) => (producerError = err instanceof Error ? err : new Error(String(err))),
    );
    while (!counters || !settled(counters, expected)) {
      if (producerError) throw producerError;
      if (Date.now() - started > TIMEOUT_MS) {
        process.stdout.write('\n');
        out(
          `Timed out after ${TIMEOUT_MS / 1000} s. Expected ${JSON.stringify(expected, skipMessages)}`,
        );
        out(`Got ${JSON.stringify(counters)}; see ${logFile}`);
        return 1;
      }
      const got = await sluice
        .request<{ counters: Counters; lag: number | null }>('GET', `/pipelines/${id}`)
        .catch(() => undefined);
      if (got?.status === 200) ({ counters, lag } = got.body);
      const c = counters;
      process.stdout.write(
        `\r  produced ${produced}/${expected.consumed}  consumed ${c?.consumed ?? 0}  ` +
          `written ${c?.written ?? 0}  duplicates ${c?.duplicates ?? 0}  ` +
          `filtered ${c?.filtered ?? 0}  dead-lettered ${c?.deadLettered ?? 0}  ` +
          `lag ${lag ?? '?'}  ${((Date.now() - started) / 1000).toFixed(1)} s   `,
      );
      await sleep(500);
    }
    await producing;
    process.stdout.write('\n');
    report(counters, expected, (Date.now() - started) / 1000);
    await showTable(ch, table);
    const dlq = await sluice.request<{ stage: string; error: string; message: string }[]>(
      'GET',
      `/pipelines/${id}/dlq?limit=3`,
    );
    out('Dead-letter queue (newest 3):');
    for (const e of dlq.body) out(`  [${e.stage}] ${e.error}  <- ${e.message}`);

    if (KEEP) out(`Pipeline ${id} kept (GET ${sluice.base}/api/v1/pipelines/${id} while it runs)`);
    else {
      await sluice.request('DELETE', `/pipelines/${id}`);
      out(`Pipeline ${id} deleted; the table ${table} and topic ${topic} stay for exploring.`);
    }
    return 0;
  } finally {
    await sluice?.stop();
    if (sluice) out(`Sluice (pid ${sluice.child.pid}) stopped.`);
    await ch.close();
    out(`The local stack keeps running; stop it with: npm run stack -- down`);
  }
}

function skipMessages(key: string, value: unknown): unknown {
  return key === 'messages' ? undefined : value;
}

function report(c: Counters, expected: Expected, seconds: number): void {
  out(`All ${c.consumed} events accounted for in ${seconds.toFixed(1)} s:`);
  for (const name of ['consumed', 'written', 'duplicates', 'filtered', 'deadLettered'] as const) {
    const ok = c[name] === expected[name] ? 'ok' : `EXPECTED ${expected[name]}`;
    out(`  ${name.padEnd(13)} ${String(c[name]).padStart(9)}  ${ok}`);
  }
  out(`  consumed = written + filtered + duplicates + deadLettered: holds`);
}

async function showTable(ch: ClickHouseClient, table: string): Promise<void> {
  const totals = await ch.query({
    query: `SELECT count() AS rows, uniqExact(event_id) AS ids FROM ${table}`,
    format: 'JSONEachRow',
  });
  const [t] = await totals.json<{ rows: string; ids: string }>();
  out(`ClickHouse ${table}: ${t?.rows} rows, ${t?.ids} distinct event_id`);
  const top = await ch.query({
    query: `SELECT project, countIf(action = 'purchase') AS purchases, round(sum(amount), 2) AS revenue
            FROM ${table} GROUP BY project ORDER BY revenue DESC LIMIT 5`,
    format: 'JSONEachRow',
  });
  out('Top projects by revenue:');
  out(`  ${'project'.padEnd(10)} ${'purchases'.padStart(9)} ${'revenue'.padStart(12)}`);
  for (const r of await top.json<{ project: string; purchases: string; revenue: number }>()) {
    out(
      `  ${r.project.padEnd(10)} ${String(r.purchases).padStart(9)} ${String(r.revenue).padStart(12)}`,
    );
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
