import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Admin, Consumer } from 'kafkajs';
import type { RecordReader } from '@sluice/kafka';
import type { CompiledPipeline, Hasher, UnparsedEntryVersion } from '@sluice/pipeline';
import type { ReplicaSync } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { Backpressure } from './backpressure';
import { BatchIntake } from './batch-intake';
import { createGroupClients } from './group-client';
import { GroupSession } from './group-session';
import { groupIdOf } from './kafka-options';
import { LagSeries } from './lag-series';
import { mergeBytesFor } from './mailbox-appender';
import type { FlushResult } from './mailbox-coalescer';
import { OffsetCommitter } from './offset-committer';
import type { CoalesceLimits } from './partition-buffer';
import { SourceGapMonitor, type SourceGapTotals } from './source-gaps';
import { TimeStarts } from './time-start';

export interface PipelineConsumerOptions {
  redis: Redis;
  /** REDIS_MIN_REPLICAS on `redis`: appends and commits wait for the replicas. */
  replicaSync?: ReplicaSync;
  hasher: Hasher;
  clientId: string;
  fallbackBrokers: readonly string[];
  /** A source partition pauses while any mailbox of the pipeline holds more entries. */
  mailboxMaxEntries: number;
  /** How long and how much a source partition buffers before appending (see PartitionBuffer). */
  coalesce: CoalesceLimits;
  /** MAX_MESSAGE_BYTES; default DEFAULT_MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
  /** Longest fetch long-poll (kafkajs maxWaitTimeInMs); default FETCH_MAX_WAIT_MS. */
  fetchMaxWaitMs?: number;
  /** KAFKA_SESSION_TIMEOUT_MS; default DEFAULT_SESSION_TIMEOUT_MS (@sluice/kafka). */
  sessionTimeoutMs?: number;
  /** Mailbox entry version for unparsed messages (MAILBOX_ENTRY_VERSION); default 3. */
  entryVersion?: UnparsedEntryVersion;
  /** Consume spans and consumer metrics; absent in tests that do not need them. */
  telemetry?: Telemetry;
  /** Where source offset resets are totalled (kept by the role across consumers). */
  sourceGaps?: SourceGapTotals;
}

/** In-process counters (not exactly-once: the actors count `consumed`). */
export interface ConsumerStats {
  eventsRead: number;
  malformed: number;
  batchesAppended: number;
  entriesAppended: number;
  pausedPartitions: number;
}

type State = 'idle' | 'connecting' | 'running' | 'backoff' | 'stopping' | 'stopped';

// Parsing is CPU-bound on one thread; a few partitions in flight hide the Redis and commit
// round trips of the others.
const PARTITIONS_CONCURRENTLY = 8;
// Offsets are committed at most this often (not per batch: the mock returns small batches, and a
// commit is a round trip); a crash re-reads at most this much, which the actors skip.
const COMMIT_INTERVAL_MS = 500;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;
/** How long stop() waits for a running connect or batch before tearing down anyway. */
const STOP_WAIT_MS = 3_000;

/**
 * The kafkajs consumer group of one running pipeline: reads its source topics and appends each
 * Kafka batch to the pipeline's mailboxes, then commits the batch's offsets. Reconnects with
 * backoff while Kafka is unreachable, until stop().
 *
 * Consecutive batches of a partition are coalesced (MailboxCoalescer) and go to their mailboxes as
 * one entry per mailbox; only appended offsets are committed. Before an offset is committed
 * every other mailbox gets an empty entry up to it (see PartitionSession), so a later session,
 * which starts at the committed offset and stamps it as `from`, finds `from <= next` in every
 * mailbox, including those that got no event for a long time.
 */
export class PipelineConsumer {
  private readonly logger: Logger;
  private readonly appended = { batches: 0, entries: 0 };
  private state: State = 'idle';
  private stopRequested = false;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private reader: RecordReader | undefined;
  private session: GroupSession;
  private readonly committer: OffsetCommitter;
  private commitTimer: NodeJS.Timeout | undefined;
  private readonly backpressure: Backpressure;
  private readonly lagSeries: LagSeries;
  private readonly intake: BatchIntake;
  private readonly gaps: SourceGapMonitor;
  private supervising: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Ends the current run or backoff sleep early (stop, or a crash kafkajs will not restart). */
  private interrupt: (() => void) | undefined;

