import { ExtraRedis } from './support/extra-redis';
import { SluiceProcess } from './support/sluice-process';
import { testStackEnv } from './support/stack-env';

const EVICTING = ['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru'];

describe('a Redis that may evict keys', () => {
  const servers: ExtraRedis[] = [];
  const procs: SluiceProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('is refused at startup, naming the setting and the override (exit 1)', async () => {
    const redis = await ExtraRedis.start('evicting', EVICTING);
    servers.push(redis);
    const proc = await SluiceProcess.start({
      noWait: true,
      env: { ...testStackEnv(), REDIS_URL: redis.url },
    });
    procs.push(proc);
    expect((await proc.waitForExit(30_000)).code).toBe(1);
    expect(proc.text()).toContain("Redis maxmemory-policy is 'allkeys-lru' (maxmemory 67108864");
    expect(proc.text()).toContain('REDIS_ALLOW_EVICTION=true');
  });

  it('is read from INFO when CONFIG is forbidden (managed Redis), and refused all the same', async () => {
    const redis = await ExtraRedis.start('no-config', [
      ...EVICTING,
      '--rename-command',
      'CONFIG',
      '',
    ]);
    servers.push(redis);
    const proc = await SluiceProcess.start({
      noWait: true,
      env: { ...testStackEnv(), REDIS_URL: redis.url },
    });
    procs.push(proc);
    expect((await proc.waitForExit(30_000)).code).toBe(1);
    expect(proc.text()).toContain("maxmemory-policy is 'allkeys-lru'");
    expect(proc.text()).toContain('read with INFO memory');
  });

  it('runs with REDIS_ALLOW_EVICTION=true, saying it is unsafe', async () => {
    const redis = servers[0] as ExtraRedis;
    const proc = await SluiceProcess.start({
      env: { ...testStackEnv(), REDIS_URL: redis.url, REDIS_ALLOW_EVICTION: 'true' },
    });
    procs.push(proc);
    expect(proc.running).toBe(true);
    expect(proc.text()).toContain('UNSAFE (REDIS_ALLOW_EVICTION=true)');
  });
});
