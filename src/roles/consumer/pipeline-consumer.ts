import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { logLevel, type Admin, type Consumer, type EachBatchPayload } from 'kafkajs';
import { createKafka, groupLogBridge, type KafkaLogLevel } from '@sluice/kafka';
import { encodeMailboxEntry, type CompiledPipeline, type Hasher } from '@sluice/pipeline';
import { marksHeartbeatMs } from '@sluice/pipeline/join';
import type { Telemetry } from '@sluice/telemetry';
import { maxEventTime, routeBatch } from './batch-router';
import { groupIdOf, kafkaOptionsOf } from './kafka-options';
import { appendToMailboxes, mailboxLengths, type MailboxAppend } from './mailbox-appender';
import { type FlushResult, MailboxCoalescer } from './mailbox-coalescer';
import type { CoalesceLimits } from './partition-buffer';
import { joinMarks, PartitionSession, partitionsOf } from './partition-session';

export interface PipelineConsumerOptions {
  redis: Redis;
  hasher: Hasher;
  clientId: string;
  fallbackBrokers: readonly string[];
  /** A source partition pauses while any mailbox of the pipeline holds more entries. */
  mailboxMaxEntries: number;
  /** How long and how much a source partition buffers before appending (see PartitionBuffer). */
  coalesce: CoalesceLimits;
  /** Consume spans and consumer metrics; absent in tests that do not need them. */
  telemetry?: Telemetry;
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

/** One consumer group generation as this member saw it. */
interface GroupSession {
  generation: number;
  /** Committed offset per `topic/partition` when the session began, fetched once per session. */
  starts?: Promise<Map<string, number>>;
  partitions: Map<string, PartitionSession>;
  coalescer: MailboxCoalescer;
  /** Join pipelines: this member's partitions, told to every mailbox once at session start. */
  assignment?: Record<string, number[]>;
  startMarked?: boolean;
}

interface TopicPartition {
  topic: string;
  partition: number;
}

// Parsing is CPU-bound on one thread; a few partitions in flight hide the Redis and commit
// round trips of the others.
const PARTITIONS_CONCURRENTLY = 8;
const BACKPRESSURE_POLL_MS = 200;
// Offsets are committed at most this often (not per batch: the mock returns small batches, and a
// commit is a round trip); a crash re-reads at most this much, which the actors skip.
const COMMIT_INTERVAL_MS = 500;
// A member that dies without leaving (SIGKILL; also every member on the librdkafka mock, which
// ignores LeaveGroup) holds its partitions until the session times out: kafkajs's 30 s default
// would stall a pipeline that long.
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 3_000;
// A fetch long-polls up to this when there is no data; stop() waits for it.
const FETCH_MAX_WAIT_MS = 1_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

const tpKey = (topic: string, partition: number) => `${topic}/${partition}`;

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
/** How long stop() waits for a running connect or batch before tearing down anyway. */
const STOP_WAIT_MS = 3_000;

export class PipelineConsumer {
  private readonly logger: Logger;
  private readonly counters = {
    eventsRead: 0,
    malformed: 0,
    batchesAppended: 0,
    entriesAppended: 0,
  };
  private state: State = 'idle';
  private stopRequested = false;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private session: GroupSession;
  private committing: Promise<void> | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  private readonly paused = new Map<string, TopicPartition>();
  /** Partitions with a consumer lag series, removed when no longer assigned. */
  private readonly lagSeries = new Map<string, TopicPartition>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private supervising: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  /** Ends the current run or backoff sleep early (stop, or a crash kafkajs will not restart). */
  private interrupt: (() => void) | undefined;

  constructor(
    readonly pipeline: CompiledPipeline,
    private readonly options: PipelineConsumerOptions,
  ) {
    this.logger = new Logger(`Consumer:${pipeline.id}`);
    this.session = this.newSession(-1);
  }

