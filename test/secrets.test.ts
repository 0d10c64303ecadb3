// Secrets at rest (issue 18): with SECRETS_KEY an inline sink password is stored sealed (no
// plaintext in any Redis key nor in the AOF), the pipeline still writes after a restart, and a
// `${env:NAME}` reference works; without SECRETS_KEY an inline secret is a 400 at its path.
// ClickHouse here is behind a real HTTP proxy that admits only requests carrying the password.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { keys } from '@sluice/redis';
import Redis from 'ioredis';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { TEST_STACK_DIR } from './support/paths';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  deletePipeline,
  tableCount,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { SHORT_GROUP_SESSION, testStackEnv } from './support/stack-env';

const PASSWORD = `pw-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
const KEY_NEXT = 'f1'.repeat(32);
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 3)).toString('hex');

/** Forwards to ClickHouse only the requests authenticated with `password`; 401 otherwise. */
async function authProxy(
  target: string,
  password: string,
): Promise<{ server: Server; url: string }> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const given = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString();
    if (given !== `default:${password}`) {
      res.writeHead(401).end('Code: 516. DB::Exception: Authentication failed');
      return;
    }
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const out = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    server,
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
  };
}

async function post(app: SluiceProcess, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function redisValues(redis: Redis): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) {
      const type = await redis.type(key);
      parts.push(key);
      if (type === 'string') parts.push((await redis.getBuffer(key))?.toString('latin1') ?? '');
      if (type === 'hash') {
        const hash = await redis.hgetallBuffer(key);
        parts.push(...Object.values(hash).map((b) => b.toString('latin1')));
      }
      if (type === 'list')
        parts.push(...(await redis.lrangeBuffer(key, 0, -1)).map((b) => b.toString('latin1')));
      if (type === 'set')
        parts.push(...(await redis.smembersBuffer(key)).map((b) => b.toString('latin1')));
      if (type === 'zset')
        parts.push(...(await redis.zrangeBuffer(key, 0, -1)).map((b) => b.toString('latin1')));
      if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

function aofText(): string {
  const dir = join(TEST_STACK_DIR, 'redis');
  const files: string[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(dir);
  expect(files.some((f) => f.includes('.aof'))).toBe(true);
  return files.map((f) => readFileSync(f).toString('latin1')).join('\n');
}

async function waitFor(check: () => Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('secrets at rest', () => {
  let app: SluiceProcess | undefined;
  let ch: ClickHouseClient;
  let redis: Redis;
  let proxy: Awaited<ReturnType<typeof authProxy>>;
  // Each restart's consumers wait for the previous process's members: a short session.
  const env = { ...testStackEnv(), ...SHORT_GROUP_SESSION };
  const ids: string[] = [];
  let inline: { id: string; topic: string; table: string } | undefined;
  const withKey = () =>
    SluiceProcess.start({ env: { ...env, SECRETS_KEY: KEY, SINK_PASSWORD: PASSWORD } });

  beforeAll(async () => {
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    proxy = await authProxy(env.CLICKHOUSE_URL, PASSWORD);
  });
  afterAll(async () => {
    const cleaner = app ?? (await SluiceProcess.start({ env: { ...env } }));
    for (const id of ids) await deletePipeline(cleaner, id);
    await cleaner.stop();
    await ch.close();
    redis.disconnect();
    await new Promise((resolve) => proxy.server.close(resolve));
  });

  async function pipeline(prefix: string, password: string) {
    const id = uniquePipelineId(prefix);
    const topic = uniqueName(`${prefix}_src`);
    const table = uniqueName(`${prefix}_events`);
    await createSourceTopic(topic, 2);
    await createEventsTable(ch, table);
    const def = dedupPipeline(id, topic, table, 2) as {
      sink: { clickhouse: Record<string, unknown> };
    };
    def.sink.clickhouse = { ...def.sink.clickhouse, url: proxy.url, password };
    ids.push(id);
    return { id, topic, table, def };
  }

  async function send(topic: string, count: number, prefix: string) {
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const stream = generateEvents(count, {
      duplicateRatio: 0,
      malformedRatio: 0,
      idPrefix: prefix,
    });
    await produceAll(producer, topic, 2, stream.messages);
    await close();
  }

  it('seals an inline password, keeps it out of Redis and the AOF, and works after a restart', async () => {
    app = await withKey();
    const p = await pipeline('sec_inline', PASSWORD);
    inline = p;
    const created = await post(app, p.def);
    expect(created.status).toBe(201);
    expect(created.text).not.toContain(PASSWORD);
    expect(created.text).toContain('"password":"***"');
    await send(p.topic, 50, 'a');
    await waitFor(async () => (await tableCount(ch, p.table)).ids === 50, 60_000, 'first rows');

    expect(await redisValues(redis)).not.toContain(PASSWORD);
    expect(aofText()).not.toContain(PASSWORD);
    expect(await redis.hget(keys.pipelines(), p.id)).toContain('enc:v1:');

    await app.stop();
    app = await withKey();
    await send(p.topic, 50, 'b');
    await waitFor(
      async () => (await tableCount(ch, p.table)).ids === 100,
      60_000,
      'rows after restart',
    );
    expect(app.output.join('')).not.toContain(PASSWORD);
  });

  it('resolves ${env:NAME} in the process that connects', async () => {
    app ??= await withKey();
    const p = await pipeline('sec_ref', '${env:SINK_PASSWORD}');
    expect((await post(app, p.def)).status).toBe(201);
    expect(await redis.hget(keys.pipelines(), p.id)).toContain('${env:SINK_PASSWORD}');
    await send(p.topic, 20, 'c');
    await waitFor(async () => (await tableCount(ch, p.table)).ids === 20, 60_000, 'rows');
  });

  it('refuses an inline secret without SECRETS_KEY, naming its path and the ways out', async () => {
    await app?.stop();
    app = await SluiceProcess.start({ env: { ...env } });
    const p = await pipeline('sec_nokey', PASSWORD);
    const res = await post(app, p.def);
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text) as { errors: { path: string; message: string }[] };
    expect(body.errors.map((e) => e.path)).toEqual(['sink.clickhouse.password']);
    expect(body.errors[0]?.message).toMatch(/SECRETS_KEY.*\$\{env:NAME\}.*\$\{file:\/path\}/);
    expect(res.text).not.toContain(PASSWORD);
  });

  it('rotates: SECRETS_KEY_PREVIOUS opens the old seal, which is sealed again under the new key', async () => {
    expect(inline).toBeDefined();
    const p = inline!;
    const before = (await redis.hget(keys.pipelines(), p.id)) ?? '';
    await app?.stop();
    app = await SluiceProcess.start({
      env: { ...env, SECRETS_KEY: KEY_NEXT, SECRETS_KEY_PREVIOUS: KEY },
    });
    await waitFor(
      async () => {
        const now = (await redis.hget(keys.pipelines(), p.id)) ?? '';
        return now !== before && now.includes('enc:v1:');
      },
      20_000,
      'the secret sealed again',
    );
    const { ids: rows } = await tableCount(ch, p.table);
    await send(p.topic, 10, 'd');
    await waitFor(async () => (await tableCount(ch, p.table)).ids === rows + 10, 60_000, 'rows');
    expect(await redisValues(redis)).not.toContain(PASSWORD);
    // The new key alone opens it now: the value really is sealed under it.
    await app.stop();
    app = await SluiceProcess.start({ env: { ...env, SECRETS_KEY: KEY_NEXT } });
    await send(p.topic, 10, 'e');
    await waitFor(async () => (await tableCount(ch, p.table)).ids === rows + 20, 60_000, 'rows');
  });
});
