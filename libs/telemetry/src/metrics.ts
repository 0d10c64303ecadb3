import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type LabelValues,
} from 'prom-client';
import { EventLoopDelay } from './event-loop-delay';
import { WeightedHistogram } from './weighted-histogram';

/** Gauges read on scrape (mailbox depth, outbox size, actors held); each call fills its series. */
export type ScrapeSampler = (gauges: ScrapeGauges) => Promise<void> | void;

export interface ScrapeGauges {
  mailboxDepth: Gauge<'pipeline' | 'partition'>;
  outboxBatches: Gauge<'pipeline' | 'partition'>;
  actorsHeld: Gauge<'pipeline'>;
  /** In-process dedup state of the actors held: keys and bytes of their tables. */
  dedupKeys: Gauge<'pipeline'>;
  dedupBytes: Gauge<'pipeline'>;
  /** Age of the oldest batch committed and not yet inserted, per actor held here. */
  outboxOldestAge: Gauge<'pipeline' | 'partition'>;
  /** Entries in the partition's dead-letter stream (bounded by dlq.maxEntries: a dlq-full hold). */
  dlqEntries: Gauge<'pipeline' | 'partition'>;
  /** 1 per hold recorded in Redis (libs/redis holds.ts); partition `*` for a whole pipeline. */
  partitionHeld: Gauge<'pipeline' | 'partition' | 'reason'>;
  /** Actors of this process that stopped taking entries at a bound, by reason. */
  actorsPaused: Gauge<'pipeline' | 'partition' | 'reason'>;
  /** Join records buffered by the actors this process holds. */
  joinRecords: Gauge<'pipeline'>;
}

/** Dead-letter stages seen per checkpoint: stage -> events. */
export type StageCounts = ReadonlyMap<string, number>;

const SAMPLER_TIMEOUT_MS = 2_000;

/** The Prometheus text format version 0.0.4 that prom-client's default registry writes. */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Every Prometheus family Sluice exposes, on one registry per process (default process metrics
 * included). Counting is in process memory, at the point where the work is done for good: the
 * consumer after its mailbox append, the actor after its checkpoint, the writer after the
 * insert. Gauges that need Redis are sampled on scrape by the registered samplers.
 */
export class SluiceMetrics {
  readonly registry = new Registry();
  private readonly samplers = new Set<ScrapeSampler>();

