import { evictionProblem } from './eviction';

describe('evictionProblem', () => {
  it('accepts noeviction', () => {
    expect(evictionProblem({ policy: 'noeviction', maxmemory: 1e9, source: 'CONFIG GET' })).toBe(
      undefined,
    );
  });

  it.each(['allkeys-lru', 'volatile-ttl', 'allkeys-random', 'volatile-lfu'])(
    'refuses %s with or without a maxmemory, naming the setting and the override',
    (policy) => {
      for (const maxmemory of [0, 1e9]) {
        const problem = evictionProblem({ policy, maxmemory, source: 'INFO memory' });
        expect(problem).toContain(`maxmemory-policy is '${policy}'`);
        expect(problem).toContain('REDIS_ALLOW_EVICTION=true');
      }
    },
  );
});
