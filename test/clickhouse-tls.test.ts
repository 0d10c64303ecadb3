// TLS to ClickHouse (issue 18): a CA, a server and a client certificate made here by openssl, and
// a real TLS-terminating proxy (node:tls, client certificate required) in front of the local
// ClickHouse. A pipeline writes through it with mutual TLS; without the client certificate, with
// the wrong CA, or by address without the server name, the sink check refuses with a fixed
// message at the field to fix. The process's own ClickHouse (CLICKHOUSE_URL, readiness) uses
// CLICKHOUSE_TLS_*.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import type { ClickHouseClient } from '@clickhouse/client';
import { keys } from '@sluice/redis';
import Redis from 'ioredis';
import { makeCertificates, type TestCertificates } from './support/certificates';
import { connectProducer, generateEvents, produceAll } from './support/events';
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
import { testStackEnv } from './support/stack-env';

const SECRETS_KEY = 'e3'.repeat(32);

/** Terminates TLS (client certificate required, signed by the CA) and pipes to ClickHouse. */
async function tlsProxy(target: string, certs: TestCertificates): Promise<Server> {
  const upstream = new URL(target);
  const server = createServer(
    {
      key: certs.pem('server.key'),
      cert: certs.pem('server.crt'),
      ca: certs.pem('ca.crt'),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      const plain = connect(Number(upstream.port), upstream.hostname);
      socket.pipe(plain).pipe(socket);
      plain.on('error', () => socket.destroy());
      socket.on('error', () => plain.destroy());
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

interface PostAnswer {
  status: number;
  text: string;
  errors: { path: string; message: string }[];
}

async function post(app: SluiceProcess, body: unknown, query = ''): Promise<PostAnswer> {
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const parsed = JSON.parse(text) as { errors?: PostAnswer['errors'] };
  return { status: response.status, text, errors: parsed.errors ?? [] };
}

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('TLS to ClickHouse', () => {
  const env = testStackEnv();
  let dir: string;
  let certs: TestCertificates;
  let otherCa: TestCertificates;
  let proxy: Server;
  let port = 0;
  let app: SluiceProcess;
  let ch: ClickHouseClient;
  let redis: Redis;
  const ids: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-ch-tls-'));
    certs = makeCertificates(dir, 'DNS:localhost');
    otherCa = makeCertificates(mkdtempSync(join(dir, 'other-')), 'DNS:localhost');
    proxy = await tlsProxy(env.CLICKHOUSE_URL, certs);
    const address = proxy.address();
    port = typeof address === 'object' && address ? address.port : 0;
    ch = clickhouse();
    redis = new Redis(env.REDIS_URL);
    app = await SluiceProcess.start({ env: { ...env, SECRETS_KEY } });
  });

  afterAll(async () => {
    for (const id of ids) await deletePipeline(app, id);
    await app?.stop();
    await ch?.close();
    redis?.disconnect();
    await new Promise((resolve) => proxy?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  async function definition(prefix: string, sink: Record<string, unknown>) {
    const id = uniquePipelineId(prefix);
    const topic = uniqueName(`${prefix}_src`);
    const table = uniqueName(`${prefix}_events`);
    await createSourceTopic(topic, 2);
    await createEventsTable(ch, table);
    const def = dedupPipeline(id, topic, table, 2) as { sink: { clickhouse: object } };
    def.sink.clickhouse = { ...def.sink.clickhouse, url: `https://localhost:${port}`, ...sink };
    return { id, topic, table, def };
  }

  const mutual = () => ({
    ca: `\${file:${certs.path('ca.crt')}}`,
    cert: certs.pem('client.crt'),
    key: certs.pem('client.key'),
  });
  // A line of the key's base64 body: what must never be stored or shown.
  const keyBody = () => certs.pem('client.key').split('\n')[1] ?? 'unreachable';

  it('writes exactly once over mutual TLS; the client key is sealed in Redis and shown as ***', async () => {
    const p = await definition('chtls', { tls: mutual() });
    ids.push(p.id);
    const created = await post(app, p.def);
    expect(created.status).toBe(201);
    expect(created.text).toContain('"key":"***"');
    expect(created.text).not.toContain(keyBody());
    const stored = (await redis.hget(keys.pipelines(), p.id)) ?? '';
    expect(stored).toContain('enc:v1:');
    expect(stored).not.toContain(keyBody());

    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    const stream = generateEvents(40, { duplicateRatio: 0, malformedRatio: 0, idPrefix: 'tls' });
    await produceAll(producer, p.topic, 2, stream.messages);
    await close();
    await waitFor(async () => (await tableCount(ch, p.table)).rows >= 40, 45_000, 'rows');
    expect(await tableCount(ch, p.table)).toEqual({ rows: 40, ids: 40 });
  });

  it('refuses without the client certificate the server requires', async () => {
    const p = await definition('chtls_nocert', { tls: { ca: certs.pem('ca.crt') } });
    const res = await post(app, p.def, '?dryRun=true');
    expect(res.status).toBe(400);
    expect(res.errors).toEqual([
      {
        path: 'sink.clickhouse.tls.cert',
        message: 'TLS: the server requires a client certificate',
      },
    ]);
  });

  it('refuses a server whose certificate is not signed by the CA given', async () => {
    const p = await definition('chtls_wrongca', {
      tls: { ...mutual(), ca: otherCa.pem('ca.crt') },
    });
    const res = await post(app, p.def, '?dryRun=true');
    expect(res.status).toBe(400);
    expect(res.errors).toEqual([
      {
        path: 'sink.clickhouse.tls.ca',
        message: "TLS: the server's certificate is not signed by a trusted CA",
      },
    ]);
  });

  it('connects by address when servername names the certificate, and refuses it otherwise', async () => {
    const byAddress = { url: `https://127.0.0.1:${port}` };
    const named = await definition('chtls_named', {
      ...byAddress,
      tls: { ...mutual(), servername: 'localhost' },
    });
    expect((await post(app, named.def, '?dryRun=true')).status).toBe(200);
    const unnamed = await definition('chtls_unnamed', { ...byAddress, tls: mutual() });
    const res = await post(app, unnamed.def, '?dryRun=true');
    expect(res.status).toBe(400);
    expect(res.errors).toEqual([
      {
        path: 'sink.clickhouse.tls.servername',
        message: "TLS: the server's certificate does not name this host",
      },
    ]);
  });

  async function readyWithin(probe: SluiceProcess, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if ((await probe.get('/health/ready')).status === 200) return true;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return false;
  }

  it('reaches the process ClickHouse (readiness) with CLICKHOUSE_TLS_*, and not without the client certificate', async () => {
    const start = (tls: Record<string, string>) =>
      SluiceProcess.start({
        env: {
          ...env,
          ROLES: 'writer',
          CLICKHOUSE_URL: `https://localhost:${port}`,
          CLICKHOUSE_TLS_CA: certs.path('ca.crt'),
          ...tls,
        },
      });
    const mutualTls = await start({
      CLICKHOUSE_TLS_CERT: certs.path('client.crt'),
      CLICKHOUSE_TLS_KEY: certs.path('client.key'),
    });
    try {
      expect(await readyWithin(mutualTls, 20_000)).toBe(true);
    } finally {
      await mutualTls.stop();
    }
    const caOnly = await start({});
    try {
      expect(await readyWithin(caOnly, 4_000)).toBe(false);
    } finally {
      await caOnly.stop();
    }
  });
});
