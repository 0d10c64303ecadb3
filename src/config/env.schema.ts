import { z } from 'zod';
import { DEFAULT_SESSION_TIMEOUT_MS } from '@sluice/kafka/group-timing';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES_LIMIT,
} from '@sluice/pipeline/mailbox/input-rules';
import { parseAllowedHosts } from '@sluice/pipeline/security/allowed-hosts';
import { SECRETS_KEY_RE } from '@sluice/pipeline/security/secret-box';
import { SAMPLER_NAMES } from '@sluice/telemetry/sampling';
import { ALL_ROLES, isRole, type Role } from './roles';
import { parseApiTokens, parseDigest } from '../auth/tokens';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);

const urlWithProtocols = (protocols: readonly string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );

/** An origin as browsers send it: scheme, host and optional port, nothing after. */
function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === text;
  } catch {
    return false;
  }
}

const hostPort = /^[A-Za-z0-9._-]+:\d{1,5}$/;

const intFromString = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, {
      message: `must be a whole number from ${min} to ${max}`,
    });

/**
 * The process environment Sluice reads. Every key is validated before Nest starts, so a bad
 * deployment fails at once with one message naming every bad key instead of failing later.
 */
export const envSchema = z.object({
  ROLES: z
    .string()
    .default(ALL_ROLES.join(','))
    .transform(commaList)
    .superRefine((roles, ctx) => {
      const unknown = roles.filter((role) => !isRole(role));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown role(s) ${unknown.map((r) => `"${r}"`).join(', ')}; valid roles: ${ALL_ROLES.join(', ')}`,
        });
      }
      if (roles.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `must name at least one of ${ALL_ROLES.join(', ')}`,
        });
      }
    })
    .transform((roles) => [...new Set(roles)] as Role[]),
  PORT: intFromString(0, 65535).default(3000),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  REDIS_URL: urlWithProtocols(['redis:', 'rediss:']).optional(),
  KAFKA_BROKERS: z
    .string()
    .transform(commaList)
    .refine((list) => list.length > 0 && list.every((b) => hostPort.test(b)), {
      message: 'must be a comma-separated list of host:port',
    })
    .optional(),
  CLICKHOUSE_URL: urlWithProtocols(['http:', 'https:']).optional(),
  CLICKHOUSE_USERNAME: z.string().default('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  KAFKA_CLIENT_ID: z.string().min(1).default('sluice'),
  /**
   * Consumer group session timeout of the pipelines' consumers and of a rewind's or reset's group
   * member; the heartbeat interval is 3/10 of it (@sluice/kafka group-timing.ts). A member that
   * dies, or on the librdkafka mock any member that leaves, holds its partitions this long, and
   * the mock delays each rebalance by about as much. A real broker refuses values outside its
   * group.min/max.session.timeout.ms (6 s to 30 min by default).
   */
  KAFKA_SESSION_TIMEOUT_MS: intFromString(3_000, 1_800_000).default(DEFAULT_SESSION_TIMEOUT_MS),
  /** Grace period for in-flight work after SIGTERM before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: intFromString(100, 600_000).default(15_000),
  /** How long one readiness probe of a dependency may take before it counts as down. */
  HEALTH_TIMEOUT_MS: intFromString(100, 60_000).default(2_000),
  /** Owner: how long an actor's lease lives without renewal; a crashed owner's actors move after it. */
  LEASE_TTL_MS: intFromString(1_000, 600_000).default(10_000),
  /** Cluster: how often a process heartbeats (and the coordinator re-checks placement at most this slowly). */
  HEARTBEAT_INTERVAL_MS: intFromString(100, 60_000).default(1_000),
  /**
   * Cluster: a process silent for longer counts as dead and its actors are placed elsewhere; also
   * the coordinator lock's TTL. Default: LEASE_TTL_MS (at least twice HEARTBEAT_INTERVAL_MS), so a
   * crashed owner is noticed about when its leases expire.
   */
  MEMBER_TIMEOUT_MS: intFromString(500, 600_000).optional(),
  /**
   * Writer: batches inserted at the same time by one process. As many as a pipeline's default
   * partitions: each partition's actor announces one batch per maxDelay, and a smaller pool
   * made them queue behind each other's inserts (most of the end-to-end latency at 36k ev/s).
   */
  WRITER_CONCURRENCY: intFromString(1, 256).default(16),
  /**
   * Writer: a batch that has failed to insert for this long is reported stuck (a 'stuck' hold on
   * its partition, `sluice_insert_stuck_total`); it is still retried, never dead-lettered.
   */
  WRITER_STUCK_AFTER_MS: intFromString(1_000, 86_400_000).default(180_000),
  /**
   * Owner and writer: the sink table is described (and its exactly-once check run) again at
   * least this often, so added, dropped and retyped columns and a lost dedup window are seen.
   */
  SCHEMA_REFRESH_MS: intFromString(100, 3_600_000).default(60_000),
  /** Consumer: a Kafka partition pauses while a mailbox it feeds holds more entries than this. */
  MAILBOX_MAX_ENTRIES: intFromString(10, 1_000_000).default(1_000),
  /** Consumer: a source partition's Kafka batches are buffered up to this long, then appended as
   * one entry per mailbox (fewer, larger entries); 0 appends every batch on its own. */
  CONSUMER_LINGER_MS: intFromString(0, 10_000).default(200),
  /** Consumer: ...or until this many events of the partition are buffered (bounds memory). */
  CONSUMER_LINGER_MAX_EVENTS: intFromString(1, 1_000_000).default(4_000),
  /** Consumer: a larger Kafka message is dead-lettered unread (README "Input rules"). */
  MAX_MESSAGE_BYTES: intFromString(1024, MAX_MESSAGE_BYTES_LIMIT).default(
    DEFAULT_MAX_MESSAGE_BYTES,
  ),
  /**
   * Consumer: longest fetch long-poll when a broker has no new data (kafkajs maxWaitTimeInMs). A
   * real broker answers as soon as data arrives, whatever this is; librdkafka's mock (the local
   * stack) always waits all of it when a fetch finds nothing, so 1 s stalled partitions for a
   * second (Kafka -> consumer p50 575 ms at 12k ev/s, 99 ms with 100).
   */
  CONSUMER_FETCH_MAX_WAIT_MS: intFromString(10, 10_000).default(100),
  /**
   * Consumer: the mailbox entry version written for messages it did not parse. 2 only while
   * upgrading from owners that cannot read 3 (docs/architecture.md, "Mailbox entry format").
   */
  MAILBOX_ENTRY_VERSION: z.enum(['2', '3']).default('3').transform(Number),
  /**
   * Replicas that must acknowledge a write before anything outside Redis depends on it: mailbox
   * appends before Kafka offsets are committed, checkpoints before their batch is announced
   * (`WAIT`, or `WAITAOF` on Redis 7.2+). 0: no waiting (a failover may then lose acknowledged
   * writes; see the README's production Redis guidance).
   */
  REDIS_MIN_REPLICAS: intFromString(0, 16).default(0),
  /** How long one WAIT may take before it counts as failed (retried; nothing committed meanwhile). */
  REDIS_REPLICA_WAIT_MS: intFromString(10, 60_000).default(1_000),
  /**
   * Start even though Redis may evict keys (`maxmemory-policy` other than `noeviction`). Unsafe:
   * an evicted outbox batch, dedup bucket or lease loses or duplicates data without a word.
   */
  REDIS_ALLOW_EVICTION: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /**
   * Owner: an actor stops taking entries while its outbox (batches committed, not yet inserted)
   * holds this many batches or bytes, so a ClickHouse outage pauses consumption instead of moving
   * the Kafka backlog into Redis. Per pipeline partition.
   */
  OUTBOX_MAX_BATCHES: intFromString(1, 1_000_000).default(200),
  OUTBOX_MAX_BYTES: intFromString(1024, 64 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
  /** Owner: most live dedup keys per pipeline partition; at the bound the partition is held. */
  DEDUP_MAX_KEYS: intFromString(1, 2_000_000_000).default(10_000_000),
  /** Owner: most buffered join records per pipeline partition; at the bound it is held. */
  JOIN_MAX_RECORDS: intFromString(1, 2_000_000_000).default(5_000_000),
  /**
   * Admin API tokens: comma-separated `name:role:sha256hex` (role read, operate or admin; the hex
   * SHA-256 of the token, so no token sits in configuration in the clear). Unset: /api/v1 serves
   * loopback clients only.
   */
  API_TOKENS: z
    .string()
    .superRefine((text, ctx) => {
      for (const message of parseApiTokens(text).problems)
        ctx.addIssue({ code: 'custom', message });
    })
    .transform((text) => parseApiTokens(text).tokens)
    .optional(),
  /** `off` opens /api/v1 to every client with no token (unsafe; for a trusted network only). */
  API_AUTH: z.enum(['on', 'off']).default('on'),
  /** The hex SHA-256 of the token /metrics then requires (Bearer); unset, /metrics is open. */
  METRICS_TOKEN: z
    .string()
    .refine((text) => parseDigest(text) !== undefined, {
      message: 'must be the SHA-256 of the token in 64 hex characters (sha256sum), not the token',
    })
    .transform((text) => parseDigest(text)!)
    .optional(),
  /** Browser origins allowed to call the API (CORS); unset, CORS stays off. */
  CORS_ORIGINS: z
    .string()
    .transform(commaList)
    .refine((list) => list.every((origin) => origin === '*' || isOrigin(origin)), {
      message: 'must be comma-separated origins such as https://ops.example.com',
    })
    .optional(),
  /**
   * Requests a minute one client address may make to each costly route (creating a pipeline, DLQ
   * reads, event lookups); past it 429. 0 turns the limit off.
   */
  API_RATE_LIMIT: intFromString(0, 1_000_000).default(120),
  /**
   * Hosts a pipeline definition may name (brokers, sink URL): exact names, `*.suffix`, IPs and
   * CIDRs. Unset: any host (README "Security").
   */
  PIPELINE_ALLOWED_HOSTS: z
    .string()
    .transform((text, ctx) => {
      const parsed = parseAllowedHosts(text);
      if (parsed.ok) return parsed.allowed;
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    })
    .optional(),
  /** TLS to Redis (with a `rediss://` REDIS_URL): PEM files of a private CA, a client certificate
   * and its key (mutual TLS), and the server name to verify when it differs from the URL's host. */
  REDIS_TLS_CA: z.string().min(1).optional(),
  REDIS_TLS_CERT: z.string().min(1).optional(),
  REDIS_TLS_KEY: z.string().min(1).optional(),
  REDIS_TLS_SERVERNAME: z.string().min(1).optional(),
  /** The same for the process's own ClickHouse (CLICKHOUSE_URL, `https://`); pipelines set
   * their sink's TLS in their definition (`sink.clickhouse.tls`). */
  CLICKHOUSE_TLS_CA: z.string().min(1).optional(),
  CLICKHOUSE_TLS_CERT: z.string().min(1).optional(),
  CLICKHOUSE_TLS_KEY: z.string().min(1).optional(),
  CLICKHOUSE_TLS_SERVERNAME: z.string().min(1).optional(),
  /** AES-256-GCM key (64 hex characters) sealing the secrets of stored definitions. */
  SECRETS_KEY: z
    .string()
    .regex(SECRETS_KEY_RE, { message: 'must be 64 hex characters' })
    .optional(),
  /** The key before a rotation: still opens what it sealed (README "Security"). */
  SECRETS_KEY_PREVIOUS: z
    .string()
    .regex(SECRETS_KEY_RE, { message: 'must be 64 hex characters' })
    .optional(),
  /** Pipelines (JSON or YAML files) applied at startup. */
  PIPELINES_DIR: z.string().min(1).optional(),
  /** Where the embedded local stack keeps its state; see libs/stack. */
  SLUICE_STACK_DIR: z.string().min(1).optional(),
  /** Identity of this process in the cluster; defaults to host name and PID. */
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'must be 1-128 of A-Z a-z 0-9 . _ : -' })
    .optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: urlWithProtocols(['http:', 'https:']).optional(),
  /** OTLP transport of the trace exporter (the SDK reads it; checked here). */
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json', 'grpc']).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** Per-event sampling (batch, checkpoint and insert spans are always kept). */
  OTEL_TRACES_SAMPLER: z.enum(SAMPLER_NAMES).optional(),
  OTEL_TRACES_SAMPLER_ARG: z
    .string()
    .refine((v) => v.trim() === '' || (Number(v) >= 0 && Number(v) <= 1), {
      message: 'must be a number from 0 to 1',
    })
    .optional(),
  /** Most links from a batch span to the sampled events it carries. */
  TRACE_BATCH_MAX_LINKS: intFromString(0, 10_000).default(128),
  /** How long "find my event" remembers an event's outcome; 0 turns the index off. */
  EVENT_INDEX_RETENTION_MS: intFromString(0, 7 * 24 * 3_600_000).default(900_000),
  /** Most bytes of find-my-event log per actor and 15-min bucket (about 8 per plain outcome);
   * past it a checkpoint's outcomes are not indexed. */
  EVENT_INDEX_MAX_BYTES: intFromString(1024, 512 * 1024 * 1024).default(4 * 1024 * 1024),
});

export type ParsedEnv = z.infer<typeof envSchema>;

/** Keys the schema knows; deploy manifests are checked against this list. */
export const ENV_KEYS = Object.keys(envSchema.shape) as (keyof ParsedEnv)[];
