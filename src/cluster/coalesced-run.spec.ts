import { CoalescedRun } from './coalesced-run';

describe('CoalescedRun', () => {
  it('runs once more after a burst of requests made while running', async () => {
    let runs = 0;
    let release: () => void = () => undefined;
    const run = new CoalescedRun(
      () => {
        runs++;
        return new Promise<void>((resolve) => (release = resolve));
      },
      () => undefined,
      () => true,
    );
    run.request();
    run.request();
    run.request();
    expect(runs).toBe(1);
    release();
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(2);
    release();
    await run.current;
    await new Promise((r) => setImmediate(r));
    expect(runs).toBe(2);
    expect(run.current).toBeUndefined();
  });

  it('reports failures and drops requests while disabled', async () => {
    let enabled = true;
    const errors: unknown[] = [];
    const run = new CoalescedRun(
      () => Promise.reject(new Error('boom')),
      (err) => errors.push(err),
      () => enabled,
    );
    run.request();
    await run.current;
    expect(errors).toHaveLength(1);
    enabled = false;
    run.request();
    expect(run.current).toBeUndefined();
  });
});