  get stats(): ConsumerStats {
    return { ...this.counters, pausedPartitions: this.paused.size };
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
      this.dropLagSeries(() => false);
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
    const bridge = groupLogBridge((level, message, extra) => this.kafkaLog(level, message, extra));
    const kafka = createKafka({
      ...kafkaOptionsOf(pipeline, options.fallbackBrokers),
      clientId: `${options.clientId}-${pipeline.id}`,
      logLevel: logLevel.DEBUG,
      logCreator: bridge.logCreator,
    });
    const consumer = kafka.consumer({
      groupId: groupIdOf(pipeline.id),
      allowAutoTopicCreation: false,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: HEARTBEAT_INTERVAL_MS,
      maxWaitTimeInMs: FETCH_MAX_WAIT_MS,
    });
    const admin = kafka.admin();
    this.consumer = consumer;
    this.admin = admin;
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
      // The old session's buffered batches were never committed: the new one reads them again.
      this.session.coalescer.close();
      this.session = this.newSession(bridge.generation() ?? -1, payload.memberAssignment);
      const assigned = payload.memberAssignment;
      this.dropLagSeries((tp) => assigned[tp.topic]?.includes(tp.partition) === true);
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
      this.emptyBatch(this.session, topic, partition, to, Number(payload.highWatermark)).catch(
        (err: Error) => this.logger.warn(`empty batch of ${topic}/${partition}: ${err.message}`),
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
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PARTITIONS_CONCURRENTLY,
      eachBatch: (payload) => this.handleBatch(payload),
    });
    this.transition('running');
    onRunning();
    // Commits run on a timer, not in eachBatch: the last batch before a quiet spell must be
    // committed too, and a failed commit is simply tried again on the next tick.
    this.commitTimer = setInterval(() => {
      this.commitIfDue(this.session, consumer).catch((err: Error) =>
        this.logger.warn(`offset commit failed: ${err.message}`),
      );
    }, COMMIT_INTERVAL_MS);
    await ended;
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const live = () => payload.isRunning() && !payload.isStale();
    // A paused partition's batch is left unresolved: kafkajs fetches it again after resume.
    if (!live() || this.paused.has(tpKey(topic, partition))) return;

    const { pipeline, options } = this;
    const session = this.session;
    const { coalescer } = session;
    const state = await this.partitionSession(session, topic, partition);
    // Batches are buffered only between flushes of the partition: a flush that pauses it is the
    // last one before the pause, and a range that failed to append is retried before more is
    // buffered (throwing leaves this batch unresolved, so kafkajs fetches it again).
    await coalescer.settled(state);
    if (!live() || this.paused.has(tpKey(topic, partition))) return;
    if (coalescer.full(state)) await coalescer.flush(state);

    const lastOffset = batch.lastOffset();
    const to = Number(lastOffset);
    // kafkajs fetches again from an earlier offset after an offset reset: what is buffered
    // already must not be buffered twice (a range only grows forward).
    const buffered = coalescer.bufferedTo(state);
    if (buffered !== undefined && to <= buffered) {
      payload.resolveOffset(String(buffered));
      return;
    }
    const messages =
      buffered === undefined
        ? batch.messages
        : batch.messages.filter((message) => Number(message.offset) > buffered);
    const source = pipeline.sources.get(topic);
    const routed = routeBatch(
      messages,
      { topic, partition, partitions: pipeline.partitions, source },
      options.hasher,
    );
    // Join pipelines: the progress of this source partition, for the actors' watermarks.
    const progress = pipeline.join
      ? state.progressWith(
          maxEventTime(routed.values(), source),
          Number(batch.highWatermark) <= to + 1,
        )
      : undefined;
    for (const events of routed.values()) {
      for (const event of events) if (event.error !== undefined) this.counters.malformed += 1;
    }
    // Before encoding: a traced event's entry carries its consume span's context.
    const traced = options.telemetry?.tracing.consume(pipeline.id, topic, partition, routed);
    coalescer.add(state, routed, to, Date.now(), progress, traced);
    this.countBatch(topic, partition, messages.length, Number(batch.offsetLag()));
    this.counters.eventsRead += messages.length;
    // kafkajs fetches on from here; the commit still waits for the append (state.pending).
    payload.resolveOffset(lastOffset);
    // Throws on any Redis error: the range stays buffered and is appended before anything later.
    if (coalescer.due(state, Date.now())) await coalescer.flush(state);
    await payload.heartbeat();
  }

  private newSession(generation: number, assignment?: Record<string, number[]>): GroupSession {
    const coalescer = new MailboxCoalescer({
      redis: this.options.redis,
      pipelineId: this.pipeline.id,
      generation,
      limits: this.coalesceLimits(),
      marks: (state, progress) => joinMarks(progress, state.topicPartitions),
      flushed: (result) => this.flushed(result),
      failed: (state, err) =>
        this.logger.warn(
          `append of ${state.topic}/${state.partition} failed, retrying: ${String(err)}`,
        ),
    });
    return { generation, partitions: new Map(), coalescer, assignment };
  }

