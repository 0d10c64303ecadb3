// Readiness with each pipeline's own Kafka security (issue 18): a Kafka cluster reached only over
// TLS with a CA made here (a real node:tls proxy in front of the mock brokers, which speak
// plaintext only and have no SASL). The process's KAFKA_BROKERS point at the TLS listeners with
// no security, so a probe that ignores the pipelines' ssl reads the cluster as down; /health/ready
// must probe it with each running pipeline's ssl and name the pipeline whose CA is wrong: as a
// report while another pipeline's cluster answers, as the failure once none does.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { ExtraRedis } from './support/extra-redis';
import { KafkaSecureFront } from './support/kafka-secure-front';
import {
  clickhouse,
  createEventsTable,
  createSourceTopic,
  dedupPipeline,
  postPipeline,
  setPipelineRunning,
  uniqueName,
  uniquePipelineId,
} from './support/pipeline-fixture';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';
import { makeCertificates, type TestCertificates } from './support/certificates';

type Readiness = {
  status: string;
  error?: Record<string, { status: string; message?: string }>;
  info?: Record<string, { status: string }> & {
    kafkaClusters?: { down: { brokers: string[]; pipelines: string[]; error: string }[] };
  };
};

describe('readiness probes Kafka with each pipeline own security', () => {
  let dir: string;
  let ca: TestCertificates;
  let otherCa: TestCertificates;
  let proxy: KafkaSecureFront;
  let redis: ExtraRedis;
  let ch: ClickHouseClient;
  let app: SluiceProcess | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-kafka-tls-'));
    // Two CAs of their own: neither trusts the other's server certificate.
    [ca, otherCa] = ['kafka', 'other'].map((name) => {
      mkdirSync(join(dir, name));
      return makeCertificates(join(dir, name), 'IP:127.0.0.1');
    }) as [TestCertificates, TestCertificates];
    proxy = await KafkaSecureFront.start(testStackEnv().KAFKA_BROKERS.split(','), {
      tls: { cert: ca.pem('server.crt'), key: ca.pem('server.key') },
    });
    // Its own Redis: only this test's pipelines are probed.
    redis = await ExtraRedis.start('kafka-tls');
    ch = clickhouse();
  });

  afterAll(async () => {
    await app?.stop();
    await proxy?.close();
    await redis?.stop();
    await ch?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function readiness(): Promise<{ status: number; body: Readiness }> {
    const { status, body } = await (app as SluiceProcess).get('/health/ready');
    return { status, body: body as Readiness };
  }

  async function waitForReadiness(
    check: (r: { status: number; body: Readiness }) => boolean,
    what: string,
  ): Promise<{ status: number; body: Readiness }> {
    const running = app as SluiceProcess;
    await running.waitFor(async () => check(await readiness()), 30_000, what);
    return readiness();
  }

  it('is ready with the pipeline TLS CA, and names the pipeline whose CA is wrong', async () => {
    const { CLICKHOUSE_URL } = testStackEnv();
    app = await SluiceProcess.start({
      env: {
        REDIS_URL: redis.url,
        KAFKA_BROKERS: proxy.brokers.join(','),
        CLICKHOUSE_URL,
        HEALTH_TIMEOUT_MS: '2000',
      },
    });

    // No pipeline: the process's brokers, as configured (no TLS), do not answer.
    const before = await waitForReadiness((r) => r.status === 503, 'kafka down');
    expect(Object.keys(before.body.error ?? {})).toEqual(['kafka']);

    const topic = uniqueName('kafka_tls');
    const table = uniqueName('kafka_tls');
    await createSourceTopic(topic, 2);
    await createEventsTable(ch, table);
    const secured = (id: string, tlsCa: string) => {
      const definition = dedupPipeline(id, topic, table, 2) as {
        source: { kafka: Record<string, unknown> };
      };
      definition.source.kafka = { brokers: proxy.brokers, ssl: { ca: tlsCa } };
      return definition;
    };

    const good = uniquePipelineId('tls-good');
    await postPipeline(app, secured(good, ca.pem('ca.crt')));
    const ready = await waitForReadiness((r) => r.status === 200, 'ready over TLS');
    expect(ready.body.info?.kafka?.status).toBe('up');
    expect(proxy.handshakes).toBeGreaterThan(0);

    // Same brokers, another CA: a connection of its own, which fails, named by its pipeline. The
    // process still reads the good pipeline's cluster: reported, not a failure.
    const wrong = uniquePipelineId('tls-wrong');
    await postPipeline(app, secured(wrong, otherCa.pem('ca.crt')));
    const reported = await waitForReadiness(
      (r) => (r.body.info?.kafkaClusters?.down.length ?? 0) > 0,
      'the wrong CA reported',
    );
    expect(reported.status).toBe(200);
    expect(reported.body.info?.kafkaClusters?.down.map((d) => d.pipelines)).toEqual([[wrong]]);

    // The good pipeline stopped: no cluster the process reads answers, so it is not ready.
    await setPipelineRunning(app, good, false);
    const down = await waitForReadiness((r) => r.status === 503, 'down for the wrong CA');
    expect(Object.keys(down.body.error ?? {})).toEqual(['kafka']);
    const message = down.body.error?.kafka?.message ?? '';
    expect(message).toContain(`(pipelines ${wrong})`);
    expect(message).not.toContain(good);
  });
});
