import { SluiceProcess } from './support/sluice-process';

describe('configuration at startup', () => {
  it('reports every invalid key in one message and exits with code 1', async () => {
    const proc = await SluiceProcess.start({
      noWait: true,
      env: {
        PORT: '99999',
        LOG_LEVEL: 'chatty',
        REDIS_URL: 'http://127.0.0.1:6379',
        KAFKA_BROKERS: 'not a broker',
        CLICKHOUSE_URL: 'clickhouse://x',
        SHUTDOWN_TIMEOUT_MS: 'soon',
      },
    });
    const exit = await proc.waitForExit();
    expect(exit.code).toBe(1);
    const lines = proc.text().trim().split('\n');
    const message = lines.find((line) => line.startsWith('Invalid configuration'));
    expect(message).toBeDefined();
    // One message, naming each bad key.
    expect(lines.filter((line) => line.startsWith('Invalid configuration'))).toHaveLength(1);
    for (const key of [
      'PORT',
      'LOG_LEVEL',
      'REDIS_URL',
      'KAFKA_BROKERS',
      'CLICKHOUSE_URL',
      'SHUTDOWN_TIMEOUT_MS',
    ]) {
      expect(message).toContain(`${key}:`);
    }
    expect(message).toContain('6 problems');
  });

  it('names a server URL the roles need when it is missing', async () => {
    const proc = await SluiceProcess.start({
      noWait: true,
      env: { ROLES: 'consumer', REDIS_URL: 'redis://127.0.0.1:1' },
    });
    expect((await proc.waitForExit()).code).toBe(1);
    expect(proc.text()).toMatch(/KAFKA_BROKERS: required by roles consumer/);
  });
});