  /**
   * A join actor takes a caught-up partition without progress for the idle timeout as idle, so
   * buffered batches must reach it well within that.
   */
  private coalesceLimits(): CoalesceLimits {
    const { coalesce } = this.options;
    const join = this.pipeline.join;
    if (join === undefined) return coalesce;
    return {
      ...coalesce,
      lingerMs: Math.min(coalesce.lingerMs, Math.floor(join.idleTimeoutMs / 4)),
    };
  }

  private flushed({ state, longest, entries, batches }: FlushResult): void {
    this.counters.batchesAppended += batches;
    this.counters.entriesAppended += entries;
    if (longest > this.options.mailboxMaxEntries) this.pause(state.topic, state.partition);
  }

  private countBatch(topic: string, partition: number, events: number, lag: number): void {
    const metrics = this.options.telemetry?.metrics;
    if (metrics === undefined) return;
    const pipeline = this.pipeline.id;
    metrics.consumed.inc({ pipeline }, events);
    metrics.consumerLag.set({ pipeline, topic, partition }, Math.max(0, lag));
    this.lagSeries.set(tpKey(topic, partition), { topic, partition });
  }

  /** Removes the lag series of partitions this consumer no longer reads (revoked, stopped). */
  private dropLagSeries(keep: (tp: TopicPartition) => boolean): void {
    const gauge = this.options.telemetry?.metrics.consumerLag;
    for (const [key, tp] of this.lagSeries) {
      if (keep(tp)) continue;
      gauge?.remove({ pipeline: this.pipeline.id, topic: tp.topic, partition: tp.partition });
      this.lagSeries.delete(key);
    }
  }

  private async partitionSession(
    session: GroupSession,
    topic: string,
    partition: number,
  ): Promise<PartitionSession> {
    const key = tpKey(topic, partition);
    let state = session.partitions.get(key);
    if (!state) {
      const starts = await this.sessionStarts(session);
      const from = starts.get(key) ?? 0;
      state =
        session.partitions.get(key) ??
        new PartitionSession(
          topic,
          partition,
          from,
          this.pipeline.partitions,
          partitionsOf(starts, topic),
        );
      session.partitions.set(key, state);
    }
    return state;
  }

