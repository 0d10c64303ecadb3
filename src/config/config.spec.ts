import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenDigest } from '../auth/tokens';
import { ConfigError, loadConfig, wantsEmbeddedStack } from './config';

const servers = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  KAFKA_BROKERS: '127.0.0.1:9092,127.0.0.1:9093',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
};

function problemsOf(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults: all roles, port 3000, info logs', () => {
    const config = loadConfig({ ...servers });
    expect(config.roles).toEqual(['consumer', 'owner', 'writer']);
    expect(config.dependencies.sort()).toEqual(['clickhouse', 'kafka', 'redis']);
    expect(config.port).toBe(3000);
    expect(config.logLevel).toBe('info');
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:9092', '127.0.0.1:9093']);
  });

  it('reads the Redis safety settings: no replica waits and no eviction by default, bounds per partition', () => {
    const defaults = loadConfig({ ...servers });
    expect(defaults.redisSync).toEqual({ replicas: 0, timeoutMs: 1_000 });
    expect(defaults.redisAllowEviction).toBe(false);
    expect(defaults.bounds).toEqual({
      outboxBatches: 200,
      outboxBytes: 256 * 1024 * 1024,
      dedupKeys: 10_000_000,
      joinRecords: 5_000_000,
    });
    const set = loadConfig({
      ...servers,
      REDIS_MIN_REPLICAS: '2',
      REDIS_REPLICA_WAIT_MS: '250',
      REDIS_ALLOW_EVICTION: 'true',
      OUTBOX_MAX_BATCHES: '5',
    });
    expect(set.redisSync).toEqual({ replicas: 2, timeoutMs: 250 });
    expect(set.redisAllowEviction).toBe(true);
    expect(set.bounds.outboxBatches).toBe(5);
    expect(problemsOf({ ...servers, REDIS_ALLOW_EVICTION: 'yes' }).problems[0]?.key).toBe(
      'REDIS_ALLOW_EVICTION',
    );
  });

  it('reports every bad key in one error', () => {
    const error = problemsOf({
      ...servers,
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'http://not-redis',
      KAFKA_BROKERS: 'nohostport',
    });
    expect(error.problems.map((p) => p.key)).toEqual([
      'KAFKA_BROKERS',
      'LOG_LEVEL',
      'PORT',
      'REDIS_URL',
    ]);
    expect(error.message).toContain('4 problems');
    expect(error.message).toMatch(/PORT: .*whole number/);
  });

  it('refuses a removed key and names what replaced it', () => {
    const error = problemsOf({ ...servers, EVENT_INDEX_MAX_RECORDS: '200000' });
    expect(error.problems.map((p) => p.key)).toEqual(['EVENT_INDEX_MAX_RECORDS']);
    expect(error.message).toContain('EVENT_INDEX_MAX_BYTES');
  });

  it('names the valid roles when a role is unknown', () => {
    const error = problemsOf({ ...servers, ROLES: 'consumer,reader' });
    expect(error.message).toContain('"reader"');
    expect(error.message).toContain('valid roles: consumer, owner, writer');
  });

  it('requires only the servers the roles use', () => {
    const writer = loadConfig({
      ROLES: 'writer',
      REDIS_URL: servers.REDIS_URL,
      CLICKHOUSE_URL: servers.CLICKHOUSE_URL,
    });
    expect(writer.dependencies.sort()).toEqual(['clickhouse', 'redis']);
    const error = problemsOf({ ROLES: 'consumer', REDIS_URL: servers.REDIS_URL });
    expect(error.problems).toEqual([
      { key: 'KAFKA_BROKERS', message: expect.stringContaining('consumer') },
    ]);
  });

  it('deduplicates roles and trims spaces', () => {
    expect(loadConfig({ ...servers, ROLES: ' owner, owner ,writer' }).roles).toEqual([
      'owner',
      'writer',
    ]);
  });

  it('asks for the embedded stack only when no server is configured', () => {
    expect(wantsEmbeddedStack({})).toBe(true);
    expect(wantsEmbeddedStack({ REDIS_URL: servers.REDIS_URL })).toBe(false);
  });
});

