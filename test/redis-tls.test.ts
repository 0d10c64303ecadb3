// TLS to Redis (issue 18): a CA, a server and a client certificate made here by openssl, a
// redis-server started here that speaks only TLS and requires client certificates. Sluice is
// ready with REDIS_TLS_CA/CERT/KEY/SERVERNAME, and not without the client certificate.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from './support/certificates';
import { freePort, SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const SERVER_NAME = 'sluice-redis.test';

describe('TLS to Redis', () => {
  let dir: string;
  let redis: ChildProcess;
  let port = 0;
  const apps: SluiceProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-redis-tls-'));
    makeCertificates(dir, `DNS:${SERVER_NAME}`);
    port = await freePort();
    redis = spawn(
      'redis-server',
      [
        ...['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1'],
        ...['--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key')],
        ...['--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'yes'],
        ...['--save', '', '--appendonly', 'no', '--dir', dir],
      ],
      { stdio: 'ignore' },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    if (redis?.pid) process.kill(redis.pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (tls: Record<string, string>) => {
    const { CLICKHOUSE_URL } = testStackEnv();
    return SluiceProcess.start({
      env: {
        ROLES: 'writer',
        REDIS_URL: `rediss://127.0.0.1:${port}`,
        CLICKHOUSE_URL,
        REDIS_TLS_CA: join(dir, 'ca.crt'),
        REDIS_TLS_SERVERNAME: SERVER_NAME,
        ...tls,
      },
    });
  };

  async function readyWithin(app: SluiceProcess, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if ((await app.get('/health/ready')).status === 200) return true;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return false;
  }

  it('connects with the CA, a client certificate and the server name (mutual TLS)', async () => {
    const app = await start({
      REDIS_TLS_CERT: join(dir, 'client.crt'),
      REDIS_TLS_KEY: join(dir, 'client.key'),
    });
    apps.push(app);
    expect(await readyWithin(app, 20_000)).toBe(true);
  });

  it('is not ready without the client certificate the server requires', async () => {
    const app = await start({});
    apps.push(app);
    expect(await readyWithin(app, 5_000)).toBe(false);
  });
});
