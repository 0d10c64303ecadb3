import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createTopic } from '@sluice/stack';
import { tokenDigest } from '../src/auth/tokens';
import { NetnsClient } from './support/netns-client';
import { TEST_STACK_DIR } from './support/paths';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

// The admin plane's access rules on real processes: the role matrix over every route, the
// loopback-only default and API_AUTH=off seen from a client that is not on loopback (a network
// namespace of the test's own), METRICS_TOKEN, the audit log, 415, CORS and the rate limit.

const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
const name = (what: string) => `auth_${RUN}_${what}`;
const pipelineId = (what: string) => `auth-${RUN}-${what}`;

const secret = () => randomBytes(24).toString('base64url');
const TOKENS = { read: secret(), operate: secret(), admin: secret(), metrics: secret() };
const API_TOKENS = [
  `viewer:read:${tokenDigest(TOKENS.read)}`,
  `ops:operate:${tokenDigest(TOKENS.operate)}`,
  `root:admin:${tokenDigest(TOKENS.admin)}`,
].join(',');

type Caller = 'none' | 'read' | 'operate' | 'admin';
const CALLERS: Caller[] = ['none', 'read', 'operate', 'admin'];
const RANK: Record<Caller, number> = { none: -1, read: 0, operate: 1, admin: 2 };

/** Every /api/v1 route with the role the issue gives it. The OpenAPI description must list
 * exactly these, so a route added without a line here fails the test. */
const ROUTES: { method: string; path: string; role: Exclude<Caller, 'none'> }[] = [
  { method: 'GET', path: '/api/v1/pipelines', role: 'read' },
  { method: 'GET', path: '/api/v1/pipelines/{id}', role: 'read' },
  { method: 'GET', path: '/api/v1/pipelines/{id}/dlq', role: 'read' },
  { method: 'GET', path: '/api/v1/pipelines/{id}/source-gaps', role: 'read' },
  { method: 'GET', path: '/api/v1/pipelines/{id}/events/{key}', role: 'read' },
  { method: 'GET', path: '/api/v1/cluster', role: 'read' },
  { method: 'GET', path: '/api/v1/process', role: 'read' },
  // A POST that writes nothing: it runs the stages on the caller's event.
  { method: 'POST', path: '/api/v1/pipelines/{id}/preview', role: 'read' },
  { method: 'POST', path: '/api/v1/pipelines/{id}/stop', role: 'operate' },
  { method: 'POST', path: '/api/v1/pipelines/{id}/resume', role: 'operate' },
  { method: 'POST', path: '/api/v1/pipelines/{id}/dlq/discard', role: 'operate' },
  { method: 'POST', path: '/api/v1/pipelines/{id}/dlq/replay', role: 'operate' },
  { method: 'POST', path: '/api/v1/pipelines/{id}/partitions/{n}/accept-gap', role: 'operate' },
  { method: 'POST', path: '/api/v1/pipelines/{id}/rewind', role: 'operate' },
  { method: 'POST', path: '/api/v1/pipelines', role: 'admin' },
  // Before the delete, on the pipeline the create made: the same definition, so unchanged.
  { method: 'PUT', path: '/api/v1/pipelines/{id}', role: 'admin' },
  { method: 'DELETE', path: '/api/v1/pipelines/{id}', role: 'admin' },
];

interface Answer {
  status: number;
  body: { statusCode?: number; error?: string; message?: string } | undefined;
  headers: Headers;
}