describe('cluster timing', () => {
  it('defaults the member timeout to the lease TTL, at least two heartbeats', () => {
    expect(loadConfig({ ...servers, LEASE_TTL_MS: '4000' }).memberTimeoutMs).toBe(4_000);
    expect(loadConfig({ ...servers, LEASE_TTL_MS: '1000' }).memberTimeoutMs).toBe(2_000);
    const config = loadConfig({
      ...servers,
      HEARTBEAT_INTERVAL_MS: '500',
      MEMBER_TIMEOUT_MS: '1500',
    });
    expect(config.heartbeatIntervalMs).toBe(500);
    expect(config.memberTimeoutMs).toBe(1_500);
  });

  it('refuses a member timeout shorter than two heartbeats', () => {
    const error = problemsOf({
      ...servers,
      HEARTBEAT_INTERVAL_MS: '1000',
      MEMBER_TIMEOUT_MS: '1500',
    });
    expect(error.problems.map((p) => p.key)).toEqual(['MEMBER_TIMEOUT_MS']);
  });

  it('takes the fetch long-poll and the writer concurrency from the environment', () => {
    const defaults = loadConfig({ ...servers });
    expect(defaults.writerConcurrency).toBe(16);
    expect(defaults.fetchMaxWaitMs).toBe(100);
    const set = loadConfig({
      ...servers,
      CONSUMER_FETCH_MAX_WAIT_MS: '50',
      WRITER_CONCURRENCY: '2',
    });
    expect(set.fetchMaxWaitMs).toBe(50);
    expect(set.writerConcurrency).toBe(2);
    expect(problemsOf({ ...servers, CONSUMER_FETCH_MAX_WAIT_MS: '0' }).problems[0]?.key).toBe(
      'CONSUMER_FETCH_MAX_WAIT_MS',
    );
  });

  it('takes the Kafka group session timeout, 10 s by default, and refuses one under 3 s', () => {
    expect(loadConfig({ ...servers }).kafkaSessionTimeoutMs).toBe(10_000);
    expect(
      loadConfig({ ...servers, KAFKA_SESSION_TIMEOUT_MS: '4000' }).kafkaSessionTimeoutMs,
    ).toBe(4_000);
    for (const bad of ['2999', '1800001', '4s'])
      expect(problemsOf({ ...servers, KAFKA_SESSION_TIMEOUT_MS: bad }).problems[0]?.key).toBe(
        'KAFKA_SESSION_TIMEOUT_MS',
      );
  });

  it('writes mailbox entry version 3 unless told 2 (upgrades from older owners)', () => {
    expect(loadConfig({ ...servers }).mailboxEntryVersion).toBe(3);
    expect(loadConfig({ ...servers, MAILBOX_ENTRY_VERSION: '2' }).mailboxEntryVersion).toBe(2);
    expect(problemsOf({ ...servers, MAILBOX_ENTRY_VERSION: '4' }).problems[0]?.key).toBe(
      'MAILBOX_ENTRY_VERSION',
    );
  });
});

