import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ClickHouseTls } from '@sluice/clickhouse';
import type { RedisTls } from '@sluice/redis';
import { dependenciesOf, type Dependency, type Role } from './roles';
import { envSchema, type ParsedEnv } from './env.schema';
import { type AllowedHosts, SecretBox, type UnparsedEntryVersion } from '@sluice/pipeline';
import type { ApiToken } from '../auth/tokens';

/**
 * Who may call /api/v1: `tokens` (API_TOKENS set: Bearer tokens with roles), `loopback` (no
 * API_TOKENS: only clients on this machine), `off` (API_AUTH=off: everyone, unsafe).
 */
export type ApiAuthMode = 'tokens' | 'loopback' | 'off';

export interface ApiAccessConfig {
  mode: ApiAuthMode;
  tokens: ApiToken[];
  /** SHA-256 of the token /metrics requires; undefined leaves /metrics open. */
  metricsDigest: Buffer | undefined;
  /** Origins allowed by CORS; empty leaves CORS off. */
  corsOrigins: string[];
  /** Requests a minute one client may make to each costly route; 0 = no limit. */
  rateLimitPerMinute: number;
}

/** The validated configuration every module receives through the `SluiceConfig` provider. */
export interface SluiceConfig {
  roles: Role[];
  dependencies: Dependency[];
  port: number;
  logLevel: ParsedEnv['LOG_LEVEL'];
  redisUrl: string;
  /** REDIS_TLS_*: file contents read at startup; undefined when none is set. */
  redisTls: RedisTls | undefined;
  kafkaBrokers: string[];
  /** CLICKHOUSE_*: the process's own ClickHouse (readiness); TLS files read at startup. */
  clickhouse: { url: string; username: string; password: string; tls: ClickHouseTls | undefined };
  kafkaClientId: string;
  /** KAFKA_SESSION_TIMEOUT_MS: see groupTiming (@sluice/kafka). */
  kafkaSessionTimeoutMs: number;
  shutdownTimeoutMs: number;
  healthTimeoutMs: number;
  pipelinesDir: string | undefined;
  /** PIPELINE_ALLOWED_HOSTS; undefined allows any host. */
  allowedHosts: AllowedHosts | undefined;
  /** SECRETS_KEY and SECRETS_KEY_PREVIOUS; seals nothing when SECRETS_KEY is unset. */
  secrets: SecretBox;
  leaseTtlMs: number;
  heartbeatIntervalMs: number;
  memberTimeoutMs: number;
  writerConcurrency: number;
  /** A batch failing to insert for longer is reported stuck (and still retried). */
  writerStuckAfterMs: number;
  /** The sink table is described again at least this often. */
  schemaRefreshMs: number;
  mailboxMaxEntries: number;
  /** REDIS_MIN_REPLICAS and how long one WAIT may take. */
  redisSync: { replicas: number; timeoutMs: number };
  redisAllowEviction: boolean;
  /** Per-actor bounds at which the partition stops taking entries (see README "Bounds"). */
  bounds: { outboxBatches: number; outboxBytes: number; dedupKeys: number; joinRecords: number };
  coalesce: { lingerMs: number; maxEvents: number };
  /** Consumer: MAX_MESSAGE_BYTES. */
  maxMessageBytes: number;
  fetchMaxWaitMs: number;
  mailboxEntryVersion: UnparsedEntryVersion;
  instanceId: string;
  otlpEndpoint: string | undefined;
  traceBatchMaxLinks: number;
  eventIndexRetentionMs: number;
  eventIndexMaxBytes: number;
  api: ApiAccessConfig;
  /** True when the server addresses came from the embedded local stack. */
  embeddedStack: boolean;
}

export const SLUICE_CONFIG = Symbol('SluiceConfig');

export interface ConfigProblem {
  key: string;
  message: string;
}

/** Thrown (before Nest starts) with every problem found, so one message names them all. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}): ` +
        problems.map((p) => `${p.key}: ${p.message}`).join('; '),
    );
    this.name = 'ConfigError';
  }
}

export const SERVER_KEYS = ['REDIS_URL', 'KAFKA_BROKERS', 'CLICKHOUSE_URL'] as const;

/** True when no server address is configured: the app then runs on the embedded local stack. */
export function wantsEmbeddedStack(env: NodeJS.ProcessEnv): boolean {
  return SERVER_KEYS.every((key) => !env[key]);
}

