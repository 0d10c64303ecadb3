// The pipeline definition (issue 3 and 4), as zod schemas. Expressions are compiled while the
// definition is validated so their errors come back with their field path; compiled expressions
// are kept in a per-parse cache and picked up when the CompiledPipeline is built.
import { z } from 'zod';
import { formatDuration, tryParseDuration } from '../duration';
import { type CompiledExpression, type ExpressionScope, compileExpression } from '../expr';

export const LIMITS = {
  partitions: { min: 1, max: 1024, default: 16 },
  topics: { max: 64 },
  dedupWindowMs: 7 * 86_400_000,
  joinWindowMs: 60 * 60_000,
  joinLatenessMs: 60 * 60_000,
  joinIdleTimeoutMs: { min: 100, max: 60 * 60_000 },
  batchMaxRows: { min: 1, max: 1_000_000, default: 10_000 },
  batchMaxDelayMs: { min: 10, max: 60_000 },
  dlqMaxEntries: { min: 1, max: 10_000_000, default: 100_000 },
  /** Redis memory of one partition's dead-letter stream (MEMORY USAGE), 1 KiB to 64 GiB. */
  dlqMaxBytes: { min: 1_024, max: 64 * 2 ** 30, default: 256 * 2 ** 20 },
  maxFutureEventTimeMs: { min: 1_000, max: 7 * 86_400_000 },
} as const;

export const PIPELINE_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

export interface SchemaContext {
  /** Scope of filter and transform: `join` when the definition has a join. */
  readonly postJoinScope: ExpressionScope;
  readonly compiled: Map<string, CompiledExpression>;
}

export function cacheKey(source: string, scope: ExpressionScope, expect?: 'bool' | 'key'): string {
  return `${scope}\u0000${expect ?? ''}\u0000${source}`;
}

function expression(ctx: SchemaContext, scope: ExpressionScope, expect?: 'bool' | 'key') {
  return z.string().superRefine((source, issue) => {
    const key = cacheKey(source, scope, expect);
    if (ctx.compiled.has(key)) return;
    const result = compileExpression(source, { scope, expect });
    if (result.ok) ctx.compiled.set(key, result.expression);
    else issue.addIssue({ code: 'custom', message: `invalid expression: ${result.error.message}` });
  });
}

function duration(min: number, max: number) {
  return z.string().superRefine((text, issue) => {
    const parsed = tryParseDuration(text);
    if (!parsed.ok) issue.addIssue({ code: 'custom', message: parsed.message });
    else if (parsed.ms < min) {
      const floor = min === 1 ? 'greater than 0' : `at least ${formatDuration(min)}`;
      issue.addIssue({ code: 'custom', message: `must be ${floor}` });
    } else if (parsed.ms > max) {
      issue.addIssue({ code: 'custom', message: `must be at most ${formatDuration(max)}` });
    }
  });
}

function int(min: number, max: number) {
  return z
    .number()
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
}

const nonEmpty = () => z.string().min(1, 'must not be empty');

const topicName = () =>
  z
    .string()
    .regex(
      TOPIC_RE,
      'must be a Kafka topic name: 1-249 characters of A-Z, a-z, 0-9, ".", "_", "-"',
    );

const broker = z.string().superRefine((value, issue) => {
  const port = Number(BROKER_RE.exec(value)?.[2] ?? 0);
  if (port < 1 || port > 65535) issue.addIssue({ code: 'custom', message: 'must be host:port' });
});

/** `credentials` names the fields that take what a URL must not carry. */
const httpUrl = (credentials: string) =>
  z.string().superRefine((value, issue) => {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      // reported below
    }
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      issue.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    } else if (url.username !== '' || url.password !== '') {
      // A URL is shown in responses, errors and logs; credentials have their own (secret) fields.
      issue.addIssue({
        code: 'custom',
        message: `must not carry credentials (user:password@): use ${credentials}`,
      });
    }
  });

// SASL mechanisms as stored (upper case); kafkajs spells them in lower case.
export const SASL_MECHANISMS = [
  'PLAIN',
  'SCRAM-SHA-256',
  'SCRAM-SHA-512',
  'OAUTHBEARER',
  'AWS-MSK-IAM',
] as const;

