import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { type Hold, keys, readHolds, type SourceRange, withTimeout } from '@sluice/redis';
import type { ScrapeGauges, Telemetry } from '@sluice/telemetry';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';
import { ReadinessRegistry } from '../health/readiness.registry';
import { REDIS } from '../infra/tokens';
import { TELEMETRY } from '../telemetry/tokens';

/** A hold as the admin API, `/health/ready` and the gauge show it. */
export interface HoldView {
  pipeline: string;
  /** Pipeline partition held; null when the whole pipeline is. */
  partition: number | null;
  reason: Hold['reason'];
  detail: string;
  since: string;
  /** `gap` holds: the source offsets never applied (what accept-gap gives up). */
  range?: SourceRange;
}

/** The list's short form: how many holds and which reasons. */
export interface HoldSummary {
  count: number;
  reasons: Hold['reason'][];
}

/**
 * Makes the holds every role records (libs/redis holds.ts) visible from any process: in the
 * pipeline status, in `/health/ready` under `holds`, and as `sluice_partition_held`.
 *
 * Readiness reports holds but never fails on them: a hold is a decision about data (an operator
 * accepts a gap, discards dead letters, fixes the table), not a fault of this process. A restart
 * does not clear it, and a 503 would take the process out of its Service, making the admin API
 * that resolves the hold unreachable through it (the same reasoning as for source gaps).
 */
@Injectable()
export class PipelineHolds implements OnModuleInit, OnModuleDestroy {
  private stopSampler: (() => void) | undefined;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(SLUICE_CONFIG) private readonly config: SluiceConfig,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
    private readonly readiness: ReadinessRegistry,
  ) {}

  onModuleInit(): void {
    this.readiness.report('holds', () => this.readinessReport());
    this.stopSampler = this.telemetry.metrics.onScrape((gauges) => this.sample(gauges));
  }

  onModuleDestroy(): void {
    this.stopSampler?.();
    this.stopSampler = undefined;
  }

  /** The holds of one pipeline, whole-pipeline ones first, then by partition. */
  async of(pipeline: string): Promise<HoldView[]> {
    return (await readHolds(this.redis, pipeline)).map((h) => view(pipeline, h));
  }

  /** The holds of every stored pipeline, by pipeline id. */
  async all(): Promise<HoldView[]> {
    const ids = (await this.redis.hkeys(keys.pipelines())).sort();
    const lists = await Promise.all(ids.map((id) => this.of(id)));
    return lists.flat();
  }

  private async readinessReport(): Promise<Record<string, unknown>> {
    try {
      const holds = await withTimeout(this.all(), this.config.healthTimeoutMs, 'holds read');
      return { held: holds.length, holds };
    } catch (err) {
      // The redis probe fails in the same report; this one only says it could not look.
      return { held: null, message: err instanceof Error ? err.message : String(err) };
    }
  }

  private async sample({ partitionHeld }: ScrapeGauges): Promise<void> {
    for (const h of await this.all()) {
      const partition = h.partition === null ? '*' : String(h.partition);
      partitionHeld.set({ pipeline: h.pipeline, partition, reason: h.reason }, 1);
    }
  }
}

export function summarizeHolds(holds: readonly HoldView[]): HoldSummary {
  return { count: holds.length, reasons: [...new Set(holds.map((h) => h.reason))].sort() };
}

function view(pipeline: string, h: Hold): HoldView {
  return {
    pipeline,
    partition: h.partition,
    reason: h.reason,
    detail: h.detail,
    since: new Date(h.since).toISOString(),
    ...(h.range && { range: h.range }),
  };
}
