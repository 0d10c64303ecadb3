import { z } from 'zod';
import { definitionSchema } from '@sluice/pipeline/definition/schema';
import { dlqSelectorSchema } from './dlq-selection';
import { previewBodySchema } from './event-preview';
import { rewindBodySchema } from './rewind/rewind-body';

// The API's bodies as zod schemas, turned into the OpenAPI document's JSON Schemas (zod 4's
// z.toJSONSchema). The definition is the very schema POST /pipelines validates with.

type JsonSchema = Record<string, unknown>;

const toOpenApi = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' });

/** The definition schema with no expression cache: only its shape is wanted here. */
const definition = () => definitionSchema({ postJoinScope: 'join', compiled: new Map() });

/** What POST /pipelines accepts (JSON, or the same as YAML). */
export const definitionInput = (): JsonSchema => toOpenApi(definition(), 'input');

/** What POST /pipelines/:id/dlq/replay and /dlq/discard accept: the same selectors. */
export const dlqSelectorInput = (): JsonSchema => toOpenApi(dlqSelectorSchema, 'input');

/** What POST /pipelines/:id/preview accepts. */
export const previewInput = (): JsonSchema => toOpenApi(previewBodySchema, 'input');

/** What POST /pipelines/:id/rewind accepts. */
export const rewindInput = (): JsonSchema => toOpenApi(rewindBodySchema, 'input');

const status = z.enum(['running', 'stopped']);
const counters = z.record(z.string(), z.number()).meta({
  description:
    'consumed, filtered, duplicates, written, deadLettered (+ joined, unmatchedLeft, expiredRight, late for joins)',
});
const sourceGap = z.object({
  id: z.string(),
  topic: z.string(),
  partition: z.number().int(),
  expected: z.number().int().nullable(),
  resumedAt: z.number().int().nullable(),
  skipped: z.number().int().nullable(),
  resets: z.number().int(),
  at: z.string(),
});
const holds = z.array(z.looseObject({ reason: z.string(), since: z.unknown() })).meta({
  description: 'why partitions are held (README "Held partitions")',
});
const sourceGaps = z.looseObject({
  resets: z.number().int(),
  skippedOffsets: z.number().int(),
  recent: z.array(sourceGap),
});

const responses = {
  created: z.object({ id: z.string(), status, definition: definition() }),
  dryRun: z.object({ id: z.string(), dryRun: z.literal(true), definition: definition() }),
  edited: z.object({
    id: z.string(),
    status: status.optional().meta({ description: 'absent in a dry run' }),
    dryRun: z.literal(true).optional(),
    version: z.number().int().meta({ description: 'the definition version (also the ETag)' }),
    changed: z.boolean().meta({ description: 'false: the stored definition already was this' }),
    definition: definition(),
  }),
  preview: z.discriminatedUnion('outcome', [
    z.object({
      outcome: z.literal('written'),
      pipelinePartition: z.number().int(),
      row: z.record(z.string(), z.unknown()).meta({ description: 'the row as sent to ClickHouse' }),
    }),
    z.object({ outcome: z.literal('filtered'), pipelinePartition: z.number().int() }),
    z.object({
      outcome: z.literal('dead-lettered'),
      pipelinePartition: z.number().int(),
      stage: z.string(),
      error: z.string(),
    }),
  ]),
  summaries: z.array(
    z.object({
      id: z.string(),
      status,
      counters,
      holds: z.object({ count: z.number().int(), reasons: z.unknown() }),
    }),
  ),
  pipeline: z.looseObject({
    id: z.string(),
    status,
    version: z
      .number()
      .int()
      .meta({ description: 'the definition version; the ETag is "<version>"' }),
    partitionVersions: z.array(z.number().int().nullable()).meta({
      description:
        'per pipeline partition, the definition version of its last checkpoint (null: none recorded yet)',
    }),
    definition: definition(),
    counters,
    lag: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'null when Kafka does not answer in 3 s' }),
    otherCounters: z.record(z.string(), z.number()),
    sourceGaps,
    holds,
  }),
  status: z.object({ id: z.string(), status }),
  deadLetters: z.array(
    z.object({
      id: z.string(),
      pipelinePartition: z.number().int(),
      stage: z.string(),
      error: z.string(),
      topic: z.string(),
      partition: z.number().int().nullable(),
      offset: z.number().int().nullable(),
      message: z.string(),
      messageEncoding: z.literal('base64').optional().meta({
        description: 'present when the message is not UTF-8: message is its bytes in base64',
      }),
      at: z.string(),
    }),
  ),
  sourceGaps,
  discarded: z.object({ discarded: z.number().int() }),
  rewound: z.object({
    id: z.string(),
    to: z.string(),
    status,
    partitions: z.array(
      z.object({
        topic: z.string(),
        partition: z.number().int(),
        timeOffset: z.number().int(),
        offset: z.number().int(),
        found: z.enum(['broker', 'search']),
      }),
    ),
    forgotten: z.number().int(),
  }),
  replayed: z.object({ replayed: z.number().int() }),
  acceptedGap: z.looseObject({
    id: z.string(),
    partition: z.number().int(),
    range: z.looseObject({ topic: z.string(), partition: z.number().int() }),
  }),
  event: z.looseObject({
    pipeline: z.string(),
    key: z.string(),
    events: z.array(z.looseObject({})),
  }),
  cluster: z.looseObject({ pipelines: z.array(z.looseObject({ id: z.string() })) }),
  process: z.looseObject({ instanceId: z.string(), pid: z.number().int(), roles: z.unknown() }),
  health: z.looseObject({ status: z.string() }),
};

/** The JSON Schema of a named response body (an answer's definition with secrets as ***). */
export function responseSchema(name: keyof typeof responses): JsonSchema {
  return toOpenApi(responses[name], 'output');
}