const REQUIRED_KEY: Record<Dependency, (typeof SERVER_KEYS)[number]> = {
  redis: 'REDIS_URL',
  kafka: 'KAFKA_BROKERS',
  clickhouse: 'CLICKHOUSE_URL',
};

/** Keys that were replaced: set, they fail the start with a pointer to what replaced them. */
const REMOVED_KEYS: Record<string, string> = {
  EVENT_INDEX_MAX_RECORDS:
    'removed: the find-my-event index cap is now in bytes per bucket and partition, set EVENT_INDEX_MAX_BYTES instead',
};

/**
 * Validates the environment and returns the configuration, or throws ConfigError listing every
 * bad key. Which server URLs are required depends on the roles: a writer-only process needs no
 * Kafka address. `embeddedStack` marks values filled in from the local stack's env file.
 */
export function loadConfig(env: NodeJS.ProcessEnv, embeddedStack = false): SluiceConfig {
  const parsed = envSchema.safeParse(env);
  const problems: ConfigProblem[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ key: issue.path.join('.') || '(env)', message: issue.message });
    }
  }
  for (const [key, message] of Object.entries(REMOVED_KEYS)) {
    if (env[key] !== undefined) problems.push({ key, message });
  }
  const roleProblem = problems.some((p) => p.key === 'ROLES');
  if (parsed.success || !roleProblem) {
    const roles = parsed.success ? parsed.data.ROLES : rolesOrDefault(env);
    for (const dep of dependenciesOf(roles)) {
      const key = REQUIRED_KEY[dep];
      if (!env[key] && !problems.some((p) => p.key === key)) {
        problems.push({ key, message: `required by roles ${roles.join(',')} (${dep})` });
      }
    }
  }
  const memberTimeout = parsed.success ? parsed.data.MEMBER_TIMEOUT_MS : undefined;
  if (
    parsed.success &&
    memberTimeout !== undefined &&
    memberTimeout < 2 * parsed.data.HEARTBEAT_INTERVAL_MS
  ) {
    // One late heartbeat must not declare a live process dead.
    problems.push({
      key: 'MEMBER_TIMEOUT_MS',
      message: 'must be at least twice HEARTBEAT_INTERVAL_MS',
    });
  }
  if (parsed.success && parsed.data.API_AUTH === 'off' && parsed.data.API_TOKENS !== undefined) {
    // Either would be a silent surprise: tokens that check nothing, or auth an operator thought off.
    problems.push({
      key: 'API_AUTH',
      message: 'off cannot be combined with API_TOKENS: unset one of them',
    });
  }
  const redisTls = parsed.success ? loadTls(parsed.data, problems, 'REDIS') : undefined;
  const clickhouseTls = parsed.success ? loadTls(parsed.data, problems, 'CLICKHOUSE') : undefined;
  if (!parsed.success || problems.length > 0) throw new ConfigError(sortProblems(problems));
  const data = parsed.data;
  return {
    roles: data.ROLES,
    dependencies: dependenciesOf(data.ROLES),
    port: data.PORT,
    logLevel: data.LOG_LEVEL,
    redisUrl: data.REDIS_URL ?? '',
    redisTls,
    kafkaBrokers: data.KAFKA_BROKERS ?? [],
    clickhouse: {
      url: data.CLICKHOUSE_URL ?? '',
      username: data.CLICKHOUSE_USERNAME,
      password: data.CLICKHOUSE_PASSWORD,
      tls: clickhouseTls,
    },
    kafkaClientId: data.KAFKA_CLIENT_ID,
    kafkaSessionTimeoutMs: data.KAFKA_SESSION_TIMEOUT_MS,
    shutdownTimeoutMs: data.SHUTDOWN_TIMEOUT_MS,
    healthTimeoutMs: data.HEALTH_TIMEOUT_MS,
    pipelinesDir: data.PIPELINES_DIR,
    allowedHosts: data.PIPELINE_ALLOWED_HOSTS,
    secrets: new SecretBox(data.SECRETS_KEY, data.SECRETS_KEY_PREVIOUS),
    leaseTtlMs: data.LEASE_TTL_MS,
    heartbeatIntervalMs: data.HEARTBEAT_INTERVAL_MS,
    memberTimeoutMs:
      data.MEMBER_TIMEOUT_MS ?? Math.max(data.LEASE_TTL_MS, 2 * data.HEARTBEAT_INTERVAL_MS),
    writerConcurrency: data.WRITER_CONCURRENCY,
    writerStuckAfterMs: data.WRITER_STUCK_AFTER_MS,
    schemaRefreshMs: data.SCHEMA_REFRESH_MS,
    mailboxMaxEntries: data.MAILBOX_MAX_ENTRIES,
    redisSync: { replicas: data.REDIS_MIN_REPLICAS, timeoutMs: data.REDIS_REPLICA_WAIT_MS },
    redisAllowEviction: data.REDIS_ALLOW_EVICTION,
    bounds: {
      outboxBatches: data.OUTBOX_MAX_BATCHES,
      outboxBytes: data.OUTBOX_MAX_BYTES,
      dedupKeys: data.DEDUP_MAX_KEYS,
      joinRecords: data.JOIN_MAX_RECORDS,
    },
    coalesce: { lingerMs: data.CONSUMER_LINGER_MS, maxEvents: data.CONSUMER_LINGER_MAX_EVENTS },
    maxMessageBytes: data.MAX_MESSAGE_BYTES,
    fetchMaxWaitMs: data.CONSUMER_FETCH_MAX_WAIT_MS,
    mailboxEntryVersion: data.MAILBOX_ENTRY_VERSION === 2 ? 2 : 3,
    instanceId: data.INSTANCE_ID ?? `${hostname()}-${process.pid}`,
    otlpEndpoint: data.OTEL_EXPORTER_OTLP_ENDPOINT,
    traceBatchMaxLinks: data.TRACE_BATCH_MAX_LINKS,
    eventIndexRetentionMs: data.EVENT_INDEX_RETENTION_MS,
    eventIndexMaxBytes: data.EVENT_INDEX_MAX_BYTES,
    api: {
      mode: data.API_TOKENS ? 'tokens' : data.API_AUTH === 'off' ? 'off' : 'loopback',
      tokens: data.API_TOKENS ?? [],
      metricsDigest: data.METRICS_TOKEN,
      corsOrigins: data.CORS_ORIGINS ?? [],
      rateLimitPerMinute: data.API_RATE_LIMIT,
    },
    embeddedStack,
  };
}

