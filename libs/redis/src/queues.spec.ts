import { Backoffs } from 'bullmq';
import {
  BATCH_WORKER_OPTIONS,
  batchJobOptions,
  RETRY_BASE_MS,
  RETRY_MAX_MS,
  retryDelayMs,
} from './queues';

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

describe('batch job backoff', () => {
  // BullMQ's own retry (when the writer cannot move a job itself) computes the delay from the
  // job's backoff and the worker's strategy, as here (Worker.moveToFailed): it must be the
  // capped one. A built-in type such as 'exponential' would skip the worker's strategy.
  const delayAfter = (attemptsMade: number) =>
    Backoffs.calculate(
      batchJobOptions('p.0.1.1').backoff,
      attemptsMade,
      new Error('insert failed'),
      {} as never,
      BATCH_WORKER_OPTIONS.settings.backoffStrategy,
    );

  it('is the capped retry delay, however many attempts were made', () => {
    expect(delayAfter(1)).toBeLessThanOrEqual(RETRY_BASE_MS * 1.2);
    for (const attempts of [10, 30, 1_000]) {
      expect(delayAfter(attempts)).toBeLessThanOrEqual(RETRY_MAX_MS);
      expect(delayAfter(attempts)).toBeGreaterThanOrEqual(RETRY_MAX_MS * 0.8);
    }
  });
});