  constructor(
    readonly pipeline: CompiledPipeline,
    private readonly options: PipelineConsumerOptions,
  ) {
    this.logger = new Logger(`Consumer:${pipeline.id}`);
    this.committer = new OffsetCommitter(
      pipeline,
      options.redis,
      options.replicaSync,
      mergeBytesFor(options.entryVersion ?? 3),
    );
    this.backpressure = new Backpressure({
      pipeline,
      redis: options.redis,
      mailboxMaxEntries: options.mailboxMaxEntries,
      logger: this.logger,
      consumer: () => this.consumer,
    });
    this.lagSeries = new LagSeries(pipeline.id, options.telemetry);
    this.intake = new BatchIntake({
      pipeline,
      hasher: options.hasher,
      telemetry: options.telemetry,
      lagSeries: this.lagSeries,
      session: () => this.session,
      isPaused: (topic, partition) => this.backpressure.isPaused(topic, partition),
      maxMessageBytes: options.maxMessageBytes,
      timeStarts: new TimeStarts({
        pipeline,
        logger: this.logger,
        admin: () => this.admin,
        reader: () => this.reader,
      }),
      seek: (topic, partition, offset) =>
        this.consumer?.seek({ topic, partition, offset: String(offset) }),
    });
    this.session = this.newSession(-1);
    this.gaps = new SourceGapMonitor(pipeline.id, {
      redis: options.redis,
      telemetry: options.telemetry,
      logger: this.logger,
      expectedNext: (topic, partition) => this.session.nextToRead(topic, partition),
      totals: options.sourceGaps,
    });
  }

  get stats(): ConsumerStats {
    return {
      eventsRead: this.intake.eventsRead,
      malformed: this.intake.malformed,
      batchesAppended: this.appended.batches,
      entriesAppended: this.appended.entries,
      pausedPartitions: this.backpressure.size,
    };
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.supervising = this.supervise();
  }