/** PEM contents read from the files that `<PREFIX>_TLS_CA`, `_CERT` and `_KEY` name. */
interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

const TLS_SERVERS = {
  REDIS: { urlKey: 'REDIS_URL', scheme: 'rediss://' },
  CLICKHOUSE: { urlKey: 'CLICKHOUSE_URL', scheme: 'https://' },
} as const;

/**
 * Reads the REDIS_TLS_* or CLICKHOUSE_TLS_* files; a file that cannot be read is a problem under
 * its key. Undefined when none of the variables is set.
 */
function loadTls(
  data: ParsedEnv,
  problems: ConfigProblem[],
  prefix: keyof typeof TLS_SERVERS,
): TlsFiles | undefined {
  const read = (key: `${typeof prefix}_TLS_${'CA' | 'CERT' | 'KEY'}`) => {
    const path = data[key];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      problems.push({
        key,
        message: `cannot read ${path} (${(err as { code?: string }).code ?? 'error'})`,
      });
      return undefined;
    }
  };
  const tls: TlsFiles = {
    ca: read(`${prefix}_TLS_CA`),
    cert: read(`${prefix}_TLS_CERT`),
    key: read(`${prefix}_TLS_KEY`),
    servername: data[`${prefix}_TLS_SERVERNAME`],
  };
  // Set means named, read or not: an unreadable file is reported above, and the URL still checked.
  const names = (['CA', 'CERT', 'KEY', 'SERVERNAME'] as const).map(
    (k) => data[`${prefix}_TLS_${k}`],
  );
  if (names.every((name) => name === undefined)) return undefined;
  const { urlKey, scheme } = TLS_SERVERS[prefix];
  const url = data[urlKey];
  if (url !== undefined && !url.startsWith(scheme)) {
    problems.push({
      key: urlKey,
      message: `must start with ${scheme} when ${prefix}_TLS_* is set`,
    });
  }
  if ((data[`${prefix}_TLS_CERT`] === undefined) !== (data[`${prefix}_TLS_KEY`] === undefined)) {
    problems.push({
      key: `${prefix}_TLS_KEY`,
      message: `${prefix}_TLS_CERT and ${prefix}_TLS_KEY go together`,
    });
  }
  return tls;
}

function rolesOrDefault(env: NodeJS.ProcessEnv): Role[] {
  const parsed = envSchema.shape.ROLES.safeParse(env.ROLES);
  return parsed.success ? parsed.data : [];
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => a.key.localeCompare(b.key));
}
