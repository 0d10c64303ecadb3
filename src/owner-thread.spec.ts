import { loadConfig } from './config';
import { ownerThreadEnv } from './owner-thread';

const servers = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  KAFKA_BROKERS: '127.0.0.1:9092',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
};

describe('OWNER_THREAD', () => {
  it('is off by default: every role on the main thread', () => {
    const config = loadConfig({ ...servers });
    expect(config.roles).toEqual(['consumer', 'owner', 'writer']);
    expect(config.threadRoles).toEqual([]);
  });

  it('moves the owner and writer off the consumer thread', () => {
    const config = loadConfig({ ...servers, OWNER_THREAD: '1' });
    expect(config.roles).toEqual(['consumer']);
    expect(config.threadRoles).toEqual(['owner', 'writer']);
    // The process still needs (and reports readiness on) every server its roles use.
    expect(config.dependencies.sort()).toEqual(['clickhouse', 'kafka', 'redis']);
  });

  it('keeps a process without the consumer, or with the consumer alone, on one thread', () => {
    const split = loadConfig({ ...servers, OWNER_THREAD: '1', ROLES: 'owner,writer' });
    expect([split.roles, split.threadRoles]).toEqual([['owner', 'writer'], []]);
    const consumer = loadConfig({ ...servers, OWNER_THREAD: '1', ROLES: 'consumer' });
    expect([consumer.roles, consumer.threadRoles]).toEqual([['consumer'], []]);
    const some = loadConfig({ ...servers, OWNER_THREAD: '1', ROLES: 'consumer,writer' });
    expect([some.roles, some.threadRoles]).toEqual([['consumer'], ['writer']]);
  });

  it('gives the thread its roles, the resolved servers, its own id and no pipelines dir', () => {
    const config = {
      ...loadConfig({ ...servers, OWNER_THREAD: '1', INSTANCE_ID: 'a' }),
      // As if the embedded stack had supplied them: the process env does not name them.
      redisUrl: 'redis://127.0.0.1:7000',
    };
    const env = ownerThreadEnv({ OWNER_THREAD: '1', PIPELINES_DIR: '/p', PORT: '3000' }, config);
    expect(env).toEqual({
      ROLES: 'owner,writer',
      OWNER_THREAD: '0',
      INSTANCE_ID: 'a-owner',
      PORT: '3000',
      REDIS_URL: 'redis://127.0.0.1:7000',
      KAFKA_BROKERS: '127.0.0.1:9092',
      CLICKHOUSE_URL: 'http://127.0.0.1:8123',
    });
    expect(loadConfig(env).roles).toEqual(['owner', 'writer']);
  });
});