  /** Stops consuming; an in-flight batch finishes or is abandoned uncommitted. Safe twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopRequested = true;
      this.transition('stopping');
      this.interrupt?.();
      // A connect stuck in kafkajs's own retries (brokers gone) must not hold up shutdown: wait
      // a bounded time, then tear down; the supervisor loop ends by itself once the attempt fails.
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)));
      await Promise.race([this.supervising, bound]);
      clearTimeout(timer);
      await this.teardown();
      this.gaps.flushOpen();
      this.lagSeries.drop(() => false);
      this.transition('stopped');
    })();
    return this.stopping;
  }

  private async supervise(): Promise<void> {
    let attempt = 0;
    while (!this.stopRequested) {
      this.transition('connecting');
      try {
        await this.runUntilEnded(() => (attempt = 0));
      } catch (err) {
        this.logger.warn(`consumer failed: ${(err as Error).message}`);
      }
      await this.teardown();
      if (this.stopRequested) break;
      this.transition('backoff');
      await this.sleep(Math.min(RETRY_MIN_MS * 2 ** attempt, RETRY_MAX_MS));
      attempt += 1;
    }
  }

  /** Connects and runs the consumer; resolves once stop() is called or kafkajs gives up. */
  private async runUntilEnded(onRunning: () => void): Promise<void> {
    const { pipeline, options } = this;
    const { consumer, admin, generation, reader } = createGroupClients(
      pipeline,
      options,
      this.logger,
      (topic, partition) => this.gaps.resetLogged(topic, partition),
    );
    this.gaps.attach(consumer);
    this.consumer = consumer;
    this.admin = admin;
    this.reader = reader;
    const ended = new Promise<void>((resolve) => {
      this.interrupt = resolve;
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        this.logger.warn(
          `consumer crashed (restart: ${payload.restart}): ${payload.error.message}`,
        );
        // kafkajs restarts by itself when `restart` is true; otherwise start over here.
        if (!payload.restart) resolve();
      });
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assigned = payload.memberAssignment;
      // The old session's buffered batches were never committed: the new one reads them again.
      this.endSession();
      this.gaps.joined(assigned);
      this.session = this.newSession(generation() ?? -1, assigned);
      this.lagSeries.drop((tp) => assigned[tp.topic]?.includes(tp.partition) === true);
      this.gaps
        .snapshotCommitted(admin, groupIdOf(pipeline.id), Object.keys(assigned))
        .catch((err: Error) => this.logger.debug(`committed offsets at join: ${err.message}`));
      this.logger.log(
        { generation: this.session.generation, assignment: payload.memberAssignment },
        `joined group ${payload.groupId}, generation ${this.session.generation}`,
      );
    });

    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      // kafkajs skips eachBatch for a batch that filtering emptied (transaction markers, aborted
      // records) but still reports it here: its offsets are covered and committed all the same,
      // and a join's source reaches its high watermark, so it can become idle.
      if (payload.batchSize !== 0) return;
      const { topic, partition } = payload;
      const to = Number(payload.lastOffset);
      this.intake
        .emptyBatch(this.session, topic, partition, to, Number(payload.highWatermark))
        .catch((err: Error) =>
          this.logger.warn(`empty batch of ${topic}/${partition}: ${err.message}`),
        );
    });

    await admin.connect();
    await consumer.connect();
    for (const source of pipeline.sources.values()) {
      if (this.stopRequested) return;
      await consumer.subscribe({
        topics: [source.topic],
        fromBeginning: source.startFrom === 'earliest',
      });
    }
    if (this.stopRequested) return;
    // Before kafkajs fetches (and may reset and commit over them): see SourceGapMonitor.
    await this.gaps
      .snapshotCommitted(admin, groupIdOf(pipeline.id), [...pipeline.sources.keys()], true)
      .catch((err: Error) => this.logger.debug(`committed offsets at start: ${err.message}`));
    if (this.stopRequested) return;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PARTITIONS_CONCURRENTLY,
      eachBatch: (payload) => this.intake.handleBatch(payload),
    });
    this.transition('running');
    onRunning();
    // Commits run on a timer, not in eachBatch: the last batch before a quiet spell must be
    // committed too, and a failed commit is simply tried again on the next tick.
    this.commitTimer = setInterval(() => {
      this.committer
        .commitIfDue(this.session, consumer)
        .catch((err: Error) => this.logger.warn(`offset commit failed: ${err.message}`));
    }, COMMIT_INTERVAL_MS);
    await ended;
  }

  private newSession(generation: number, assignment?: Record<string, number[]>): GroupSession {
    const { pipeline, options, logger } = this;
    const context = {
      pipeline,
      redis: options.redis,
      sync: options.replicaSync,
      coalesce: options.coalesce,
      entryVersion: options.entryVersion ?? 3,
      logger,
      admin: () => this.admin,
      flushed: (result: FlushResult) => this.flushed(result),
      appendFailed: () =>
        options.telemetry?.metrics.mailboxAppendFailures.inc({ pipeline: pipeline.id }),
    };
    return new GroupSession(generation, context, assignment);
  }

  /** Drops the session's buffers (never committed); an open reset counts them as skipped. */
  private endSession(): void {
    const { partitions, coalescer } = this.session;
    const appended = [...partitions.values()].map((state) => ({
      topic: state.topic,
      partition: state.partition,
      next: state.lastTo + 1,
    }));
    this.gaps.sessionEnded(appended);
    coalescer.close();
  }

  private flushed({ state, longest, entries, batches }: FlushResult): void {
    this.appended.batches += batches;
    this.appended.entries += entries;
    if (longest > this.options.mailboxMaxEntries) {
      this.backpressure.pause(state.topic, state.partition);
    }
  }

  /** Disconnects the current client pair; kafkajs waits for the batch in flight. Safe twice. */
  private async teardown(): Promise<void> {
    const { consumer, admin, reader } = this;
    this.consumer = undefined;
    this.admin = undefined;
    this.reader = undefined;
    this.committer.stopWaiting();
    this.backpressure.clear();
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.commitTimer = undefined;
    this.endSession();
    if (consumer) {
      // Best effort: what stays uncommitted is read and appended again by the next session.
      await this.committer
        .commitIfDue(this.session, consumer, true)
        .catch((err: Error) => this.logger.warn(`final commit failed: ${err.message}`));
      await consumer
        .disconnect()
        .catch((err: Error) => this.logger.warn(`consumer disconnect: ${err.message}`));
    }
    if (admin) await admin.disconnect().catch(() => undefined);
    await reader?.close();
    this.committer.stopWaiting(false);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private transition(to: State): void {
    if (this.state === to) return;
    const from = this.state;
    this.state = to;
    this.logger.log({ pipeline: this.pipeline.id, from, to }, `consumer ${from} -> ${to}`);
  }
}
