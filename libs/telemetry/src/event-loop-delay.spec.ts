import { SluiceMetrics } from './metrics';

/** Count of samples at or below `le` seconds, and of all samples, from the exposition. */
function buckets(text: string, le: string): { below: number; total: number } {
  const read = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
  return {
    below: read(new RegExp(`^sluice_event_loop_delay_seconds_bucket\\{le="${le}"\\} (\\d+)$`, 'm')),
    total: read(/^sluice_event_loop_delay_seconds_count (\d+)$/m),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sluice_event_loop_delay_seconds', () => {
  it('shows a blocked event loop as a sample as long as the stall', async () => {
    const m = new SluiceMetrics({ defaultMetrics: false, eventLoopDelay: true });
    await sleep(100);
    const quiet = buckets(await m.scrape(), '0.25');
    expect(quiet.total).toBeGreaterThan(0);
    expect(quiet.below).toBe(quiet.total);

    await sleep(20);
    const start = Date.now();
    while (Date.now() - start < 400) {
      // A stall, as a backtracking regex or a runaway expression would make one.
    }
    await sleep(50);
    const text = await m.scrape();
    const stalled = buckets(text, '0.25');
    expect(stalled.total).toBeGreaterThan(quiet.total);
    // Exactly the stall's sample lies above 250 ms, and below 1 s.
    expect(stalled.total - stalled.below).toBe(1);
    expect(buckets(text, '1').below).toBe(stalled.total);
  });

  it('is off with the default metrics off, unless asked for', async () => {
    const text = await new SluiceMetrics({ defaultMetrics: false }).scrape();
    expect(text).not.toContain('sluice_event_loop_delay_seconds');
  });
});