async function call(
  app: SluiceProcess,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; type?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (method === 'POST' || method === 'PUT') {
    headers['content-type'] = options.type ?? 'application/json';
  }
  const response = await fetch(`http://127.0.0.1:${app.port}${path}`, {
    method,
    headers,
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let body: Answer['body'];
  try {
    body = text === '' ? undefined : (JSON.parse(text) as Answer['body']);
  } catch {
    body = { message: text };
  }
  return { status: response.status, body, headers: response.headers };
}

/** GET from loopback with a Host header of the caller's choice (fetch sets its own). */
function getWithHost(app: SluiceProcess, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: app.port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

function definition(id: string, table: string) {
  const env = testStackEnv();
  return {
    id,
    source: { kafka: { brokers: env.KAFKA_BROKERS.split(',') }, topics: [{ name: name('topic') }] },
    partitions: 2,
    dedup: { key: 'event_id', window: '1h' },
    sink: { clickhouse: { url: env.CLICKHOUSE_URL, table } },
  };
}

function serverEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS } = testStackEnv();
  // Writer only: pipelines created here never move data behind the test's back.
  return { ROLES: 'writer', REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS, ...extra };
}

describe('admin API access', () => {
  let ch: ClickHouseClient;
  let secured: SluiceProcess;
  let netns: NetnsClient;
  const table = name('events');
  const kept = pipelineId('kept');
  const created = pipelineId('created');

  beforeAll(async () => {
    ch = createClient({ url: testStackEnv().CLICKHOUSE_URL, request_timeout: 60_000 });
    await ch.command({
      query:
        `CREATE TABLE ${table} (event_id String, ts DateTime64(3, 'UTC')) ENGINE = MergeTree ` +
        'ORDER BY event_id SETTINGS non_replicated_deduplication_window = 100',
    });
    await createTopic(name('topic'), 2, { dir: TEST_STACK_DIR });
    netns = await NetnsClient.create();
    secured = await SluiceProcess.start({
      env: serverEnv({
        API_TOKENS,
        METRICS_TOKEN: tokenDigest(TOKENS.metrics),
        CORS_ORIGINS: 'https://ops.example.com',
        API_RATE_LIMIT: '4',
      }),
    });
    const made = await call(secured, 'POST', '/api/v1/pipelines', {
      token: TOKENS.admin,
      body: definition(kept, table),
    });
    expect(made.status).toBe(201);
  });

  afterAll(async () => {
    await secured?.stop();
    await netns?.remove();
    await ch?.command({ query: `DROP TABLE IF EXISTS ${table}` }).catch(() => undefined);
    await ch?.close();
  });

  it('describes exactly the routes of the matrix', async () => {
    const doc = (await call(secured, 'GET', '/api/v1/openapi.json')).body as unknown as {
      paths: Record<string, Record<string, { 'x-sluice-role'?: string }>>;
    };
    const described = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/v1/'))
      .flatMap(([path, item]) =>
        Object.entries(item).map(([m, op]) => `${m.toUpperCase()} ${path} ${op['x-sluice-role']}`),
      );
    expect(described.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path} ${r.role}`).sort());
  });

  it('answers every route x no token / each role with 401 / 403 / success', async () => {
    const results: string[] = [];
    const expected: string[] = [];
    for (const route of ROUTES) {
      for (const caller of CALLERS) {
        // The create, edit and delete that succeed work on a pipeline of their own.
        const id = route.method === 'GET' || route.method === 'POST' ? kept : created;
        const path = route.path
          .replace('{id}', id)
          .replace('{key}', 'no-such-key')
          .replace('{n}', '0');
        const isCreate = route.method === 'POST' && route.path === '/api/v1/pipelines';
        const isEdit = route.method === 'PUT';
        const answer = await call(
          secured,
          route.method,
          path + (path.endsWith('/cluster') ? '?lag=false' : ''),
          {
            token: caller === 'none' ? undefined : TOKENS[caller],
            headers: isEdit ? { 'if-match': '*' } : undefined,
            body:
              isCreate || isEdit
                ? definition(created, table)
                : route.path.endsWith('/preview')
                  ? { message: {} }
                  : undefined,
          },
        );
        const allowed = RANK[caller] >= RANK[route.role];
        const want = caller === 'none' ? 401 : allowed ? 'ok' : 403;
        // A successful request passed the guard: 2xx, or the route's own answer to this state (the
        // lookup's 404 for an unknown key, accept-gap's 409 for a partition not held by a gap,
        // rewind's 400 for a body without a time).
        const passed =
          (answer.status >= 200 && answer.status < 300) ||
          (answer.status === 404 && (answer.body?.message ?? '').startsWith('no record of key')) ||
          (answer.status === 409 &&
            (answer.body?.message ?? '').endsWith('is not held by a gap')) ||
          // Sent without a time: the rewind's own 400 (a real rewind stops the pipeline).
          (answer.status === 400 && (answer.body?.message ?? '').startsWith('send { "to"'));
        const got = passed ? 'ok' : answer.status;
        results.push(`${route.method} ${route.path} as ${caller}: ${got}`);
        expected.push(`${route.method} ${route.path} as ${caller}: ${want}`);
        if (got === 401 || got === 403) {
          expect(answer.body).toMatchObject({
            statusCode: got,
            error: got === 401 ? 'Unauthorized' : 'Forbidden',
            message: expect.any(String),
          });
        }
        if (got === 401) expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
      }
    }
    expect(results).toEqual(expected);
  });

  it('writes an audit line per state-changing request with the token name, never the token', async () => {
    await call(secured, 'POST', `/api/v1/pipelines/${kept}/stop`, { token: TOKENS.operate });
    await call(secured, 'POST', `/api/v1/pipelines/${kept}/resume`, { token: TOKENS.read });
    await call(secured, 'POST', `/api/v1/pipelines/${kept}/resume`, { token: TOKENS.admin });
    const lines = [
      `audit: ops POST /api/v1/pipelines/${kept}/stop -> 200`,
      `audit: viewer POST /api/v1/pipelines/${kept}/resume refused`,
      `audit: root POST /api/v1/pipelines/${kept}/resume -> 200`,
      `audit: (no token) DELETE /api/v1/pipelines/${created} refused`,
      `audit: root DELETE /api/v1/pipelines/${created} -> 204`,
    ];
    // Written when the response has gone out: wait for the log to arrive.
    await secured.waitFor(
      () => Promise.resolve(lines.every((l) => secured.text().includes(l))),
      5_000,
      'the audit lines',
    );
    const log = secured.text();
    const line = log.split('\n').find((l) => l.includes(`audit: ops POST`))!;
    expect(JSON.parse(line)).toMatchObject({
      audit: { token: 'ops', role: 'operate', method: 'POST', status: 200, outcome: 'done' },
    });
    for (const token of Object.values(TOKENS)) expect(log).not.toContain(token);
  });

  it('refuses a POST that is not JSON or YAML (no cross-site simple posts)', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']) {
      const answer = await call(secured, 'POST', `/api/v1/pipelines/${kept}/stop`, {
        token: TOKENS.admin,
        type,
        body: 'a=b',
      });
      expect({ type, status: answer.status }).toEqual({ type, status: 415 });
      expect(answer.body).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type' });
    }
    const status = await call(secured, 'GET', `/api/v1/pipelines/${kept}`, { token: TOKENS.read });
    expect((status.body as { status?: string }).status).toBe('running');
  });

  it('needs METRICS_TOKEN on /metrics when it is set, and no token on /health', async () => {
    expect((await call(secured, 'GET', '/metrics')).status).toBe(401);
    expect((await call(secured, 'GET', '/metrics', { token: 'wrong' })).status).toBe(401);
    expect((await call(secured, 'GET', '/metrics', { token: TOKENS.metrics })).status).toBe(200);
    expect((await call(secured, 'GET', '/metrics', { token: TOKENS.read })).status).toBe(200);
    expect((await call(secured, 'GET', '/health/live')).status).toBe(200);
    expect((await call(secured, 'GET', '/health/ready')).status).toBe(200);
  });

  it('allows CORS for CORS_ORIGINS only', async () => {
    const preflight = (origin: string) =>
      call(secured, 'OPTIONS', '/api/v1/pipelines', {
        headers: { origin, 'access-control-request-method': 'POST' },
      });
    const allowed = await preflight('https://ops.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://ops.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    const other = await preflight('https://evil.example.net');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('rate-limits the costly routes per client with the usual error body', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await call(secured, 'GET', `/api/v1/pipelines/${kept}/dlq?limit=5`, {
        token: TOKENS.read,
      });
      statuses.push(answer.status);
      if (answer.status === 429) {
        expect(answer.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
      }
    }
    // The matrix used 3 of the 4 a minute: one more passes, then 429.
    expect(statuses).toEqual([200, 429, 429, 429]);
    // Cheap routes are not limited.
    for (let i = 0; i < 6; i++) {
      expect((await call(secured, 'GET', '/api/v1/pipelines', { token: TOKENS.read })).status).toBe(
        200,
      );
    }
  });

  it('takes tokens from a client that is not on loopback', async () => {
    expect((await netns.request(secured.port, '/api/v1/pipelines')).status).toBe(401);
    const answer = await netns.request(secured.port, '/api/v1/pipelines', {
      authorization: `Bearer ${TOKENS.read}`,
    });
    expect(answer.status).toBe(200);
  });

  describe('without API_TOKENS', () => {
    it('serves /api/v1 to loopback clients only, and says so at startup', async () => {
      const app = await SluiceProcess.start({ env: serverEnv() });
      try {
        expect(app.text()).toContain('/api/v1 serves only clients on this machine');
        expect((await call(app, 'GET', '/api/v1/pipelines')).status).toBe(200);
        const remote = await netns.request(app.port, '/api/v1/pipelines');
        expect(remote.status).toBe(403);
        expect(JSON.parse(remote.body)).toMatchObject({
          statusCode: 403,
          error: 'Forbidden',
          message: expect.stringContaining('API_TOKENS'),
        });
        // DNS rebinding: a page of another site whose name now points at 127.0.0.1.
        expect(await getWithHost(app, '/api/v1/pipelines', 'rebound.example.com:80')).toBe(403);
        expect(await getWithHost(app, '/api/v1/pipelines', `localhost:${app.port}`)).toBe(200);
        // Probes and scrapes come from elsewhere: never loopback-only.
        expect((await netns.request(app.port, '/health/live')).status).toBe(200);
        expect((await netns.request(app.port, '/metrics')).status).toBe(200);
        // CORS is off: a preflight gets no allow-origin.
        const preflight = await call(app, 'OPTIONS', '/api/v1/pipelines', {
          headers: { origin: 'https://ops.example.com', 'access-control-request-method': 'POST' },
        });
        expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      } finally {
        await app.stop();
      }
    });

    it('opens /api/v1 to every client with API_AUTH=off, logged as unsafe', async () => {
      const app = await SluiceProcess.start({ env: serverEnv({ API_AUTH: 'off' }) });
      try {
        expect(app.text()).toMatch(/API_AUTH=off: UNSAFE/);
        expect((await netns.request(app.port, '/api/v1/pipelines')).status).toBe(200);
        const stop = await call(app, 'POST', `/api/v1/pipelines/${kept}/stop`);
        expect(stop.status).toBe(200);
        const audit = `audit: anonymous POST /api/v1/pipelines/${kept}/stop -> 200`;
        await app.waitFor(() => Promise.resolve(app.text().includes(audit)), 5_000, audit);
      } finally {
        await app.stop();
      }
    });
  });
});
