import type { Consumer, Kafka } from 'kafkajs';
import { groupTiming } from '@sluice/kafka/group-timing';

/** Another member holds partitions of the group: its consumers have not left yet. */
export class GroupBusyError extends Error {
  override readonly name = 'GroupBusyError';
}

export interface GroupOffset {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * A member of a pipeline's consumer group holding every partition of its topics, so nobody else
 * reads or commits while a rewind moves the offsets. Kafka takes an offset commit for a group
 * with members only from a member (the librdkafka mock even once a group had any), so the
 * offsets are committed from inside the group, the way kafkajs's own admin `setOffsets` does.
 * It fetches nothing (every partition paused) and commits only what `commit` is given.
 */
export class SoleGroupMember {
  private assignment: Record<string, number[]> = {};
  private joins = 0;

  private constructor(
    private readonly consumer: Consumer,
    private readonly partitions: ReadonlyMap<string, readonly number[]>,
  ) {}

  /**
   * Joins `groupId` for `partitions` (topic -> every partition). Throws GroupBusyError when the
   * group gives it fewer (a member still there), after leaving again. Its session timeout is the
   * pipeline consumers' (KAFKA_SESSION_TIMEOUT_MS): the mock broker ignores LeaveGroup, so a
   * member that left is only dropped after it, and the next join waits that long.
   */
  static async join(
    kafka: Kafka,
    groupId: string,
    partitions: ReadonlyMap<string, readonly number[]>,
    timeoutMs: number,
    sessionTimeoutMs?: number,
  ): Promise<SoleGroupMember> {
    const consumer = kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      ...groupTiming(sessionTimeoutMs),
      rebalanceTimeout: timeoutMs,
      maxWaitTimeInMs: 100,
    });
    const member = new SoleGroupMember(consumer, partitions);
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      member.assignment = payload.memberAssignment;
      member.joins += 1;
      // Nothing is read: a paused partition is not fetched.
      consumer.pause([...partitions.keys()].map((topic) => ({ topic })));
    });
    try {
      await consumer.connect();
      for (const topic of partitions.keys())
        await consumer.subscribe({ topic, fromBeginning: true });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new GroupBusyError(`group ${groupId}: no assignment in ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      await Promise.race([
        consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => {} }),
        deadline,
      ]).finally(() => clearTimeout(timer));
      member.assertSole();
      return member;
    } catch (err) {
      await member.leave();
      throw err;
    }
  }

  /** Commits `offsets` as this member; throws if the group was rebalanced meanwhile. */
  async commit(offsets: readonly GroupOffset[]): Promise<void> {
    this.assertSole();
    const joins = this.joins;
    await this.consumer.commitOffsets(
      offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset: String(offset) })),
    );
    if (this.joins !== joins)
      throw new GroupBusyError('the group was rebalanced during the commit');
    this.assertSole();
  }

  /** Safe twice. */
  async leave(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
  }

  private assertSole(): void {
    for (const [topic, all] of this.partitions) {
      const mine = new Set(this.assignment[topic] ?? []);
      const missing = all.filter((p) => !mine.has(p));
      if (missing.length > 0) {
        throw new GroupBusyError(
          `another member of the group still holds ${topic} partitions ${missing.join(',')}`,
        );
      }
    }
  }
}