describe('admin API access', () => {
  const digest = tokenDigest('s3cret');

  it('serves loopback clients only when no API_TOKENS is set', () => {
    const { api } = loadConfig({ ...servers });
    expect(api).toEqual({
      mode: 'loopback',
      tokens: [],
      metricsDigest: undefined,
      corsOrigins: [],
      rateLimitPerMinute: 120,
    });
    expect(loadConfig({ ...servers, API_AUTH: 'off' }).api.mode).toBe('off');
  });

  it('reads API_TOKENS as name:role:sha256hex and METRICS_TOKEN as a digest', () => {
    const { api } = loadConfig({
      ...servers,
      API_TOKENS: ` ci:read:${digest} , ops:operate:${tokenDigest('x').toUpperCase()}`,
      METRICS_TOKEN: digest,
      CORS_ORIGINS: 'https://ops.example.com,http://localhost:5173',
    });
    expect(api.mode).toBe('tokens');
    expect(api.tokens.map((t) => [t.name, t.role, t.digest.toString('hex')])).toEqual([
      ['ci', 'read', digest],
      ['ops', 'operate', tokenDigest('x')],
    ]);
    expect(api.metricsDigest?.toString('hex')).toBe(digest);
    expect(api.corsOrigins).toEqual(['https://ops.example.com', 'http://localhost:5173']);
  });

  it('names every bad token entry, never echoing what could be a token', () => {
    const error = problemsOf({
      ...servers,
      API_TOKENS: `a:read:${digest},b:root:${tokenDigest('b')},c:admin:plaintext-token,a:read:${tokenDigest('z')},d:read`,
    });
    expect(error.problems.map((p) => p.key)).toEqual(Array(4).fill('API_TOKENS'));
    expect(error.message).toContain('entry 2 (b): role must be one of read, operate, admin');
    expect(error.message).toContain('entry 3 (c): the token must be given as its SHA-256');
    expect(error.message).toContain('entry 4 (a): name used twice');
    expect(error.message).toContain('entry 5 (d): must be name:role:sha256hex');
    expect(error.message).not.toContain('plaintext-token');
  });

  it('refuses a metrics token in the clear, API_AUTH=off with tokens, and a bad origin', () => {
    const error = problemsOf({
      ...servers,
      API_TOKENS: `a:admin:${digest}`,
      API_AUTH: 'off',
      METRICS_TOKEN: 'hunter2',
      CORS_ORIGINS: 'https://ok.example.com/path',
    });
    expect(error.problems.map((p) => p.key)).toEqual(['CORS_ORIGINS', 'METRICS_TOKEN']);
    const conflict = problemsOf({ ...servers, API_TOKENS: `a:admin:${digest}`, API_AUTH: 'off' });
    expect(conflict.problems.map((p) => p.key)).toEqual(['API_AUTH']);
  });
});

describe('TLS files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-config-tls-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA PEM');
    writeFileSync(join(dir, 'key.pem'), 'KEY PEM');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads CLICKHOUSE_TLS_* files for the process ClickHouse, as REDIS_TLS_* for Redis', () => {
    const https = { ...servers, CLICKHOUSE_URL: 'https://ch.internal:8443' };
    expect(loadConfig({ ...servers }).clickhouse.tls).toBeUndefined();
    const config = loadConfig({
      ...https,
      CLICKHOUSE_TLS_CA: join(dir, 'ca.pem'),
      CLICKHOUSE_TLS_CERT: join(dir, 'ca.pem'),
      CLICKHOUSE_TLS_KEY: join(dir, 'key.pem'),
      CLICKHOUSE_TLS_SERVERNAME: 'ch',
    });
    expect(config.clickhouse.tls).toEqual({
      ca: 'CA PEM',
      cert: 'CA PEM',
      key: 'KEY PEM',
      servername: 'ch',
    });
    expect(config.redisTls).toBeUndefined();
  });

  it('refuses them with an http:// URL, a lone cert, or a file that cannot be read', () => {
    const error = problemsOf({
      ...servers,
      CLICKHOUSE_TLS_CERT: join(dir, 'ca.pem'),
      REDIS_TLS_CA: join(dir, 'missing.pem'),
    });
    expect(error.problems).toEqual([
      {
        key: 'CLICKHOUSE_TLS_KEY',
        message: 'CLICKHOUSE_TLS_CERT and CLICKHOUSE_TLS_KEY go together',
      },
      { key: 'CLICKHOUSE_URL', message: 'must start with https:// when CLICKHOUSE_TLS_* is set' },
      { key: 'REDIS_TLS_CA', message: `cannot read ${join(dir, 'missing.pem')} (ENOENT)` },
      { key: 'REDIS_URL', message: 'must start with rediss:// when REDIS_TLS_* is set' },
    ]);
  });
});