  readonly consumed = this.counter(
    'sluice_events_consumed_total',
    'Events read from Kafka and appended to mailboxes',
    ['pipeline'],
  );
  readonly filtered = this.counter(
    'sluice_events_filtered_total',
    'Events dropped by the filter (checkpointed)',
    ['pipeline'],
  );
  readonly duplicates = this.counter(
    'sluice_events_duplicates_total',
    'Events dropped as duplicates (checkpointed)',
    ['pipeline'],
  );
  readonly joined = this.counter(
    'sluice_events_joined_total',
    'Events that met their join partner (checkpointed)',
    ['pipeline'],
  );
  readonly written = this.counter(
    'sluice_events_written_total',
    'Rows inserted into ClickHouse (acknowledged), by the definition version that made them',
    ['pipeline', 'definition_version'],
  );
  readonly deadLettered = this.counter(
    'sluice_events_dead_lettered_total',
    'Events sent to the dead-letter queue, by stage',
    ['pipeline', 'stage'],
  );
  readonly outOfOrderDropped = this.counter(
    'sluice_mailbox_entries_out_of_order_total',
    'Mailbox entries of a superseded consumer dropped by the gap rule',
    ['pipeline'],
  );
  readonly leaseRenewFailures = this.counter(
    'sluice_lease_renew_failures_total',
    'Actor lease renewals that failed or found the lease taken',
    ['pipeline', 'reason'],
  );
  /** Consumer: kafkajs found the offset it meant to read gone (or past the end) and reset. */
  readonly sourceOffsetResets = this.counter(
    'sluice_source_offset_resets_total',
    'Offset resets of a source partition (OFFSET_OUT_OF_RANGE): input may have been lost',
    ['pipeline', 'topic', 'partition'],
  );
  readonly sourceSkippedOffsets = this.counter(
    'sluice_source_skipped_offsets_total',
    'Source offsets never read because an offset reset jumped over them',
    ['pipeline', 'topic', 'partition'],
  );
  /** Actor: a checkpoint step failed (Redis error or stale generation); the actor restores. */
  readonly checkpointFailures = this.counter(
    'sluice_checkpoint_failures_total',
    'Actor checkpoints that failed (Redis error, stale generation, fenced); the actor restores and retries',
    ['pipeline'],
  );
  /** Consumer: a mailbox append failed; the range is retried and its offsets are not committed. */
  readonly mailboxAppendFailures = this.counter(
    'sluice_mailbox_append_failures_total',
    'Mailbox appends that failed and are retried (the Kafka offsets wait for them)',
    ['pipeline'],
  );
  /** Admin: dead letters removed by POST /pipelines/:id/dlq/discard. */
  readonly dlqDiscarded = this.counter(
    'sluice_dlq_discarded_total',
    'Dead letters discarded by an operator',
    ['pipeline'],
  );
  /** Admin: dead letters moved back to their actor by POST /pipelines/:id/dlq/replay. */
  readonly dlqReplayed = this.counter(
    'sluice_dlq_replayed_total',
    'Dead letters replayed by an operator (sent through the pipeline again)',
    ['pipeline'],
  );
  /** A WAIT/WAITAOF got fewer replica acknowledgements than REDIS_MIN_REPLICAS in time. */
  readonly replicaWaitFailures = this.counter(
    'sluice_redis_replica_wait_failures_total',
    'WAITs that fewer replicas than REDIS_MIN_REPLICAS acknowledged in time (nothing committed or announced)',
    ['role'],
  );
  readonly batches = this.counter('sluice_batches_total', 'Batches committed to the outbox', [
    'pipeline',
  ]);
  /** Writer: failed insert attempts that will be retried, by ClickHouse code (or 'other'). */
  readonly insertRetries = this.counter(
    'sluice_insert_retries_total',
    'Insert attempts that failed and will be retried (never dead-lettered), by ClickHouse error code',
    ['pipeline', 'code'],
  );
  /** Writer: batches that kept failing past WRITER_STUCK_AFTER_MS (counted once per batch). */
  readonly insertStuck = this.counter(
    'sluice_insert_stuck_total',
    'Batches that have failed to insert for longer than WRITER_STUCK_AFTER_MS (still retried)',
    ['pipeline', 'partition'],
  );
  /** Writer: refused batches split to find the rows ClickHouse refuses. */
  readonly insertSplits = this.counter(
    'sluice_insert_splits_total',
    'Refused batches split to dead-letter only the refused rows',
    ['pipeline'],
  );

  readonly consumerLag = new Gauge({
    name: 'sluice_consumer_lag',
    help: 'Messages behind the partition high watermark, as of the last fetched batch',
    labelNames: ['pipeline', 'topic', 'partition'] as const,
    registers: [this.registry],
  });
  private readonly gauges: ScrapeGauges = {
    mailboxDepth: this.gauge('sluice_mailbox_depth', 'Entries waiting in an actor mailbox', [
      'pipeline',
      'partition',
    ]),
    outboxBatches: this.gauge('sluice_outbox_batches', 'Batches committed and not yet inserted', [
      'pipeline',
      'partition',
    ]),
    actorsHeld: this.gauge('sluice_actors_held', 'Partition actors this process holds', [
      'pipeline',
    ]),
    dedupKeys: this.gauge('sluice_dedup_keys', 'Dedup keys held in memory by this process', [
      'pipeline',
    ]),
    dedupBytes: this.gauge(
      'sluice_dedup_memory_bytes',
      'Bytes of the in-memory dedup tables of the actors this process holds',
      ['pipeline'],
    ),
    outboxOldestAge: this.gauge(
      'sluice_outbox_oldest_age_seconds',
      'Age of the oldest batch in the outbox (committed by the actor, not yet inserted)',
      ['pipeline', 'partition'],
    ),
    dlqEntries: this.gauge('sluice_dlq_entries', 'Entries in the dead-letter queue', [
      'pipeline',
      'partition',
    ]),
    partitionHeld: this.gauge(
      'sluice_partition_held',
      'Pipeline partitions held on purpose (gap, dlq-full, outbox-full, state-full, stuck, table): input stops until the cause is resolved',
      ['pipeline', 'partition', 'reason'],
    ),
    actorsPaused: this.gauge(
      'sluice_actor_paused',
      'Actors of this process not taking entries because a bound is reached (outbox-full, state-full)',
      ['pipeline', 'partition', 'reason'],
    ),
    joinRecords: this.gauge(
      'sluice_join_records',
      'Join records buffered by the actors this process holds',
      ['pipeline'],
    ),
  };

