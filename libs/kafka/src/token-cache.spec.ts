import { TokenCache, type IssuedToken } from './token-cache';

function issuer(tokens: IssuedToken[]) {
  const calls: number[] = [];
  let clock = 0;
  const issue = () => {
    calls.push(clock);
    const next = tokens.shift();
    return next ? Promise.resolve(next) : Promise.reject(new Error('no token'));
  };
  return {
    calls,
    set: (ms: number) => (clock = ms),
    cache: (margin?: number) =>
      new TokenCache(issue, { now: () => clock, refreshMarginMs: margin, unknownLifetimeMs: 500 }),
  };
}

describe('TokenCache', () => {
  it('reuses a token until the margin before its expiry, then fetches a new one', async () => {
    const src = issuer([
      { value: 'a', expiresAt: 3_600_000 },
      { value: 'b', expiresAt: 7_200_000 },
    ]);
    const cache = src.cache(60_000);
    expect(await cache.token()).toBe('a');
    src.set(3_539_999);
    expect(await cache.token()).toBe('a');
    src.set(3_540_000);
    expect(await cache.token()).toBe('b');
    expect(src.calls).toEqual([0, 3_540_000]);
  });

  it('refreshes a short-lived token at four fifths of its life', async () => {
    const src = issuer([
      { value: 'a', expiresAt: 10_000 },
      { value: 'b', expiresAt: 20_000 },
    ]);
    const cache = src.cache(60_000);
    expect(await cache.token()).toBe('a');
    src.set(7_999);
    expect(await cache.token()).toBe('a');
    src.set(8_000);
    expect(await cache.token()).toBe('b');
  });

  it('keeps a token without an expiry for the configured while', async () => {
    const src = issuer([{ value: 'a' }, { value: 'b' }]);
    const cache = src.cache();
    expect(await cache.token()).toBe('a');
    src.set(499);
    expect(await cache.token()).toBe('a');
    src.set(500);
    expect(await cache.token()).toBe('b');
  });

  it('fetches once for concurrent callers and retries after a failure', async () => {
    const src = issuer([]);
    const cache = src.cache();
    const both = await Promise.allSettled([cache.token(), cache.token()]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(src.calls).toHaveLength(1);
    await expect(cache.token()).rejects.toThrow('no token');
    expect(src.calls).toHaveLength(2);
  });
});
