import { logLevel, type LogEntry, type logCreator } from 'kafkajs';
import { offsetResetOf } from './offset-reset';

export type KafkaLogLevel = 'error' | 'warn' | 'info';

export interface GroupLogBridge {
  /** Pass to the kafkajs client as `logCreator`, with `logLevel: logLevel.DEBUG`. */
  logCreator: logCreator;
  /** The generation of the group this client last joined; undefined before the first join. */
  generation(): number | undefined;
}

/**
 * kafkajs 2.2.4 does not expose the consumer group generation (the GROUP_JOIN event omits it),
 * but it logs it at debug level when the member receives its assignment, right before GROUP_JOIN
 * fires. This bridge reads it from there and forwards warnings and errors to `forward`, dropping
 * the rest, so the debug level costs a few object allocations per request and no output.
 */
export function groupLogBridge(
  forward: (level: KafkaLogLevel, message: string, extra: Record<string, unknown>) => void,
  /** Called, before `forward`, for each offset reset kafkajs logs (see OFFSET_RESET_MESSAGE). */
  onOffsetReset?: (topic: string, partition: number) => void,
): GroupLogBridge {
  let generation: number | undefined;
  const logCreator: logCreator = () => (entry: LogEntry) => {
    if (entry.level === logLevel.DEBUG) {
      // Two of these per Kafka request: look at them without copying them.
      const { log } = entry;
      if (entry.namespace === 'ConsumerGroup' && log.message === 'Received assignment') {
        const value = (log as { generationId?: unknown }).generationId;
        if (typeof value === 'number') generation = value;
      }
      return;
    }
    const { message, ...extra } = entry.log;
    if (onOffsetReset && entry.level === logLevel.ERROR) {
      const reset = offsetResetOf(entry);
      // Runs inside kafkajs's recovery from the reset: a throw would abort it.
      try {
        if (reset) onOffsetReset(reset.topic, reset.partition);
      } catch (err) {
        forward('error', `offset reset handler failed: ${(err as Error).message}`, {
          namespace: entry.namespace,
        });
      }
    }
    const level: KafkaLogLevel =
      entry.level === logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'info';
    forward(level, message, { namespace: entry.namespace, ...extra });
  };
  return { logCreator, generation: () => generation };
}
