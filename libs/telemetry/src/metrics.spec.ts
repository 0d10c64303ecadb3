import { SluiceMetrics } from './metrics';

describe('SluiceMetrics', () => {
  it('exposes every family, runs scrape samplers, observes latency per row', async () => {
    const m = new SluiceMetrics({ defaultMetrics: false });
    m.consumed.inc({ pipeline: 'p' }, 5);
    m.checkpointed('p', { filtered: 1, duplicates: 2 }, new Map([['parse', 3]]));
    m.joinedEvents('p', 4);
    m.observeLatency('p', 10_000, [9_000, 2, 8_000, 1]);
    const stop = m.onScrape(({ mailboxDepth, actorsHeld }) => {
      mailboxDepth.set({ pipeline: 'p', partition: '0' }, 7);
      actorsHeld.set({ pipeline: 'p' }, 1);
    });
    const text = await m.scrape();
    expect(text).toContain('sluice_events_consumed_total{pipeline="p"} 5');
    expect(text).toContain('sluice_events_dead_lettered_total{pipeline="p",stage="parse"} 3');
    expect(text).toContain('sluice_events_joined_total{pipeline="p"} 4');
    expect(text).toContain('sluice_end_to_end_latency_seconds_count{pipeline="p"} 3');
    expect(text).toContain('sluice_end_to_end_latency_seconds_sum{pipeline="p"} 4');
    expect(text).toContain('sluice_mailbox_depth{pipeline="p",partition="0"} 7');
    stop();
    expect(await m.scrape()).not.toContain('sluice_mailbox_depth{');
  });
});