  readonly batchRows = new Histogram({
    name: 'sluice_batch_rows',
    help: 'Rows per committed batch',
    labelNames: ['pipeline'] as const,
    buckets: [1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000],
    registers: [this.registry],
  });
  readonly batchBytes = new Histogram({
    name: 'sluice_batch_bytes',
    help: 'Packed outbox payload bytes per committed batch',
    labelNames: ['pipeline'] as const,
    buckets: [1e3, 1e4, 1e5, 5e5, 1e6, 2.5e6, 5e6, 1e7, 2.5e7],
    registers: [this.registry],
  });
  readonly insertDuration = new Histogram({
    name: 'sluice_insert_duration_seconds',
    help: 'ClickHouse insert time per batch, by outcome',
    labelNames: ['pipeline', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /** Weighted: a batch observes once per (time step, rows) pair, not once per row. */
  readonly endToEndLatency = new WeightedHistogram(
    'sluice_end_to_end_latency_seconds',
    'Kafka message timestamp to ClickHouse insert acknowledged, per row',
    ['pipeline'] as const,
    [0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300],
    this.registry,
  );

  /** `sluice_event_loop_delay_seconds`, filled on scrape. */
  private readonly eventLoopDelay?: EventLoopDelay;

  /** `eventLoopDelay` defaults to `defaultMetrics` (both on in a process, off in most specs). */
  constructor(options: { defaultMetrics?: boolean; eventLoopDelay?: boolean } = {}) {
    const defaults = options.defaultMetrics ?? true;
    if (defaults) collectDefaultMetrics({ register: this.registry });
    if (options.eventLoopDelay ?? defaults) this.eventLoopDelay = new EventLoopDelay(this.registry);
  }

  /** Runs `sampler` on every scrape until the returned function is called. */
  onScrape(sampler: ScrapeSampler): () => void {
    this.samplers.add(sampler);
    return () => this.samplers.delete(sampler);
  }

  /** The text exposition, after the scrape samplers ran (each bounded by a short deadline). */
  async scrape(): Promise<string> {
    for (const gauge of Object.values(this.gauges) as Gauge<string>[]) gauge.reset();
    await Promise.allSettled([...this.samplers].map((s) => withDeadline(s(this.gauges))));
    this.eventLoopDelay?.collect();
    return this.registry.metrics();
  }

  /** Actor outcomes of one successful checkpoint. */
  checkpointed(
    pipeline: string,
    counts: { filtered: number; duplicates: number; outOfOrderDropped?: number },
    deadLetters: StageCounts,
  ): void {
    if (counts.filtered > 0) this.filtered.inc({ pipeline }, counts.filtered);
    if (counts.duplicates > 0) this.duplicates.inc({ pipeline }, counts.duplicates);
    if (counts.outOfOrderDropped)
      this.outOfOrderDropped.inc({ pipeline }, counts.outOfOrderDropped);
    for (const [stage, n] of deadLetters) this.deadLettered.inc({ pipeline, stage }, n);
  }

  /** The hook of the join stage: events joined, counted after its checkpoint. */
  joinedEvents(pipeline: string, count: number): void {
    if (count > 0) this.joined.inc({ pipeline }, count);
  }

  /**
   * Observes the latency of every row of an inserted batch: `times` holds pairs of (Kafka
   * timestamp ms, rows with it), as the actor packed them.
   */
  observeLatency(pipeline: string, ackedAt: number, times: readonly number[]): void {
    const labels = { pipeline };
    for (let i = 0; i + 1 < times.length; i += 2) {
      const seconds = Math.max(0, (ackedAt - (times[i] as number)) / 1000);
      this.endToEndLatency.observe(labels, seconds, times[i + 1] ?? 0);
    }
  }

  private counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
  ): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}

export type Labels<L extends string> = LabelValues<L>;

async function withDeadline(work: Promise<void> | void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, SAMPLER_TIMEOUT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
