import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { WeightedHistogram } from './weighted-histogram';

/** Node's sampling timer period: a sample every this many ms while the loop is free. */
const RESOLUTION_MS = 10;

/**
 * `sluice_event_loop_delay_seconds`: how late the event loop ran a timer, per sample, as a
 * Prometheus histogram. One slow event, expression or conversion that blocks the loop shows up
 * here as one sample as long as the stall (a stalled owner also stops renewing its leases).
 *
 * perf_hooks' monitorEventLoopDelay samples in native code, so it sees a stall that a JS timer
 * could only report after the fact; its HDR histogram is moved into the Prometheus histogram on
 * each scrape (bucket by bucket of its percentile walk, so counts are exact and values are
 * within the HDR precision) and then reset. A sample is the timer's interval, so the resolution
 * is taken off to give the delay.
 */
export class EventLoopDelay {
  private readonly histogram: WeightedHistogram<never>;
  private readonly monitor: ReturnType<typeof monitorEventLoopDelay>;

  constructor(registry: Registry) {
    this.histogram = new WeightedHistogram(
      'sluice_event_loop_delay_seconds',
      'Event loop delay per sample (a blocked loop gives one sample as long as the stall)',
      [],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registry,
    );
    this.monitor = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.monitor.enable();
  }

  /** Moves the samples taken since the last call into the Prometheus histogram. */
  collect(): void {
    const monitor = this.monitor;
    const total = monitor.count;
    if (total === 0) return;
    let counted = 0;
    // Ascending percentiles, each with the highest sample at or below it.
    for (const [percentile, ns] of monitor.percentiles) {
      const upTo = Math.round((total * percentile) / 100);
      if (upTo <= counted) continue;
      const seconds = Math.max(0, ns / 1e6 - RESOLUTION_MS) / 1000;
      this.histogram.observe({}, seconds, upTo - counted);
      counted = upTo;
    }
    monitor.reset();
  }

  stop(): void {
    this.monitor.disable();
  }
}
