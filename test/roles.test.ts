import { createServer, type Server, type Socket } from 'node:net';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

/** A TCP listener posing as a Kafka broker: it only counts who connects to it. */
async function connectionCounter(): Promise<{
  server: Server;
  address: string;
  count: () => number;
}> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  return { server, address: `127.0.0.1:${port}`, count: () => connections };
}

describe('roles', () => {
  const started: SluiceProcess[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
  });

  it('a writer-only process opens no Kafka connection, a consumer does', async () => {
    const { REDIS_URL, CLICKHOUSE_URL } = testStackEnv();
    const fakeKafka = await connectionCounter();
    try {
      const env = { REDIS_URL, CLICKHOUSE_URL, KAFKA_BROKERS: fakeKafka.address };
      const writer = await SluiceProcess.start({ env: { ...env, ROLES: 'writer' } });
      started.push(writer);
      await writer.waitFor(
        async () => (await writer.get('/health/ready')).status === 200,
        30_000,
        'writer ready',
      );
      // Probe readiness a few times: a stray Kafka probe would connect on each.
      for (let i = 0; i < 3; i += 1) await writer.get('/health/ready');
      expect(fakeKafka.count()).toBe(0);

      // The control: the same setup with the consumer role does reach for Kafka.
      const consumer = await SluiceProcess.start({
        env: { ...env, ROLES: 'consumer', HEALTH_TIMEOUT_MS: '500' },
      });
      started.push(consumer);
      await consumer.get('/health/ready');
      await consumer.waitFor(
        () => Promise.resolve(fakeKafka.count() > 0),
        10_000,
        'a Kafka connection',
      );
    } finally {
      fakeKafka.server.close();
    }
  });

  it('composes only the enabled roles', async () => {
    const { REDIS_URL } = testStackEnv();
    const owner = await SluiceProcess.start({ env: { REDIS_URL, ROLES: 'owner' } });
    started.push(owner);
    const info = (await owner.get('/api/v1/process')).body as {
      roles: Record<string, string>;
      dependencies: string[];
    };
    expect(info.roles).toEqual({ owner: 'running' });
    expect(info.dependencies).toEqual(['redis']);
  });

  it('refuses an unknown role, naming the valid ones, with exit code 1', async () => {
    const proc = await SluiceProcess.start({
      env: { ...testStackEnv(), ROLES: 'consumer,reader' },
      noWait: true,
    });
    started.push(proc);
    const exit = await proc.waitForExit();
    expect(exit.code).toBe(1);
    expect(proc.text()).toContain('"reader"');
    expect(proc.text()).toContain('valid roles: consumer, owner, writer');
  });
});
