// PIPELINE_ALLOWED_HOSTS and the sink check's answers (issue 18): a definition naming a host
// outside the list is refused before anything connects to it, and the sink check never shows
// what a server answered. Listeners here are real TCP servers on loopback addresses.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const MARKER = `upstream-secret-${RUN}`;

interface Body {
  message?: string;
  errors?: { path: string; message: string }[];
}

async function post(app: SluiceProcess, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${app.port}/api/v1/pipelines`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, text: await response.text() };
}

const paths = (text: string) => ((JSON.parse(text) as Body).errors ?? []).map((e) => e.path);

function definition(id: string, brokers: string[], url: string, extra: object = {}) {
  return {
    id,
    source: { kafka: { brokers }, topics: [{ name: `dst_${RUN}` }] },
    sink: { clickhouse: { url, table: `dst_${RUN}` } },
    ...extra,
  };
}

/** A TCP listener that counts the connections it accepts. */
async function listen(host: string): Promise<{ server: Server; port: number; seen: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, port, seen: () => connections };
}

describe('destinations and the sink check', () => {
  let app: SluiceProcess;
  let trap: Awaited<ReturnType<typeof listen>>;
  let chatty: HttpServer;
  let chattyPort = 0;
  const env = testStackEnv();
  const stackHosts = [
    ...env.KAFKA_BROKERS.split(',').map((b) => b.slice(0, b.lastIndexOf(':'))),
    new URL(env.CLICKHOUSE_URL).hostname,
  ];

  beforeAll(async () => {
    // 127.0.0.2 is this machine's loopback too, but not in the allow-list below.
    trap = await listen('127.0.0.2');
    // An allowed host whose answers must not come back to the caller.
    chatty = createHttpServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`Code: 60. DB::Exception: ${MARKER}\n${MARKER}-line2`);
    });
    await new Promise<void>((resolve) => chatty.listen(0, '127.0.0.1', resolve));
    const address = chatty.address();
    chattyPort = typeof address === 'object' && address ? address.port : 0;
    const { REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS } = env;
    app = await SluiceProcess.start({
      env: {
        ROLES: 'writer',
        REDIS_URL,
        CLICKHOUSE_URL,
        KAFKA_BROKERS,
        PIPELINE_ALLOWED_HOSTS: [...new Set([...stackHosts, '127.0.0.1'])].join(','),
      },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await new Promise((resolve) => trap?.server.close(resolve));
    await new Promise((resolve) => chatty?.close(resolve));
  });

  it('refuses a disallowed broker and sink URL by path, and nothing connects to them', async () => {
    const res = await post(
      app,
      definition(
        `dst-${RUN}-a`,
        [env.KAFKA_BROKERS.split(',')[0] ?? '', `127.0.0.2:${trap.port}`],
        `http://127.0.0.2:${trap.port}`,
      ),
    );
    expect(res.status).toBe(400);
    expect(paths(res.text).sort()).toEqual(['sink.clickhouse.url', 'source.kafka.brokers[1]']);
    expect(res.text).toMatch(/not in PIPELINE_ALLOWED_HOSTS/);
    // A check that connected would have done so before answering; give a late one a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(trap.seen()).toBe(0);
  });

  it('does not check the sink of an invalid document naming a disallowed host', async () => {
    const res = await post(
      app,
      definition(`dst-${RUN}-b`, env.KAFKA_BROKERS.split(','), `http://127.0.0.2:${trap.port}`, {
        dedup: { key: 'event_id', window: 'ten minutes' },
      }),
    );
    expect(res.status).toBe(400);
    expect(paths(res.text).sort()).toEqual(['dedup.window', 'sink.clickhouse.url']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(trap.seen()).toBe(0);
  });

  it('refuses credentials in the sink URL without echoing them', async () => {
    const res = await post(
      app,
      definition(
        `dst-${RUN}-c`,
        env.KAFKA_BROKERS.split(','),
        `http://u:${MARKER}@127.0.0.1:${chattyPort}`,
      ),
    );
    expect(res.status).toBe(400);
    expect(paths(res.text)).toEqual(['sink.clickhouse.url']);
    expect(res.text).toMatch(/must not carry credentials/);
  });

  it('never echoes what an allowed server answered to the sink check', async () => {
    const res = await post(
      app,
      definition(`dst-${RUN}-d`, env.KAFKA_BROKERS.split(','), `http://127.0.0.1:${chattyPort}`),
    );
    expect([400, 503]).toContain(res.status);
    expect(res.text).not.toContain(MARKER);
    expect(app.output.join('')).not.toContain(MARKER);
  });
});
