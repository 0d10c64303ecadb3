import { RETRY_BASE_MS, RETRY_MAX_MS, retryDelayMs } from './backoff';

describe('retryDelayMs', () => {
  const middle = () => 0.5;

  it('starts at the base delay and doubles', () => {
    expect(retryDelayMs(1, middle)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(2, middle)).toBe(RETRY_BASE_MS * 2);
    expect(retryDelayMs(3, middle)).toBe(RETRY_BASE_MS * 4);
  });

  it('never exceeds the cap, however many attempts were made', () => {
    for (const attempt of [6, 10, 100, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      for (const random of [() => 0, middle, () => 0.999]) {
        const delay = retryDelayMs(attempt, random);
        expect(delay).toBeLessThanOrEqual(RETRY_MAX_MS);
        expect(delay).toBeGreaterThanOrEqual(RETRY_MAX_MS * 0.8);
      }
    }
  });

  it('jitters by at most 20% and treats nonsense attempts as the first', () => {
    expect(retryDelayMs(1, () => 0)).toBe(RETRY_BASE_MS * 0.8);
    expect(retryDelayMs(1, () => 1)).toBe(RETRY_BASE_MS * 1.2);
    expect(retryDelayMs(0, middle)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(-5, middle)).toBe(RETRY_BASE_MS);
  });
});
