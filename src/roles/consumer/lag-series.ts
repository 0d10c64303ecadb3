import type { Telemetry } from '@sluice/telemetry';
import { tpKey, type TopicPartition } from './group-session';

/**
 * The consumed counter and per-partition consumer lag gauge of one pipeline. A lag series is
 * removed when its partition is no longer read here, else it would report a stale lag forever.
 */
export class LagSeries {
  /** Partitions with a consumer lag series. */
  private readonly series = new Map<string, TopicPartition>();

  constructor(
    private readonly pipelineId: string,
    private readonly telemetry: Telemetry | undefined,
  ) {}

  countBatch(topic: string, partition: number, events: number, lag: number): void {
    const metrics = this.telemetry?.metrics;
    if (metrics === undefined) return;
    const pipeline = this.pipelineId;
    metrics.consumed.inc({ pipeline }, events);
    metrics.consumerLag.set({ pipeline, topic, partition }, Math.max(0, lag));
    this.series.set(tpKey(topic, partition), { topic, partition });
  }

  /** Removes the lag series of partitions this consumer no longer reads (revoked, stopped). */
  drop(keep: (tp: TopicPartition) => boolean): void {
    const gauge = this.telemetry?.metrics.consumerLag;
    for (const [key, tp] of this.series) {
      if (keep(tp)) continue;
      gauge?.remove({ pipeline: this.pipelineId, topic: tp.topic, partition: tp.partition });
      this.series.delete(key);
    }
  }
}
