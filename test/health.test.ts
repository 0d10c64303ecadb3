import { stackKill, stackUp } from '@sluice/stack';
import { TEST_STACK_DIR } from './support/paths';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

type Readiness = {
  status: string;
  error?: Record<string, { status: string; message?: string }>;
  info?: Record<string, unknown>;
};

// Its own Redis database: readiness probes the Kafka cluster of every running pipeline, and
// other tests' pipelines (or a failed test's leftovers, naming a stack since stopped) live in db 0.
const ownRedisUrl = () => `${testStackEnv().REDIS_URL}/14`;

describe('health endpoints', () => {
  let app: SluiceProcess | undefined;

  afterEach(async () => {
    await app?.stop();
    app = undefined;
    // Whatever happened in the test, leave Redis running for the next one.
    await stackUp({ dir: TEST_STACK_DIR, services: ['redis'] });
  });

  it('checks every server the roles use and turns 503 naming redis while Redis is down', async () => {
    app = await SluiceProcess.start({
      env: { ...testStackEnv(), REDIS_URL: ownRedisUrl(), HEALTH_TIMEOUT_MS: '1000' },
    });
    const running = app;
    await running.waitFor(
      async () => (await running.get('/health/ready')).status === 200,
      30_000,
      'ready',
    );
    const ready = (await running.get('/health/ready')).body as Readiness;
    // sourceGaps and kafkaClusters (consumer role) and holds (every process) only report: up
    // whatever they say.
    expect(Object.keys(ready.info ?? {}).sort()).toEqual([
      'clickhouse',
      'holds',
      'kafka',
      'kafkaClusters',
      'redis',
      'sourceGaps',
    ]);
    expect(ready.info?.kafkaClusters).toEqual({ status: 'up', down: [] });
    // Only the shape is this test's.
    expect(ready.info?.holds).toMatchObject({ status: 'up', held: expect.any(Number) });
    expect(ready.info?.sourceGaps).toEqual({
      status: 'up',
      resets: 0,
      skippedOffsets: 0,
      pipelines: {},
    });

    await stackKill('redis', { dir: TEST_STACK_DIR });
    await running.waitFor(
      async () => (await running.get('/health/ready')).status === 503,
      15_000,
      'ready 503',
    );
    const down = (await running.get('/health/ready')).body as Readiness;
    expect(down.status).toBe('error');
    expect(down.error?.redis?.status).toBe('down');
    // Only Redis is named as failing: Kafka and ClickHouse are still up.
    expect(Object.keys(down.error ?? {})).toEqual(['redis']);
    expect((await running.get('/health/live')).status).toBe(200);

    await stackUp({ dir: TEST_STACK_DIR, services: ['redis'] });
    await running.waitFor(
      async () => (await running.get('/health/ready')).status === 200,
      30_000,
      'ready again',
    );
    // The same process recovered: nothing restarted it.
    expect(running.running).toBe(true);
    expect(((await running.get('/api/v1/process')).body as { pid: number }).pid).toBe(running.pid);
  });

  it('checks only Redis and ClickHouse for a writer-only process', async () => {
    const { CLICKHOUSE_URL } = testStackEnv();
    app = await SluiceProcess.start({
      env: { ROLES: 'writer', REDIS_URL: ownRedisUrl(), CLICKHOUSE_URL },
    });
    const running = app;
    await running.waitFor(
      async () => (await running.get('/health/ready')).status === 200,
      30_000,
      'ready',
    );
    const ready = (await running.get('/health/ready')).body as Readiness;
    expect(Object.keys(ready.info ?? {}).sort()).toEqual(['clickhouse', 'holds', 'redis']);
  });
});
