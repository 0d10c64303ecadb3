import type { Logger } from '@nestjs/common';
import { logLevel, type Admin, type Consumer } from 'kafkajs';
import {
  createKafka,
  groupLogBridge,
  groupTiming,
  kafkaConnectionOf,
  type KafkaLogLevel,
  RecordReader,
} from '@sluice/kafka';
import type { CompiledPipeline } from '@sluice/pipeline';
import { groupIdOf } from './kafka-options';

// A fetch long-polls up to this when there is no data; stop() waits for it. The default of
// CONSUMER_FETCH_MAX_WAIT_MS (see env.schema.ts for why it is short).
export const FETCH_MAX_WAIT_MS = 100;

/** The kafkajs client pair of one connection attempt of a pipeline's consumer group. */
export interface GroupClients {
  consumer: Consumer;
  admin: Admin;
  /** The group generation kafkajs last logged joining (kafkajs events do not carry it). */
  generation: () => number | undefined;
  /** Group-less record reads (`startFrom` a time: the offset search); connects on first use. */
  reader: RecordReader;
}

/** Creates, without connecting, the group consumer and admin client of `pipeline`. */
export function createGroupClients(
  pipeline: CompiledPipeline,
  options: {
    clientId: string;
    fallbackBrokers: readonly string[];
    fetchMaxWaitMs?: number;
    /** KAFKA_SESSION_TIMEOUT_MS; default DEFAULT_SESSION_TIMEOUT_MS. */
    sessionTimeoutMs?: number;
  },
  logger: Logger,
  /** kafkajs reset a partition's offset (OFFSET_OUT_OF_RANGE): see SourceGapMonitor. */
  onOffsetReset?: (topic: string, partition: number) => void,
): GroupClients {
  const bridge = groupLogBridge(
    (level, message, extra) => kafkaLog(logger, level, message, extra),
    onOffsetReset,
  );
  const kafka = createKafka({
    ...kafkaConnectionOf(pipeline.kafka, options.fallbackBrokers),
    clientId: `${options.clientId}-${pipeline.id}`,
    logLevel: logLevel.DEBUG,
    logCreator: bridge.logCreator,
  });
  const consumer = kafka.consumer({
    groupId: groupIdOf(pipeline.id),
    allowAutoTopicCreation: false,
    ...groupTiming(options.sessionTimeoutMs),
    maxWaitTimeInMs: options.fetchMaxWaitMs ?? FETCH_MAX_WAIT_MS,
  });
  return {
    consumer,
    admin: kafka.admin(),
    generation: () => bridge.generation(),
    reader: new RecordReader(kafka),
  };
}

function kafkaLog(
  logger: Logger,
  level: KafkaLogLevel,
  message: string,
  extra: Record<string, unknown>,
): void {
  // kafkajs logs every retried connection failure as an error; what it finally gives up on
  // reaches supervise() and is logged there.
  if (level === 'info') logger.debug(extra, `kafkajs: ${message}`);
  else logger.warn(extra, `kafkajs: ${message}`);
}
