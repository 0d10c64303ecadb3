import type { KafkaConfig, SASLOptions } from 'kafkajs';
import type { CompiledPipeline } from '@sluice/pipeline';

/** The consumer group of a pipeline; the admin API reads lag from the same group. */
export function groupIdOf(pipelineId: string): string {
  return `sluice.${pipelineId}`;
}

export interface PipelineKafkaOptions {
  brokers: string[];
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
}

/** Brokers and credentials of the pipeline's source, with the process's brokers as fallback. */
export function kafkaOptionsOf(
  pipeline: CompiledPipeline,
  fallbackBrokers: readonly string[],
): PipelineKafkaOptions {
  const { brokers, ssl, sasl } = pipeline.kafka;
  const options: PipelineKafkaOptions = {
    brokers: brokers.length > 0 ? [...brokers] : [...fallbackBrokers],
  };
  if (ssl === true) options.ssl = true;
  else if (ssl !== false) {
    options.ssl = {
      ca: ssl.ca,
      cert: ssl.cert,
      key: ssl.key,
      rejectUnauthorized: ssl.rejectUnauthorized,
    };
  }
  if (sasl) {
    const { username, password } = sasl;
    options.sasl =
      sasl.mechanism === 'PLAIN'
        ? { mechanism: 'plain', username, password }
        : sasl.mechanism === 'SCRAM-SHA-256'
          ? { mechanism: 'scram-sha-256', username, password }
          : { mechanism: 'scram-sha-512', username, password };
  }
  return options;
}
