// SASL OAUTHBEARER with an OAuth 2 client-credentials token endpoint (issue 18), end to end: a
// token endpoint started here, and the mock brokers behind a front that requires SASL OAUTHBEARER
// with a token that endpoint issued (the mock itself has no SASL). A pipeline with the grant's
// client secret (an ${env:...} reference) is ready and delivers its events; one token serves the
// consumer, its admin and the readiness probe; a wrong client secret makes /health/ready 503
// naming that pipeline.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { connectProducer, generateEvents, produceAll } from './support/events';
import { ExtraRedis } from './support/extra-redis';
import { KafkaSecureFront } from './support/kafka-secure-front';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  postPipeline,
  setPipelineRunning,
  tableCount,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

type Readiness = {
  status: string;
  error?: Record<string, { status: string; message?: string }>;
  info?: Record<string, { status: string }>;
};

const CLIENT_ID = 'sluice-test';
const CLIENT_SECRET = 'right-secret';

/** A client-credentials token endpoint: HTTP Basic client auth, tokens valid an hour. */
class TokenEndpoint {
  readonly issued = new Set<string>();
  requests = 0;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<TokenEndpoint> {
    const server = createServer();
    const endpoint = new TokenEndpoint(server);
    server.on('request', (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        endpoint.requests += 1;
        const basic = (req.headers.authorization ?? '').replace(/^Basic /, '');
        const form = new URLSearchParams(body);
        const ok =
          Buffer.from(basic, 'base64').toString() === `${CLIENT_ID}:${CLIENT_SECRET}` &&
          form.get('grant_type') === 'client_credentials' &&
          form.get('scope') === 'kafka';
        if (!ok) {
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end('{"error":"invalid_client","error_description":"client secret mismatch"}');
          return;
        }
        const token = `token-${endpoint.requests}-${Math.random().toString(36).slice(2)}`;
        endpoint.issued.add(token);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 3600 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return endpoint;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/oauth2/token`;
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('SASL OAUTHBEARER with a client-credentials token endpoint', () => {
  let endpoint: TokenEndpoint;
  let front: KafkaSecureFront;
  let redis: ExtraRedis;
  let ch: ClickHouseClient;
  let app: SluiceProcess | undefined;

  beforeAll(async () => {
    endpoint = await TokenEndpoint.start();
    front = await KafkaSecureFront.start(testStackEnv().KAFKA_BROKERS.split(','), {
      acceptToken: (token) => endpoint.issued.has(token),
    });
    // Its own Redis: only this test's pipelines are probed.
    redis = await ExtraRedis.start('kafka-oauth');
    ch = clickhouse();
  });

  afterAll(async () => {
    await app?.stop();
    await front?.close();
    await endpoint?.close();
    await redis?.stop();
    await ch?.close();
  });

  async function waitForReadiness(status: number, what: string): Promise<Readiness> {
    const running = app as SluiceProcess;
    await running.waitFor(
      async () => (await running.get('/health/ready')).status === status,
      30_000,
      what,
    );
    return (await running.get('/health/ready')).body as Readiness;
  }

  it('authenticates the consumer and the probe with the grant, and names a wrong secret', async () => {
    const env = testStackEnv();
    app = await SluiceProcess.start({
      env: {
        REDIS_URL: redis.url,
        KAFKA_BROKERS: front.brokers.join(','),
        CLICKHOUSE_URL: env.CLICKHOUSE_URL,
        KAFKA_CLIENT_SECRET: CLIENT_SECRET,
        WRONG_CLIENT_SECRET: 'wrong-secret',
      },
    });
    // No pipeline: KAFKA_BROKERS without SASL, which the front refuses.
    await waitForReadiness(503, 'kafka down without SASL');

    const topic = uniqueName('kafka_oauth');
    const table = uniqueName('kafka_oauth');
    await createSourceTopic(topic, 2);
    await createEventsTable(ch, table);
    const withGrant = (id: string, secretVariable: string) => {
      const definition = dedupPipeline(id, topic, table, 2) as {
        source: { kafka: Record<string, unknown> };
      };
      definition.source.kafka = {
        brokers: front.brokers,
        sasl: {
          mechanism: 'oauthbearer',
          tokenEndpoint: endpoint.url,
          clientId: CLIENT_ID,
          clientSecret: `\${env:${secretVariable}}`,
          scope: 'kafka',
        },
      };
      return definition;
    };

    const good = uniquePipelineId('oauth-good');
    await postPipeline(app, withGrant(good, 'KAFKA_CLIENT_SECRET'));
    const ready = await waitForReadiness(200, 'ready with the grant');
    expect(ready.info?.kafka?.status).toBe('up');

    // The consumer reads through the front too: the events arrive.
    const stream = generateEvents(40, { duplicateRatio: 0, malformedRatio: 0, idPrefix: good });
    const { producer, close } = await connectProducer(env.KAFKA_BROKERS);
    await produceAll(producer, topic, 2, stream.messages);
    await close();
    await app.waitFor(
      async () => (await tableCount(ch, table)).ids === stream.uniqueIds.size,
      60_000,
      'events written',
    );
    // One token for every client of the process (consumer, its admin, the probe), reused.
    expect(endpoint.requests).toBe(1);
    expect(front.tokens.length).toBeGreaterThan(1);
    expect(new Set(front.tokens).size).toBe(1);

    const wrong = uniquePipelineId('oauth-wrong');
    await postPipeline(app, withGrant(wrong, 'WRONG_CLIENT_SECRET'));
    // Beside the good pipeline's cluster the wrong one is a report; alone, the failure.
    await app.waitFor(
      async () => {
        const ready = (await (app as SluiceProcess).get('/health/ready')) as {
          status: number;
          body: { info?: { kafkaClusters?: { down: { pipelines: string[] }[] } } };
        };
        const down = ready.body.info?.kafkaClusters?.down ?? [];
        return ready.status === 200 && down.some((d) => d.pipelines.includes(wrong));
      },
      30_000,
      'the wrong secret reported',
    );
    await setPipelineRunning(app, good, false);
    const down = await waitForReadiness(503, 'down for the wrong secret');
    expect(Object.keys(down.error ?? {})).toEqual(['kafka']);
    const message = down.error?.kafka?.message ?? '';
    expect(message).toContain(`(pipelines ${wrong})`);
    expect(message).toContain('token endpoint answered HTTP 401 (invalid_client)');
    expect(message).not.toContain('client secret mismatch');
    expect(message).not.toContain(good);
  });
});
