// The one list of the secret fields of a definition (SASL password, OAUTHBEARER token and client
// secret, TLS keys, sink password) and
// what is done to them: sealed or kept as references when stored (README "Security"), resolved
// in the process that connects, shown as *** in API responses and logs.
import type { DefinitionError } from './issues';
import type { PipelineDefinition } from './schema';
import {
  type ResolveEnvironment,
  type SecretBox,
  SecretError,
  isSealed,
  parseSecretRef,
  resolveSecret,
} from '../security/secret-box';

export const REDACTED = '***';

type FieldFn = (value: string, path: string) => string;
type Sasl = NonNullable<PipelineDefinition['source']['kafka']['sasl']>;

function mapSaslSecrets(sasl: Sasl, fn: FieldFn): Sasl {
  const at = (field: string) => `source.kafka.sasl.${field}`;
  switch (sasl.mechanism) {
    case 'PLAIN':
    case 'SCRAM-SHA-256':
    case 'SCRAM-SHA-512':
      return { ...sasl, password: fn(sasl.password, at('password')) };
    case 'OAUTHBEARER': {
      const out = { ...sasl };
      if (sasl.token !== undefined) out.token = fn(sasl.token, at('token'));
      if (sasl.clientSecret !== undefined) {
        out.clientSecret = fn(sasl.clientSecret, at('clientSecret'));
      }
      return out;
    }
    case 'AWS-MSK-IAM':
      // No secret: credentials come from the process's AWS credentials chain.
      return sasl;
  }
}

/** The sink section of a definition. */
export type ClickHouseSink = PipelineDefinition['sink']['clickhouse'];

/** The sink's secret fields: its password and its TLS client key. */
function mapSinkSecrets(clickhouse: ClickHouseSink, fn: FieldFn): ClickHouseSink {
  const password = fn(clickhouse.password, 'sink.clickhouse.password');
  const { tls } = clickhouse;
  if (tls?.key === undefined) return { ...clickhouse, password };
  return { ...clickhouse, password, tls: { ...tls, key: fn(tls.key, 'sink.clickhouse.tls.key') } };
}

/**
 * The sink's certificates, which may be given as `${file:}` / `${env:}` references: public, so
 * stored and shown as given, and resolved where they are used.
 */
function mapSinkCertificates(clickhouse: ClickHouseSink, fn: FieldFn): ClickHouseSink {
  if (clickhouse.tls === undefined) return clickhouse;
  const tls = { ...clickhouse.tls };
  if (tls.ca !== undefined) tls.ca = fn(tls.ca, 'sink.clickhouse.tls.ca');
  if (tls.cert !== undefined) tls.cert = fn(tls.cert, 'sink.clickhouse.tls.cert');
  return { ...clickhouse, tls };
}

/** A copy with `fn` applied to every secret field present (absent fields stay absent). */
export function mapSecrets(definition: PipelineDefinition, fn: FieldFn): PipelineDefinition {
  const { kafka } = definition.source;
  const ssl =
    typeof kafka.ssl === 'object' && kafka.ssl.key !== undefined
      ? { ...kafka.ssl, key: fn(kafka.ssl.key, 'source.kafka.ssl.key') }
      : kafka.ssl;
  const sasl = kafka.sasl && mapSaslSecrets(kafka.sasl, fn);
  return {
    ...definition,
    source: { ...definition.source, kafka: { ...kafka, sasl, ssl } },
    sink: { ...definition.sink, clickhouse: mapSinkSecrets(definition.sink.clickhouse, fn) },
  };
}

/** The copy shown in API responses and logs. An empty password is shown as empty. */
export function redactDefinition(definition: PipelineDefinition): PipelineDefinition {
  return mapSecrets(definition, (value) => (value === '' ? '' : REDACTED));
}

const WAYS_OUT =
  'set SECRETS_KEY (64 hex characters) to store it encrypted, or give it as ${env:NAME} or ${file:/path}';

/**
 * The definition as stored: inline secrets sealed under SECRETS_KEY, references kept as they
 * are. Without SECRETS_KEY an inline secret is an error at its path (empty is not a secret).
 */
export function sealDefinitionSecrets(
  definition: PipelineDefinition,
  box: SecretBox,
): { definition: PipelineDefinition; errors: DefinitionError[] } {
  const errors: DefinitionError[] = [];
  const sealed = mapSecrets(definition, (value, path) => {
    if (value === '') return value;
    try {
      if (parseSecretRef(value)) return value;
    } catch (err) {
      errors.push({ path, message: (err as Error).message });
      return value;
    }
    if (isSealed(value)) {
      errors.push({
        path,
        message: 'must be the secret itself or a reference, not a sealed value',
      });
      return value;
    }
    if (!box.canSeal) {
      errors.push({ path, message: `inline secret refused: ${WAYS_OUT}` });
      return value;
    }
    return box.seal(value);
  });
  return { definition: sealed, errors };
}

/** A secret that cannot be resolved in this process, with its field path. */
export class SecretResolutionError extends Error {
  override readonly name = 'SecretResolutionError';

  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

function resolver(box: SecretBox, where: ResolveEnvironment | undefined): FieldFn {
  return (value, path) => {
    try {
      return resolveSecret(value, box, where);
    } catch (err) {
      if (err instanceof SecretError) throw new SecretResolutionError(path, err.message);
      throw err;
    }
  };
}

/**
 * The definition with every secret's value and every referenced certificate read, for the
 * process that connects with them. Throws SecretResolutionError.
 */
export function resolveDefinitionSecrets(
  definition: PipelineDefinition,
  box: SecretBox,
  where?: ResolveEnvironment,
): PipelineDefinition {
  const resolve = resolver(box, where);
  const resolved = mapSecrets(definition, resolve);
  const clickhouse = mapSinkCertificates(resolved.sink.clickhouse, resolve);
  const { kafka } = resolved.source;
  return {
    ...resolved,
    source: {
      ...resolved.source,
      kafka: { ...kafka, ssl: mapKafkaCertificates(kafka.ssl, resolve) },
    },
    sink: { ...resolved.sink, clickhouse },
  };
}

type KafkaSsl = PipelineDefinition['source']['kafka']['ssl'];

/** Kafka's CA and client certificate, public like the sink's: given inline or as references. */
function mapKafkaCertificates(ssl: KafkaSsl, fn: FieldFn): KafkaSsl {
  if (typeof ssl !== 'object') return ssl;
  const out = { ...ssl };
  if (ssl.ca !== undefined) out.ca = fn(ssl.ca, 'source.kafka.ssl.ca');
  if (ssl.cert !== undefined) out.cert = fn(ssl.cert, 'source.kafka.ssl.cert');
  return out;
}

/**
 * Only the sink's secrets and certificates, for a process that connects to the sink and nothing
 * else (the sink check when a pipeline is created). Throws SecretResolutionError.
 */
export function resolveSinkSecrets(
  clickhouse: ClickHouseSink,
  box: SecretBox,
  where?: ResolveEnvironment,
): ClickHouseSink {
  const resolve = resolver(box, where);
  return mapSinkCertificates(mapSinkSecrets(clickhouse, resolve), resolve);
}
