// The one mapping of a definition's `source.kafka` (brokers, ssl, sasl) to kafkajs options, used
// by every client a pipeline opens: its consumer group, consumer lag, the readiness probe.
import { createHash } from 'node:crypto';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import type { PipelineDefinition } from '@sluice/pipeline';
import { fetchClientCredentialsToken } from './oauth-token';
import { mskIamToken } from './msk-iam';
import { TokenCache } from './token-cache';

export type KafkaSource = PipelineDefinition['source']['kafka'];
type Sasl = NonNullable<KafkaSource['sasl']>;
type TokenSasl = Extract<Sasl, { mechanism: 'OAUTHBEARER' | 'AWS-MSK-IAM' }>;

export interface KafkaConnection {
  brokers: string[];
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
}

/**
 * The brokers and security of a pipeline's source (secrets already resolved), the process's
 * brokers as fallback for a source that lists none.
 */
export function kafkaConnectionOf(
  kafka: KafkaSource,
  fallbackBrokers: readonly string[] = [],
): KafkaConnection {
  const { brokers, ssl, sasl } = kafka;
  const connection: KafkaConnection = {
    brokers: brokers.length > 0 ? [...brokers] : [...fallbackBrokers],
  };
  if (ssl === true) connection.ssl = true;
  else if (ssl !== false) {
    connection.ssl = {
      ca: ssl.ca,
      cert: ssl.cert,
      key: ssl.key,
      rejectUnauthorized: ssl.rejectUnauthorized,
    };
  }
  if (sasl) connection.sasl = saslOptionsOf(sasl);
  return connection;
}

function saslOptionsOf(sasl: Sasl): SASLOptions {
  switch (sasl.mechanism) {
    case 'PLAIN':
      return { mechanism: 'plain', username: sasl.username, password: sasl.password };
    case 'SCRAM-SHA-256':
      return { mechanism: 'scram-sha-256', username: sasl.username, password: sasl.password };
    case 'SCRAM-SHA-512':
      return { mechanism: 'scram-sha-512', username: sasl.username, password: sasl.password };
    case 'OAUTHBEARER':
    case 'AWS-MSK-IAM': {
      // MSK IAM is OAUTHBEARER with a token AWS's signer computes (no network for the token).
      const tokens = tokenCacheFor(sasl);
      return {
        mechanism: 'oauthbearer',
        oauthBearerProvider: async () => ({ value: await tokens.token() }),
      };
    }
  }
}

/**
 * One cache per token source, shared by every client of the process that authenticates the same
 * way (a pipeline's consumer and admin, the probe), so connections reuse a token until it is due.
 * Bounded: a definition changed many times leaves its old sources to be dropped oldest first.
 */
const MAX_TOKEN_SOURCES = 256;
const tokenCaches = new Map<string, TokenCache>();

function tokenCacheFor(sasl: TokenSasl): TokenCache {
  const key = JSON.stringify(sasl);
  let cache = tokenCaches.get(key);
  if (!cache) {
    cache = new TokenCache(issuerOf(sasl));
    if (tokenCaches.size >= MAX_TOKEN_SOURCES) {
      const oldest = tokenCaches.keys().next().value;
      if (oldest !== undefined) tokenCaches.delete(oldest);
    }
    tokenCaches.set(key, cache);
  }
  return cache;
}

function issuerOf(sasl: TokenSasl) {
  if (sasl.mechanism === 'AWS-MSK-IAM') {
    return () => mskIamToken({ region: sasl.region, roleArn: sasl.roleArn });
  }
  const { token, tokenEndpoint, clientId, clientSecret, clientAuth, scope } = sasl;
  // The schema guarantees one of the two forms.
  if (token !== undefined) return () => Promise.resolve({ value: token });
  return () =>
    fetchClientCredentialsToken({
      tokenEndpoint: tokenEndpoint ?? '',
      clientId: clientId ?? '',
      clientSecret: clientSecret ?? '',
      clientAuth,
      scope,
    });
}

/**
 * Identifies a broker set and its security, whatever the order of the brokers: two pipelines
 * with the same key reach the same cluster the same way. A hash, so secrets are not kept in it.
 */
export function connectionKey(kafka: KafkaSource, fallbackBrokers: readonly string[] = []): string {
  const brokers = kafka.brokers.length > 0 ? kafka.brokers : fallbackBrokers;
  const identity = JSON.stringify([[...brokers].sort(), kafka.ssl, kafka.sasl]);
  return createHash('sha256').update(identity).digest('hex');
}
