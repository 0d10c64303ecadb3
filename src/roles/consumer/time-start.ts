import type { Logger } from '@nestjs/common';
import type { Admin } from 'kafkajs';
import { type RecordReader, startOffsetsForTime } from '@sluice/kafka';
import type { CompiledPipeline } from '@sluice/pipeline';
import { tpKey } from './group-session';

export interface TimeStartContext {
  pipeline: CompiledPipeline;
  logger: Logger;
  /** The current connection's admin client and record reader, read at use. */
  admin: () => Admin | undefined;
  reader: () => RecordReader | undefined;
}

/**
 * `startFrom: <ISO time>`: the offset each partition of such a topic starts at when the group has
 * nothing committed for it. kafkajs reads such a partition from the earliest offset (the topic is
 * subscribed `fromBeginning`); the batch intake skips what lies before this offset, records it as
 * read and seeks kafkajs past it. Found once per partition and process (libs/kafka
 * time-offset.ts: the broker's ListOffsets answer when the records around it confirm it, else a
 * binary search over fetched timestamps); a failure is asked again at the next batch.
 */
export class TimeStarts {
  private readonly starts = new Map<string, Promise<number>>();

  constructor(private readonly context: TimeStartContext) {}

  /** The start offset of `topic/partition` if its topic starts from a time, else undefined. */
  startOf(topic: string, partition: number): Promise<number> | undefined {
    const time = this.context.pipeline.sources.get(topic)?.startTime;
    if (time === undefined) return undefined;
    const key = tpKey(topic, partition);
    let start = this.starts.get(key);
    if (!start) {
      start = this.find(topic, partition, time);
      this.starts.set(key, start);
      start.catch(() => this.starts.delete(key));
    }
    return start;
  }

  private async find(topic: string, partition: number, time: number): Promise<number> {
    const admin = this.context.admin();
    const reader = this.context.reader();
    if (!admin || !reader) throw new Error('consumer is not connected');
    const [found] = await startOffsetsForTime(admin, reader, topic, time, [partition]);
    if (!found) throw new Error(`${topic}/${partition}: no such partition`);
    this.context.logger.log(
      { topic, partition, offset: found.offset, how: found.how, fetches: found.fetches },
      `${topic}/${partition} starts at offset ${found.offset} for ${new Date(time).toISOString()} ` +
        `(${found.how === 'broker' ? "the broker's answer, checked" : 'searched by timestamps'})`,
    );
    return found.offset;
  }
}
