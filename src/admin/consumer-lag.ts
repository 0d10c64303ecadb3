import { Inject, Injectable } from '@nestjs/common';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaConnectionOf } from '@sluice/kafka';
import { type PipelineDefinition, resolveDefinitionSecrets } from '@sluice/pipeline';
import { withTimeout } from '@sluice/redis';
import { SLUICE_CONFIG, type SluiceConfig } from '../config';

const LAG_TIMEOUT_MS = 3_000;

/** The consumer group a pipeline's consumer role reads with. */
export function groupIdOf(pipelineId: string): string {
  return `sluice.${pipelineId}`;
}

/**
 * Consumer lag of a pipeline, computed on demand: over every partition of its source topics, the
 * end offset minus the group's committed offset (a partition without a commit counts from its
 * start offset for `startFrom: earliest`, as nothing for `latest`). Null when Kafka does not
 * answer within a short deadline: the API reports counters even while Kafka is away.
 */
@Injectable()
export class ConsumerLag {
  constructor(@Inject(SLUICE_CONFIG) private readonly config: SluiceConfig) {}

  async of(stored: PipelineDefinition): Promise<number | null> {
    let definition: PipelineDefinition;
    try {
      definition = resolveDefinitionSecrets(stored, this.config.secrets);
    } catch {
      return null; // unknown, like Kafka not answering; the watcher logs the reason
    }
    const kafka = new Kafka({
      clientId: `${this.config.kafkaClientId}-admin`,
      ...kafkaConnectionOf(definition.source.kafka, this.config.kafkaBrokers),
      connectionTimeout: LAG_TIMEOUT_MS,
      requestTimeout: LAG_TIMEOUT_MS,
      // The deadline below bounds the whole call; a retry or two covers a broker's hiccup.
      retry: { retries: 2, initialRetryTime: 100 },
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    try {
      return await withTimeout(
        (async () => {
          await admin.connect();
          let lag = 0;
          for (const topic of definition.source.topics) {
            // One after the other: concurrent first requests race kafkajs's metadata refresh
            // ("no brokers in the broker pool").
            const ends = await admin.fetchTopicOffsets(topic.name);
            const committed = await admin.fetchOffsets({
              groupId: groupIdOf(definition.id),
              topics: [topic.name],
            });
            const done = new Map(
              (committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]),
            );
            for (const end of ends) {
              const high = Number(end.high);
              const commit = done.get(end.partition) ?? -1;
              const from =
                commit >= 0 ? commit : topic.startFrom === 'earliest' ? Number(end.low) : high;
              lag += Math.max(0, high - from);
            }
          }
          return lag;
        })(),
        LAG_TIMEOUT_MS,
        'consumer lag',
      );
    } catch {
      return null;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