const passwordSasl = (mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512') =>
  z.strictObject({ mechanism: z.literal(mechanism), username: nonEmpty(), password: z.string() });

// A definition is JSON, so the token comes from a declarative source: a fixed token (a secret),
// or an OAuth 2 client-credentials grant at `tokenEndpoint` (README "Kafka authentication").
const oauthBearerSasl = z
  .strictObject({
    mechanism: z.literal('OAUTHBEARER'),
    token: nonEmpty().optional(),
    tokenEndpoint: httpUrl('clientId and clientSecret').optional(),
    clientId: nonEmpty().optional(),
    clientSecret: nonEmpty().optional(),
    // How the client authenticates to the token endpoint (RFC 6749 2.3.1): HTTP Basic, or the
    // credentials in the form body for a server that accepts only that.
    clientAuth: z.enum(['basic', 'post']).optional(),
    scope: nonEmpty().optional(),
  })
  .superRefine((sasl, issue) => {
    const need = (path: string, message: string) =>
      issue.addIssue({ code: 'custom', path: [path], message });
    if (sasl.token !== undefined) {
      for (const field of ['tokenEndpoint', 'clientId', 'clientSecret', 'clientAuth', 'scope']) {
        if (sasl[field as keyof typeof sasl] !== undefined) {
          need(field, 'not with token: give either token or tokenEndpoint');
        }
      }
    } else if (sasl.tokenEndpoint === undefined) {
      need(
        'tokenEndpoint',
        'required: give token, or tokenEndpoint with clientId and clientSecret',
      );
    } else {
      if (sasl.clientId === undefined) need('clientId', 'required with tokenEndpoint');
      if (sasl.clientSecret === undefined) need('clientSecret', 'required with tokenEndpoint');
    }
  });

// AWS MSK IAM: the token is signed for `region` with the default AWS credentials chain of the
// process (environment, profile, container or instance role), or with `roleArn` assumed first.
const mskIamSasl = z.strictObject({
  mechanism: z.literal('AWS-MSK-IAM'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region, e.g. eu-west-1'),
  roleArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/, 'must be an IAM role ARN')
    .optional(),
});

const sasl = z.preprocess(
  // Accept any case and store one spelling.
  (value) =>
    typeof value === 'object' && value !== null && 'mechanism' in value
      ? {
          ...value,
          mechanism:
            typeof value.mechanism === 'string' ? value.mechanism.toUpperCase() : value.mechanism,
        }
      : value,
  z.discriminatedUnion(
    'mechanism',
    [
      passwordSasl('PLAIN'),
      passwordSasl('SCRAM-SHA-256'),
      passwordSasl('SCRAM-SHA-512'),
      oauthBearerSasl,
      mskIamSasl,
    ],
    { error: `expected one of ${SASL_MECHANISMS.map((m) => JSON.stringify(m)).join(', ')}` },
  ),
);

const tls = z.strictObject({
  ca: nonEmpty().optional(),
  cert: nonEmpty().optional(),
  key: nonEmpty().optional(),
  rejectUnauthorized: z.boolean().default(true),
});

// A PEM given inline, or a `${file:/path}` / `${env:NAME}` reference read where it is used.
// The secret-box module reads references; this only tells their shape from a PEM's.
const PEM_RE = /-----BEGIN [A-Z0-9 ]+-----/;
const REFERENCE_RE = /^\$\{(env|file):.*\}$/;

function pem(what: string) {
  return z.string().refine((value) => PEM_RE.test(value) || REFERENCE_RE.test(value), {
    message: `must be a PEM ${what} (-----BEGIN ...) or a \${file:/path} or \${env:NAME} reference`,
  });
}

// TLS to an https:// sink. The key is a secret (secrets.ts): sealed, or a reference; its
// format is checked where it is used, so no message here ever quotes it.
const sinkTls = z
  .strictObject({
    ca: pem('certificate').optional(),
    cert: pem('certificate').optional(),
    key: nonEmpty().optional(),
    servername: nonEmpty().optional(),
  })
  .superRefine((tls, issue) => {
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      const missing = tls.cert === undefined ? 'cert' : 'key';
      issue.addIssue({
        code: 'custom',
        path: [missing],
        message: 'a client certificate needs both cert and key',
      });
    }
  });

