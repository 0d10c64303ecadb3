import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from './support/paths';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

interface OpenApiDoc {
  openapi: string;
  paths: Record<
    string,
    Record<string, { security?: unknown[]; responses: Record<string, unknown> }>
  >;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
}

/** The routes Nest mapped at startup ("Mapped {/path, METHOD} route"), as `METHOD /path`. */
function mappedRoutes(log: string): string[] {
  const routes = [...log.matchAll(/Mapped \{([^,}]+), (\w+)\} route/g)].map(
    ([, path, method]) => `${method} ${path!.replace(/:(\w+)/g, '{$1}')}`,
  );
  return [...new Set(routes)].sort();
}

/**
 * Checks a document with @apidevtools/swagger-parser (the OpenAPI 3 JSON Schema plus its own
 * rules), in a child Node: the validator's dependencies are ES modules, which Jest's CommonJS
 * runtime here cannot load. Returns 'valid' or the validator's message.
 */
function validationOf(doc: unknown): string {
  const script = `
    const parser = require('@apidevtools/swagger-parser');
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c)).on('end', () =>
      parser.validate(JSON.parse(Buffer.concat(chunks).toString())).then(
        () => console.log('valid'),
        (err) => console.log(err.message),
      ));`;
  const run = spawnSync(process.execPath, ['-e', script], {
    cwd: REPO_ROOT,
    input: JSON.stringify(doc),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return `${run.stdout}${run.stderr}`.trim();
}

describe('OpenAPI description', () => {
  let app: SluiceProcess;

  beforeAll(async () => {
    const { REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS } = testStackEnv();
    app = await SluiceProcess.start({
      env: { ROLES: 'writer', REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS },
    });
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('is a valid OpenAPI 3 document describing every route the app serves', async () => {
    const { status, body } = await app.get('/api/v1/openapi.json');
    expect(status).toBe(200);
    const doc = body as OpenApiDoc;
    expect(doc.openapi).toMatch(/^3\./);
    expect(validationOf(doc)).toBe('valid');

    const described = Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = mappedRoutes(app.text());
    expect(served.length).toBeGreaterThanOrEqual(14);
    expect(described).toEqual(served);
  });

  it('gives each API route the bearer scheme, its role and the error answers', async () => {
    const doc = (await app.get('/api/v1/openapi.json')).body as OpenApiDoc;
    expect(doc.components.securitySchemes.apiToken).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        if (!path.startsWith('/api/v1/')) continue;
        expect({ where, security: op.security }).toEqual({ where, security: [{ apiToken: [] }] });
        expect({ where, role: (op as Record<string, unknown>)['x-sluice-role'] }).toEqual({
          where,
          // Reads are GETs, and the preview: a POST that writes nothing (README "Admin API").
          role:
            method === 'get' || where === 'POST /api/v1/pipelines/{id}/preview'
              ? 'read'
              : expect.stringMatching(/^(operate|admin)$/),
        });
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
        if (method === 'post') expect(Object.keys(op.responses)).toContain('415');
      }
    }
    const create = doc.paths['/api/v1/pipelines']!.post as unknown as {
      requestBody: { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    };
    expect(Object.keys(create.requestBody.content)).toEqual(
      expect.arrayContaining(['application/json', 'application/yaml']),
    );
    expect(Object.keys(create.requestBody.content['application/json']!.schema.properties)).toEqual(
      expect.arrayContaining(['id', 'source', 'partitions', 'dedup', 'join', 'sink', 'dlq']),
    );
    expect(doc.paths['/health/live']!.get!.security).toBeUndefined();
  });

  it('serves a docs page at /api/v1/docs that loads the description', async () => {
    const page = await fetch(`http://127.0.0.1:${app.port}/api/v1/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    const init = await fetch(`http://127.0.0.1:${app.port}/api/v1/docs/swagger-ui-init.js`);
    expect(init.status).toBe(200);
    expect(await init.text()).toContain('Sluice admin API');
  });
});
