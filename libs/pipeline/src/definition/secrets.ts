// Definitions carry credentials (SASL and ClickHouse passwords, TLS keys). Store the full
// definition, but show this copy in API responses and logs.
import type { PipelineDefinition } from './schema';

export const REDACTED = '***';

export function redactDefinition(definition: PipelineDefinition): PipelineDefinition {
  const { kafka } = definition.source;
  const ssl =
    typeof kafka.ssl === 'object' && kafka.ssl.key !== undefined
      ? { ...kafka.ssl, key: REDACTED }
      : kafka.ssl;
  const sasl = kafka.sasl && { ...kafka.sasl, password: REDACTED };
  const clickhouse = definition.sink.clickhouse;
  return {
    ...definition,
    source: { ...definition.source, kafka: { ...kafka, sasl, ssl } },
    sink: {
      ...definition.sink,
      clickhouse: { ...clickhouse, password: clickhouse.password === '' ? '' : REDACTED },
    },
  };
}
