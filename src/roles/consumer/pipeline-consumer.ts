import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { logLevel, type Admin, type Consumer, type EachBatchPayload } from 'kafkajs';
import { createKafka, groupLogBridge, type KafkaLogLevel } from '@sluice/kafka';
import { encodeMailboxEntry, type CompiledPipeline, type Hasher } from '@sluice/pipeline';
import { routeBatch } from './batch-router';
import { groupIdOf, kafkaOptionsOf } from './kafka-options';
import { appendToMailboxes, mailboxLengths } from './mailbox-appender';

export interface PipelineConsumerOptions {
  redis: Redis;
  hasher: Hasher;
  clientId: string;
  fallbackBrokers: readonly string[];
  /** A source partition pauses while any mailbox of the pipeline holds more entries. */
  mailboxMaxEntries: number;
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
}

interface TopicPartition {
  topic: string;
  partition: number;
}

// Parsing is CPU-bound on one thread; a few partitions in flight hide the Redis and commit
// round trips of the others.
const PARTITIONS_CONCURRENTLY = 8;
const BACKPRESSURE_POLL_MS = 200;
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
 * Every batch appends one entry to EVERY mailbox (an empty one where no event goes), so each
 * mailbox's `next` for the source partition reaches the batch's end before the offset is
 * committed. A later session starts at the committed offset and stamps it as `from`; only that
 * way is `from <= next` true in every mailbox, including those that got no event for a long time.
 */
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
  private session: GroupSession = { generation: -1 };
  private readonly paused = new Map<string, TopicPartition>();
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
      await this.supervising;
      await this.teardown();
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
      this.session = { generation: bridge.generation() ?? -1 };
      this.logger.log(
        { generation: this.session.generation, assignment: payload.memberAssignment },
        `joined group ${payload.groupId}, generation ${this.session.generation}`,
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
    const from = (await this.sessionStarts(session)).get(tpKey(topic, partition)) ?? 0;
    const lastOffset = batch.lastOffset();
    const to = Number(lastOffset);
    const routed = routeBatch(
      batch.messages,
      { topic, partition, partitions: pipeline.partitions, source: pipeline.sources.get(topic) },
      options.hasher,
    );
    const entries: Buffer[] = [];
    let malformed = 0;
    for (let mailbox = 0; mailbox < pipeline.partitions; mailbox += 1) {
      const events = routed.get(mailbox) ?? [];
      for (const event of events) if (event.error !== undefined) malformed += 1;
      entries.push(
        encodeMailboxEntry({ topic, partition, generation: session.generation, from, to, events }),
      );
    }
    // Throws on any Redis error: nothing is resolved or committed and kafkajs retries the batch.
    const lengths = await appendToMailboxes(options.redis, pipeline.id, entries);
    this.counters.eventsRead += batch.messages.length;
    this.counters.malformed += malformed;
    this.counters.batchesAppended += 1;
    this.counters.entriesAppended += entries.length;

    if (!live()) return;
    payload.resolveOffset(lastOffset);
    // Only this partition's offset: committing every resolved offset could move another
    // partition past what its mailboxes have seen.
    await payload.commitOffsetsIfNecessary({
      topics: [{ topic, partitions: [{ partition, offset: String(to + 1) }] }],
    });
    if (lengths.some((length) => length > options.mailboxMaxEntries)) this.pause(topic, partition);
    await payload.heartbeat();
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
      for (const { topic, partition } of this.paused.values()) {
        this.consumer?.resume([{ topic, partitions: [partition] }]);
      }
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
    if (consumer) {
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