  /** Commits the appended offsets, one commit at a time; a forced one runs after the running one. */
  private async commitIfDue(
    session: GroupSession,
    consumer: Consumer,
    force = false,
  ): Promise<void> {
    if (this.committing) {
      if (!force) return;
      await this.committing.catch(() => undefined);
    }
    this.committing = this.commit(session, consumer).finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  /**
   * Covers and commits the appended offsets. Join pipelines also tell every mailbox each
   * partition's marks at session start and again every heartbeat, so actors see caught-up quiet
   * sources as idle only on fresh words from a live consumer (see JoinWatermark).
   */
  private async commit(session: GroupSession, consumer: Consumer): Promise<void> {
    const join = this.pipeline.join;
    if (join) await this.startMarks(session);
    const now = Date.now();
    const every = join ? marksHeartbeatMs(join.idleTimeoutMs) : Number.POSITIVE_INFINITY;
    const offsets: { state: PartitionSession; offset: number }[] = [];
    const coverage: MailboxAppend[] = [];
    const covered: { state: PartitionSession; mailboxes: number[]; to: number; due: boolean }[] =
      [];
    for (const state of session.partitions.values()) {
      const offset = state.pending;
      const due = join !== undefined && state.marksDue(now, every);
      if (offset === undefined && !due) continue;
      if (offset !== undefined) offsets.push({ state, offset });
      const { topic, partition, from } = state;
      const to = state.lastTo;
      const empty = encodeMailboxEntry({
        topic,
        partition,
        generation: session.generation,
        from,
        to,
        events: [],
        ...(join ? state.coverageMarks() : {}),
      });
      const mailboxes = due ? this.allMailboxes() : state.coverageFor(to + 1);
      for (const mailbox of mailboxes) coverage.push({ mailbox, entry: empty });
      covered.push({ state, mailboxes, to, due });
    }
    if (covered.length === 0) return;
    await appendToMailboxes(this.options.redis, this.pipeline.id, coverage);
    for (const { state, mailboxes, to, due } of covered) {
      state.covered(mailboxes, to);
      if (due) state.marksSent(now);
    }
    if (offsets.length === 0) return;
    await consumer.commitOffsets(
      offsets.map(({ state, offset }) => ({
        topic: state.topic,
        partition: state.partition,
        offset: String(offset),
      })),
    );
    for (const { state, offset } of offsets) state.committed(offset);
  }

  /** Once per session: each assigned partition is caught up when nothing is past its commit. */
  private async startMarks(session: GroupSession): Promise<void> {
    if (session.startMarked || session.assignment === undefined || !this.admin) return;
    const admin = this.admin;
    for (const [topic, partitions] of Object.entries(session.assignment)) {
      const highs = await admin.fetchTopicOffsets(topic);
      for (const partition of partitions) {
        const high = highs.find((h) => h.partition === partition)?.high;
        const state = await this.partitionSession(session, topic, partition);
        if (high !== undefined) state.startMarks(state.from >= Number(high));
      }
    }
    session.startMarked = true;
  }

  /** A batch kafkajs skipped as empty after filtering: nothing to append, its offsets move on. */
  private async emptyBatch(
    session: GroupSession,
    topic: string,
    partition: number,
    to: number,
    highWatermark: number,
  ): Promise<void> {
    const state = await this.partitionSession(session, topic, partition);
    if (session !== this.session || !(to > state.lastTo)) return;
    const progress = this.pipeline.join
      ? state.progressWith(undefined, highWatermark <= to + 1)
      : undefined;
    state.appended([], to, progress);
  }

  private allMailboxes(): number[] {
    return Array.from({ length: this.pipeline.partitions }, (_, i) => i);
  }

  private sessionStarts(session: GroupSession): Promise<Map<string, number>> {
    session.starts ??= this.fetchCommitted().catch((err: unknown) => {
      session.starts = undefined;
      throw err;
    });
    return session.starts;
  }

  /**
   * The group's committed offsets. Any committed offset is a safe `from`: it was committed only
   * after every mailbox received entries up to it. Nothing committed gives 0, which no `next`
   * is below (the session then starts at the log start or end, neither leaves a gap to fill).
   */
  private async fetchCommitted(): Promise<Map<string, number>> {
    if (!this.admin) throw new Error('consumer is not connected');
    const topics = [...this.pipeline.sources.keys()];
    const result = await this.admin.fetchOffsets({ groupId: groupIdOf(this.pipeline.id), topics });
    const starts = new Map<string, number>();
    for (const { topic, partitions } of result) {
      for (const { partition, offset } of partitions) {
        starts.set(tpKey(topic, partition), Math.max(0, Number(offset)));
      }
    }
    return starts;
  }

  private pause(topic: string, partition: number): void {
    this.logger.log(
      { pipeline: this.pipeline.id, topic, partition },
      `pausing ${topic}/${partition}: a mailbox is over ${this.options.mailboxMaxEntries} entries`,
    );
    this.paused.set(tpKey(topic, partition), { topic, partition });
    this.consumer?.pause([{ topic, partitions: [partition] }]);
    this.pollTimer ??= setInterval(() => void this.pollBackpressure(), BACKPRESSURE_POLL_MS);
  }

  private async pollBackpressure(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const { redis, mailboxMaxEntries } = this.options;
      const lengths = await mailboxLengths(redis, this.pipeline.id, this.pipeline.partitions);
      if (lengths.some((length) => length > mailboxMaxEntries)) return;
      const resumed = [...this.paused.values()];
      for (const { topic, partition } of resumed) {
        this.consumer?.resume([{ topic, partitions: [partition] }]);
      }
      this.logger.log(
        { pipeline: this.pipeline.id, resumed },
        `mailboxes drained: resuming ${resumed.length} partition(s)`,
      );
      this.clearPaused();
    } catch (err) {
      this.logger.warn(`mailbox length check failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }

  private clearPaused(): void {
    this.paused.clear();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Disconnects the current client pair; kafkajs waits for the batch in flight. Safe twice. */
  private async teardown(): Promise<void> {
    const { consumer, admin } = this;
    this.consumer = undefined;
    this.admin = undefined;
    this.clearPaused();
    if (this.commitTimer) clearInterval(this.commitTimer);
    this.commitTimer = undefined;
    this.session.coalescer.close();
    if (consumer) {
      // Best effort: what stays uncommitted is read and appended again by the next session.
      await this.commitIfDue(this.session, consumer, true).catch((err: Error) =>
        this.logger.warn(`final commit failed: ${err.message}`),
      );
      await consumer
        .disconnect()
        .catch((err: Error) => this.logger.warn(`consumer disconnect: ${err.message}`));
    }
    if (admin) await admin.disconnect().catch(() => undefined);
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

  private kafkaLog(level: KafkaLogLevel, message: string, extra: Record<string, unknown>): void {
    // kafkajs logs every retried connection failure as an error; what it finally gives up on
    // reaches supervise() and is logged there.
    if (level === 'info') this.logger.debug(extra, `kafkajs: ${message}`);
    else this.logger.warn(extra, `kafkajs: ${message}`);
  }
}