export function definitionSchema(ctx: SchemaContext) {
  const dedupSpec = z.strictObject({
    key: expression(ctx, 'event', 'key'),
    window: duration(1, LIMITS.dedupWindowMs),
  });
  const joinSide = z.strictObject({ topic: topicName(), key: expression(ctx, 'event', 'key') });

  return z.strictObject({
    id: z
      .string()
      .regex(
        PIPELINE_ID_RE,
        'must be 1-63 characters of a-z, 0-9, "_" and "-", starting with a letter or digit',
      ),
    source: z.strictObject({
      kafka: z
        .strictObject({
          brokers: z.array(broker).min(1, 'must list at least one broker'),
          sasl: sasl.nullable().default(null),
          ssl: z.union([z.boolean(), tls]).default(false),
        })
        .superRefine((kafka, issue) => {
          // MSK serves IAM authentication on its TLS listener only.
          if (kafka.sasl?.mechanism === 'AWS-MSK-IAM' && kafka.ssl === false) {
            issue.addIssue({
              code: 'custom',
              path: ['ssl'],
              message: 'AWS-MSK-IAM needs TLS: set ssl to true (or to { ca, ... })',
            });
          }
        }),
      topics: z
        .array(
          z.strictObject({
            name: topicName(),
            format: z.enum(['json']).default('json'),
            startFrom: z.enum(['earliest', 'latest']).default('earliest'),
            eventTime: expression(ctx, 'event').optional(),
          }),
        )
        .min(1, 'must list at least one topic')
        .max(LIMITS.topics.max, `must list at most ${LIMITS.topics.max} topics`),
      // An event time further ahead of the clock than this is dead-lettered where dedup or a
      // join reads it, so it never moves dedup expiry or a join watermark (README, Input rules).
      maxFutureEventTime: duration(
        LIMITS.maxFutureEventTimeMs.min,
        LIMITS.maxFutureEventTimeMs.max,
      ).default('1h'),
    }),
    partitions: int(LIMITS.partitions.min, LIMITS.partitions.max).default(
      LIMITS.partitions.default,
    ),
    filter: expression(ctx, ctx.postJoinScope, 'bool').optional(),
    // One spec for every source, or one per source topic: `{ "orders": { key, window } }`.
    dedup: z.union([dedupSpec, z.record(topicName(), dedupSpec)]).optional(),
    join: z
      .strictObject({
        type: z.enum(['inner', 'left']).default('inner'),
        window: duration(1, LIMITS.joinWindowMs),
        lateness: duration(0, LIMITS.joinLatenessMs).default('0s'),
        // How long a caught-up source partition may go without progress before it stops holding
        // the watermark back (docs/architecture.md, "Join watermark").
        idleTimeout: duration(LIMITS.joinIdleTimeoutMs.min, LIMITS.joinIdleTimeoutMs.max).default(
          '10s',
        ),
        left: joinSide,
        right: joinSide,
      })
      .optional(),
    transform: z
      .strictObject({ columns: z.record(nonEmpty(), expression(ctx, ctx.postJoinScope)) })
      .optional(),
    sink: z.strictObject({
      clickhouse: z
        .strictObject({
          url: httpUrl('username and password'),
          database: nonEmpty().default('default'),
          table: nonEmpty(),
          username: nonEmpty().default('default'),
          password: z.string().default(''),
          tls: sinkTls.optional(),
          batch: z
            .strictObject({
              maxRows: int(LIMITS.batchMaxRows.min, LIMITS.batchMaxRows.max).default(
                LIMITS.batchMaxRows.default,
              ),
              maxDelay: duration(LIMITS.batchMaxDelayMs.min, LIMITS.batchMaxDelayMs.max).default(
                '1s',
              ),
            })
            .prefault({}),
        })
        .superRefine((clickhouse, issue) => {
          if (clickhouse.tls !== undefined && !clickhouse.url.toLowerCase().startsWith('https:')) {
            issue.addIssue({ code: 'custom', path: ['tls'], message: 'needs an https:// url' });
          }
        }),
    }),
    dlq: z
      .strictObject({
        maxEntries: int(LIMITS.dlqMaxEntries.min, LIMITS.dlqMaxEntries.max).default(
          LIMITS.dlqMaxEntries.default,
        ),
        maxBytes: int(LIMITS.dlqMaxBytes.min, LIMITS.dlqMaxBytes.max).default(
          LIMITS.dlqMaxBytes.default,
        ),
      })
      .prefault({}),
  });
}

/** The definition as stored: normalized, defaults filled in, JSON-serializable, re-parseable. */
export type PipelineDefinition = z.output<ReturnType<typeof definitionSchema>>;
export type DedupSpec = { key: string; window: string };
