import { KeepUpWatch, LOSS_SAMPLES, SourceLossWatch } from './bench-guard';

describe('bench guards', () => {
  it('Sluice: one offset reset is input lost, whatever the lag', () => {
    const watch = new SourceLossWatch();
    expect(watch.check(10, undefined, { resets: 0, skippedOffsets: 0 })).toBeUndefined();
    expect(watch.check(10, undefined, { resets: 3, skippedOffsets: 42_000 })).toMatch(
      /^input lost at the source: 3 offset reset\(s\), 42,000 offsets skipped/,
    );
    expect(new SourceLossWatch().check(10, undefined, { resets: 9, skippedOffsets: 0 })).toMatch(
      /9 offset reset\(s\), not yet known how many offsets skipped/,
    );
  });

  it('Sluice is judged by its counter only: in-flight mailboxes may exceed retention', () => {
    const watch = new SourceLossWatch();
    const retention = { retained: 100, dropped: 50 };
    for (let i = 0; i < 5; i++) {
      expect(watch.check(1_000, retention, { resets: 0, skippedOffsets: 0 })).toBeUndefined();
    }
  });

  it('others: lag past what the broker holds, for consecutive samples, once it dropped any', () => {
    const watch = new SourceLossWatch();
    // Nothing dropped yet: a large lag is only a lag.
    expect(watch.check(1_000, { retained: 100, dropped: 0 }, undefined)).toBeUndefined();
    expect(watch.check(1_000, { retained: 100, dropped: 0 }, undefined)).toBeUndefined();
    // Past retention once, then back within: a batch in flight, not loss.
    expect(watch.check(150, { retained: 100, dropped: 10 }, undefined)).toBeUndefined();
    expect(watch.check(90, { retained: 100, dropped: 10 }, undefined)).toBeUndefined();
    for (let i = 1; i < LOSS_SAMPLES; i++) {
      expect(watch.check(150, { retained: 100, dropped: 10 }, undefined)).toBeUndefined();
    }
    expect(watch.check(160, { retained: 100, dropped: 20 }, undefined)).toMatch(
      /^input lost at the source: lag 160 events is past what the broker still holds \(100; 20 dropped/,
    );
  });

  it('a latency run gives up when rows fall too far behind or stop', () => {
    const watch = new KeepUpWatch(1_000, 10);
    // Dedup: 0.8 rows per event; 8,000 rows behind is 10 s of input: still within.
    expect(watch.producing(20_000, 12_000, 0.8)).toBeUndefined();
    expect(watch.producing(20_000, 11_000, 0.8)).toMatch(
      /^cannot keep up with 1,000 events\/s: rows 11 s of input behind \(11,000 of 20,000\)/,
    );
    expect(watch.draining(20_000, 15_000, 0)).toBeUndefined();
    expect(watch.draining(20_000, 15_000, 10_000)).toBeUndefined();
    expect(watch.draining(20_000, 16_000, 12_000)).toBeUndefined();
    expect(watch.draining(20_000, 16_000, 22_001)).toMatch(
      /^rows stopped at 16,000 of 20,000 for 10 s/,
    );
  });
});
