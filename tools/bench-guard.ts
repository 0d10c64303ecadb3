/**
 * Guards of the fixed-rate phases, so a run that cannot mean what it claims stops early with
 * a clear error instead of reporting numbers (or waiting out the whole timeout):
 * - input lost at the source: the system fell so far behind that the broker's retention (the
 *   librdkafka mock keeps ~5 MB per partition) dropped events before they were read. Sluice
 *   says so itself (sluice_source_offset_resets_total); for the others the bench infers it when
 *   their lag exceeds what the broker still holds;
 * - a latency run whose rows cannot keep up with the asked rate.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';

/** What the broker holds of a topic: events retained, and events already dropped (log start). */
export interface Retention {
  retained: number;
  dropped: number;
}

/** Reads the topic's low and high watermarks (one admin client per run, closed by the caller). */
export class RetentionProbe {
  private readonly admin: Admin;
  private connected: Promise<void> | undefined;

  constructor(
    brokers: string[],
    private readonly topic: string,
  ) {
    const kafka = new Kafka({ clientId: 'bench-retention', brokers, logLevel: logLevel.NOTHING });
    this.admin = kafka.admin();
  }

  async read(): Promise<Retention> {
    this.connected ??= this.admin.connect().catch((err: unknown) => {
      this.connected = undefined; // the next read tries again instead of failing for good
      throw err;
    });
    await this.connected;
    let retained = 0;
    let dropped = 0;
    for (const { low, high } of await this.admin.fetchTopicOffsets(this.topic)) {
      retained += Math.max(0, Number(high) - Number(low));
      dropped += Math.max(0, Number(low));
    }
    return { retained, dropped };
  }

  async close(): Promise<void> {
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
  }
}

/** Sluice's own account of offset resets (its /metrics, summed over processes). */
export interface SourceResets {
  resets: number;
  skippedOffsets: number;
}

/** How many consecutive samples a lag past retention must last before it counts as loss. */
export const LOSS_SAMPLES = 2;

/**
 * Decides, sample by sample, whether a sustained run lost input at the source. Sluice reports
 * resets itself: one is loss. Systems that do not (naive, Kafka engine) are judged by their
 * lag: events not yet in the table that the broker no longer holds were dropped unread, unless
 * they are in flight inside the system; LOSS_SAMPLES samples in a row rule out a passing batch.
 */
export class SourceLossWatch {
  private pastRetention = 0;

  /** `lagEvents`: events sent and not yet visible as rows (non-dedup systems: rows = events). */
  check(
    lagEvents: number,
    retention: Retention | undefined,
    resets: SourceResets | undefined,
  ): string | undefined {
    if (resets && resets.resets > 0) {
      return (
        `input lost at the source: ${resets.resets} offset reset(s), ` +
        // A reset's skipped range is known only once the consumer reads past it: 0 means not yet.
        `${resets.skippedOffsets > 0 ? resets.skippedOffsets.toLocaleString() : 'not yet known how many'} offsets skipped (sluice_source_offset_resets_total); ` +
        `the system fell behind the broker's retention`
      );
    }
    if (resets || !retention || retention.dropped === 0 || lagEvents <= retention.retained) {
      this.pastRetention = 0;
      return undefined;
    }
    this.pastRetention += 1;
    if (this.pastRetention < LOSS_SAMPLES) return undefined;
    return (
      `input lost at the source: lag ${lagEvents.toLocaleString()} events is past what the broker ` +
      `still holds (${retention.retained.toLocaleString()}; ${retention.dropped.toLocaleString()} ` +
      `dropped by retention) for ${this.pastRetention} samples`
    );
  }
}

/**
 * A latency run gives up when its rows fall more than `giveUpS` seconds of input behind while
 * it produces, or stop arriving for `giveUpS` seconds after: the system cannot keep up with the
 * asked rate, and waiting for the backlog would only measure the backlog.
 */
export class KeepUpWatch {
  private lastRows = -1;
  private lastChange = 0;

  constructor(
    private readonly rate: number,
    private readonly giveUpS: number,
  ) {}

  /** While producing: `expected` rows of what was sent so far (per `rowsPerEvent`), `rows` seen. */
  producing(expected: number, rows: number, rowsPerEvent: number): string | undefined {
    const behindS = (expected - rows) / Math.max(1e-9, this.rate * rowsPerEvent);
    if (behindS <= this.giveUpS) return undefined;
    return (
      `cannot keep up with ${this.rate.toLocaleString()} events/s: rows ${behindS.toFixed(0)} s ` +
      `of input behind (${rows.toLocaleString()} of ${expected.toLocaleString()}), over the ` +
      `${this.giveUpS} s limit (--latency-give-up-s); gave up`
    );
  }

  /** While waiting for the last rows: gives up once they stop arriving for `giveUpS`. */
  draining(expected: number, rows: number, now: number): string | undefined {
    if (rows !== this.lastRows) {
      this.lastRows = rows;
      this.lastChange = now;
      return undefined;
    }
    if (now - this.lastChange <= this.giveUpS * 1000) return undefined;
    return (
      `rows stopped at ${rows.toLocaleString()} of ${expected.toLocaleString()} for ` +
      `${this.giveUpS} s after the producer finished (--latency-give-up-s); gave up`
    );
  }
}
