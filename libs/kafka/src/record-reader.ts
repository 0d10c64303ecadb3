import type { Admin, Kafka } from 'kafkajs';
import { offsetForTime, type OffsetForTime, type StampedRecord } from './time-offset';

/** One record read at an offset: what the time search and a rewind's dedup forgetting need. */
export interface FetchedRecord extends StampedRecord {
  key: Buffer | null;
  value: Buffer | null;
}

/** kafkajs 2.2.4 internals this file relies on (checked by record-reader.spec.ts). */
interface KafkaCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(query: { nodeId: string }): Promise<KafkaBroker>;
}
interface KafkaBroker {
  fetch(request: {
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: {
      topic: string;
      partitions: { partition: number; fetchOffset: string; maxBytes: number }[];
    }[];
  }): Promise<{ responses: { topicName: string; partitions: RawPartition[] }[] }>;
}
interface RawPartition {
  partition: number;
  messages: {
    offset: string;
    timestamp: string;
    key: Buffer | null;
    value: Buffer | null;
    isControlRecord?: boolean;
  }[];
}

const CREATE_CLUSTER = 'private:Kafka:createCluster';
/** kafkajs's Fetch isolation level: consumers read committed records (kafkajs's default too). */
const READ_COMMITTED = 1;
const ATTEMPTS = 3;

/** The function kafkajs's Kafka client builds its clusters with; throws if kafkajs moved it. */
export function clusterFactoryOf(kafka: Kafka): (options: object) => unknown {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === CREATE_CLUSTER);
  const factory = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol];
  if (typeof factory !== 'function') {
    throw new Error(`kafkajs has no ${CREATE_CLUSTER}: record reads need kafkajs 2.2.x internals`);
  }
  return factory as (options: object) => unknown;
}

/**
 * Reads records of a partition from a given offset, without a consumer group: one Fetch to the
 * partition's leader per page. kafkajs has no public call for this (its consumer needs a group,
 * whose join takes a session timeout on the mock broker and disturbs the pipeline's own group),
 * so it uses the cluster object kafkajs's consumers use, built with kafkajs's own factory.
 */
export class RecordReader {
  private readonly cluster: KafkaCluster;
  private connected: Promise<void> | undefined;
  private readonly topics = new Set<string>();

  constructor(kafka: Kafka) {
    this.cluster = clusterFactoryOf(kafka)({ allowAutoTopicCreation: false }) as KafkaCluster;
  }

  /**
   * Records from the first one at or after `from`, in offset order, as far as one fetch of about
   * `maxBytes` goes (a whole record batch at least); none when nothing is there yet.
   */
  async page(
    topic: string,
    partition: number,
    from: number,
    maxBytes = 64 * 1024,
  ): Promise<FetchedRecord[]> {
    this.connected ??= this.cluster.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    await this.connected;
    if (!this.topics.has(topic)) {
      await this.cluster.addTargetTopic(topic);
      this.topics.add(topic);
    }
    let failure: unknown;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      try {
        return await this.fetchOnce(topic, partition, from, maxBytes);
      } catch (err) {
        // A moved leader or stale metadata: look again and retry.
        failure = err;
        await this.cluster.refreshMetadata().catch(() => undefined);
      }
    }
    throw failure;
  }

  private async fetchOnce(topic: string, partition: number, from: number, maxBytes: number) {
    await this.cluster.refreshMetadataIfNecessary();
    const leaders = this.cluster.findLeaderForPartitions(topic, [partition]);
    const nodeId = Object.keys(leaders)[0];
    if (nodeId === undefined) throw new Error(`no leader for ${topic}/${partition}`);
    const broker = await this.cluster.findBroker({ nodeId });
    const { responses } = await broker.fetch({
      isolationLevel: READ_COMMITTED,
      maxWaitTime: 0,
      minBytes: 1,
      maxBytes,
      topics: [{ topic, partitions: [{ partition, fetchOffset: String(from), maxBytes }] }],
    });
    const raw = responses
      .find((r) => r.topicName === topic)
      ?.partitions.find((p) => p.partition === partition);
    const records: FetchedRecord[] = [];
    // A fetch answers whole record batches, so the first may start before `from`.
    for (const m of raw?.messages ?? []) {
      const offset = Number(m.offset);
      if (offset < from || m.isControlRecord === true) continue;
      records.push({ offset, timestamp: Number(m.timestamp), key: m.key, value: m.value });
    }
    return records;
  }

  /** Safe twice. */
  async close(): Promise<void> {
    const connected = this.connected;
    this.connected = undefined;
    if (connected) await connected.then(() => this.cluster.disconnect()).catch(() => undefined);
  }
}

export interface PartitionStart extends OffsetForTime {
  partition: number;
  /** The log start and end offsets when the start was found. */
  low: number;
  high: number;
}

/**
 * Per partition of `topic` (or only `partitions`), the first offset for `time` (time-offset.ts):
 * the broker's ListOffsets answer when the records around it confirm it, else a binary search
 * over fetched timestamps.
 */
export async function startOffsetsForTime(
  admin: Admin,
  reader: RecordReader,
  topic: string,
  time: number,
  partitions?: readonly number[],
): Promise<PartitionStart[]> {
  const [bounds, answers] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchTopicOffsetsByTimestamp(topic, time),
  ]);
  const starts: PartitionStart[] = [];
  for (const { partition, low, high } of bounds) {
    if (partitions && !partitions.includes(partition)) continue;
    const answer = answers.find((a) => a.partition === partition);
    const found = await offsetForTime({
      time,
      low: Number(low),
      high: Number(high),
      brokerAnswer: answer === undefined ? undefined : Number(answer.offset),
      fetch: (from) => reader.page(topic, partition, from),
    });
    starts.push({ partition, low: Number(low), high: Number(high), ...found });
  }
  return starts.sort((a, b) => a.partition - b.partition);
}
