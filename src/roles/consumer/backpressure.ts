import type { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { Consumer } from 'kafkajs';
import type { CompiledPipeline } from '@sluice/pipeline';
import { tpKey, type TopicPartition } from './group-session';
import { mailboxLengths } from './mailbox-appender';

const BACKPRESSURE_POLL_MS = 200;

export interface BackpressureOptions {
  pipeline: CompiledPipeline;
  redis: Redis;
  /** A source partition pauses while any mailbox of the pipeline holds more entries. */
  mailboxMaxEntries: number;
  logger: Logger;
  /** The consumer of the current connection, read at use: it changes on every reconnect. */
  consumer: () => Consumer | undefined;
}

/**
 * Pauses source partitions while a mailbox is too long, and resumes them all once every mailbox
 * is short again (polled: the actors drain mailboxes in other processes).
 */
export class Backpressure {
  private readonly paused = new Map<string, TopicPartition>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(private readonly options: BackpressureOptions) {}

  get size(): number {
    return this.paused.size;
  }

  isPaused(topic: string, partition: number): boolean {
    return this.paused.has(tpKey(topic, partition));
  }

  pause(topic: string, partition: number): void {
    const { pipeline, mailboxMaxEntries, logger } = this.options;
    logger.log(
      { pipeline: pipeline.id, topic, partition },
      `pausing ${topic}/${partition}: a mailbox is over ${mailboxMaxEntries} entries`,
    );
    this.paused.set(tpKey(topic, partition), { topic, partition });
    this.options.consumer()?.pause([{ topic, partitions: [partition] }]);
    this.pollTimer ??= setInterval(() => void this.poll(), BACKPRESSURE_POLL_MS);
  }

  /** Forgets every pause and stops polling (the consumer is going away). Safe twice. */
  clear(): void {
    this.paused.clear();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    const { pipeline, redis, mailboxMaxEntries, logger } = this.options;
    try {
      const lengths = await mailboxLengths(redis, pipeline.id, pipeline.partitions);
      if (lengths.some((length) => length > mailboxMaxEntries)) return;
      const resumed = [...this.paused.values()];
      for (const { topic, partition } of resumed) {
        this.options.consumer()?.resume([{ topic, partitions: [partition] }]);
      }
      logger.log(
        { pipeline: pipeline.id, resumed },
        `mailboxes drained: resuming ${resumed.length} partition(s)`,
      );
      this.clear();
    } catch (err) {
      logger.warn(`mailbox length check failed: ${(err as Error).message}`);
    } finally {
      this.polling = false;
    }
  }
}
