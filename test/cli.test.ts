import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Producer } from 'kafkajs';
import { tokenDigest } from '../src/auth/tokens';
import { connectProducer } from './support/events';
import {
  clickhouse,
  deadLettersOf,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  uniqueName,
  uniquePipelineId,
  waitForSettled,
} from './support/pipeline-fixture';
import { REPO_ROOT } from './support/paths';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// `npx sluice` (src/cli) against a running Sluice: each verb, its table and -o json output, and
// kubectl's exit codes (0 ok, 1 error with the server's reason on stderr).

const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'sluice.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sluice(url: string, ...args: string[]): Promise<Run> {
  return sluiceWith({ SLUICE_URL: url }, ...args);
}

function sluiceWith(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, ...env } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('sluice CLI', () => {
  const env = testStackEnv();
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let producer: Producer;
  let closeProducer: () => Promise<void>;
  const id = uniquePipelineId('cli');

  beforeAll(async () => {
    ch = clickhouse();
    ({ producer, close: closeProducer } = await connectProducer(env.KAFKA_BROKERS));
    app = await SluiceProcess.start({ env: { ...env } });
  });
  afterAll(async () => {
    if (app?.running) await deletePipeline(app, id);
    await app?.stop();
    await closeProducer();
    await ch.close();
  });

  it('runs each verb against a running Sluice with kubectl exit codes', async () => {
    const url = `http://127.0.0.1:${app!.port}`;
    const topic = uniqueName('cli');
    const table = uniqueName('cli');
    await createSourceTopic(topic, 1);
    await createEventsTable(ch, table);
    const file = join(mkdtempSync(join(tmpdir(), 'sluice-cli-')), 'pipeline.json');
    writeFileSync(file, JSON.stringify(dedupPipeline(id, topic, table, 2)));

    const dry = await sluice(url, 'pipelines', 'apply', '-f', file, '--dry-run');
    expect(dry).toMatchObject({ code: 0, stdout: `pipeline/${id} valid (dry run)\n` });
    expect((await app!.get(`/api/v1/pipelines/${id}`)).status).toBe(404);
    expect(await sluice(url, 'pipelines', 'apply', '-f', file)).toMatchObject({
      code: 0,
      stdout: `pipeline/${id} created\n`,
    });
    // kubectl apply: the same file again changes nothing; an edited one is applied in place
    // (GET for the ETag, then PUT with If-Match), a dry run of it first.
    expect(await sluice(url, 'pipelines', 'apply', '-f', file)).toMatchObject({
      code: 0,
      stdout: `pipeline/${id} unchanged\n`,
    });
    writeFileSync(file, JSON.stringify({ ...dedupPipeline(id, topic, table, 2), filter: 'true' }));
    expect(await sluice(url, 'pipelines', 'apply', '-f', file, '--dry-run')).toMatchObject({
      code: 0,
      stdout: `pipeline/${id} configured (dry run)\n`,
    });
    expect(((await app!.get(`/api/v1/pipelines/${id}`)).body as { version: number }).version).toBe(
      1,
    );
    expect(await sluice(url, 'pipelines', 'apply', '-f', file)).toMatchObject({
      code: 0,
      stdout: `pipeline/${id} configured\n`,
    });
    expect((await app!.get(`/api/v1/pipelines/${id}`)).body).toMatchObject({
      version: 2,
      definition: { filter: 'true' },
    });
    // A change a running pipeline cannot take: the server's reason, exit 1.
    writeFileSync(file, JSON.stringify(dedupPipeline(id, topic, table, 4)));
    const refused = await sluice(url, 'pipelines', 'apply', '-f', file);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(
      /^Error from server \(Conflict\): .*\n {2}partitions: cannot change/,
    );

    await producer.send({
      topic,
      messages: [
        { value: JSON.stringify({ event_id: 'a', ts: '2026-01-01T00:00:00Z', amount: 1 }) },
        { value: 'not json' },
      ],
    });
    await waitForSettled(app!, id, 2, 60_000);

    const list = await sluice(url, 'pipelines', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID +STATUS +CONSUMED +WRITTEN/);
    expect(list.stdout).toMatch(new RegExp(`\\n${id} +running +2 +1 +0 +0 +1\\n`));
    const listed = JSON.parse((await sluice(url, 'pipelines', 'list', '-o', 'json')).stdout) as {
      id: string;
    }[];
    expect(listed.map((p) => p.id)).toContain(id);
    const got = JSON.parse((await sluice(url, 'pipelines', 'get', id, '-o', 'json')).stdout) as {
      counters: { written: number };
    };
    expect(got.counters.written).toBe(1);
    expect((await sluice(url, 'pipelines', 'get', id)).stdout).toMatch(/^WRITTEN +1$/m);

    const dlq = await sluice(url, 'dlq', 'list', id, '--stage', 'parse');
    expect(dlq.code).toBe(0);
    expect(dlq.stdout).toMatch(/^ID +STAGE/);
    expect(dlq.stdout).toMatch(/\n\d+\/\d+-\d+ +parse +/);
    const dlqJson = JSON.parse((await sluice(url, 'dlq', 'list', id, '-o', 'json')).stdout) as {
      entries: { message: string }[];
      next: string | null;
    };
    expect(dlqJson).toEqual({
      entries: [expect.objectContaining({ message: 'not json' })],
      next: null,
    });

    const written = await sluice(
      url,
      'preview',
      id,
      '--message',
      '{"event_id":"b","ts":"2026-01-01T00:00:00Z","amount":2}',
    );
    expect(written).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^written: \{.*"event_id":"b"/),
    });
    expect((await sluice(url, 'preview', id, '--message', 'oops')).stdout).toMatch(
      /^dead-lettered at parse: invalid JSON/,
    );

    expect(await sluice(url, 'pipelines', 'stop', id)).toMatchObject({
      code: 0,
      stdout: `pipeline/${id} stopped\n`,
    });
    expect(await sluice(url, 'pipelines', 'resume', id)).toMatchObject({ code: 0 });
    // A time after every record: nothing is read again, the group stays where it is.
    const rewound = await sluice(url, 'rewind', id, '--to', '2099-01-01T00:00:00Z');
    expect(rewound).toMatchObject({ code: 0, stderr: '' });
    expect(rewound.stdout).toMatch(/^TOPIC +PARTITION +TIME-OFFSET +READS-FROM\n/);
    expect(rewound.stdout).toMatch(new RegExp(`\\n${topic} +0 +2 +2\\n`));
    expect(rewound.stdout).toMatch(
      new RegExp(
        `pipeline/${id} rewound to 2099-01-01T00:00:00.000Z \\(0 dedup keys forgotten\\), running\\n$`,
      ),
    );
    const noTime = await sluice(url, 'rewind', id);
    expect(noTime.code).toBe(1);
    expect(noTime.stderr).toMatch(/^--to ISO is required/);
    // Replay by id: the entry leaves the DLQ, fails again at parse and comes back (a new id).
    const [letter] = (await deadLettersOf(app!, id)).map((d) => `${d.pipelinePartition}/${d.id}`);
    expect(await sluice(url, 'dlq', 'replay', id, letter!)).toMatchObject({
      code: 0,
      stdout: 'replayed 1\n',
    });
    await app!.waitFor(
      async () =>
        (await deadLettersOf(app!, id)).some((d) => `${d.pipelinePartition}/${d.id}` !== letter),
      30_000,
      'the replayed dead letter back in the DLQ',
    );
    expect(await sluice(url, 'dlq', 'replay', id, letter!)).toMatchObject({
      code: 0,
      stdout: 'replayed 0\n',
    });
    const byStage = await sluice(url, 'dlq', 'replay', id, '--stage', 'filter', '-o', 'json');
    expect(JSON.parse(byStage.stdout)).toEqual({ replayed: 0 });
    expect(await sluice(url, 'dlq', 'discard', id, '--all')).toMatchObject({
      code: 0,
      stdout: 'discarded 1\n',
    });
    expect(await sluice(url, 'pipelines', 'delete', id)).toMatchObject({
      code: 0,
      stdout: `pipeline/${id} deleted\n`,
    });

    const missing = await sluice(url, 'pipelines', 'get', id);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe(`Error from server (NotFound): pipeline ${id} not found\n`);
    expect((await sluice(url, 'pipelines', 'frobnicate')).code).toBe(1);
    expect((await sluice('http://127.0.0.1:1', 'pipelines', 'list')).code).toBe(1);
  });
});

describe('sluice CLI with API_TOKENS', () => {
  const token = randomBytes(24).toString('base64url');
  let app: SluiceProcess | undefined;

  beforeAll(async () => {
    app = await SluiceProcess.start({
      env: { ...testStackEnv(), API_TOKENS: `cli:read:${tokenDigest(token)}` },
    });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('sends SLUICE_TOKEN as a Bearer token: a refused one exits 1 with the reason', async () => {
    const url = `http://127.0.0.1:${app!.port}`;
    const refused = await sluiceWith(
      { SLUICE_URL: url, SLUICE_TOKEN: `${token}x` },
      'pipelines',
      'list',
    );
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/^Error from server \(Unauthorized\): /);
    const none = await sluiceWith({ SLUICE_URL: url }, 'pipelines', 'list');
    expect(none).toMatchObject({ code: 1, stdout: '' });
    const accepted = await sluiceWith(
      { SLUICE_URL: url, SLUICE_TOKEN: token },
      'pipelines',
      'list',
    );
    expect(accepted).toMatchObject({ code: 0, stderr: '' });
  });
});
