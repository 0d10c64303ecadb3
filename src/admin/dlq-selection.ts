import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys } from '@sluice/redis';

/**
 * Which dead letters `POST /pipelines/:id/dlq/replay` and `/dlq/discard` act on, and the one
 * place both find them.
 *
 * Selectors: all (`{}`), the listed ids, or those of a stage and/or dead-lettered in a time range
 * (the stream id's time, `since` and `until` inclusive). An id is the `id` GET /dlq shows,
 * optionally prefixed with its `pipelinePartition` and a slash (`3/1712-0`); without the prefix
 * it is looked for in every partition.
 *
 * `{}` and filters take only the dead letters present when the request started: the newest id of
 * every partition is read in one MULTI first, and each partition's selection ends there. A
 * replayed entry that fails again comes back with a newer id, so a replay always ends, and
 * neither route touches a dead letter that arrived after the request started (a pipeline
 * dead-lettering fast cannot keep a request going). Ids name their entries, so need no bound.
 */
export type DlqSelector =
  | { kind: 'all' }
  | { kind: 'ids'; ids: { partition: number | undefined; id: string }[] }
  | ({ kind: 'filter' } & DlqFilter);
/** Times are epoch ms, inclusive. */
export interface DlqFilter {
  stage?: string;
  sinceMs?: number;
  untilMs?: number;
}

const ID_RE = /^(?:(\d{1,4})\/)?(\d{1,20}-\d{1,20})$/;
const isoTime = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));

/** The request body of both routes; also its OpenAPI description (api-schemas.ts). */
export const dlqSelectorSchema = z
  .union([
    z.strictObject({
      ids: z.array(z.string().regex(ID_RE, 'not a dead-letter id')).min(1).max(10_000),
    }),
    z.strictObject({
      stage: z.string().min(1).max(64).optional(),
      since: isoTime.optional(),
      until: isoTime.optional(),
    }),
  ])
  .meta({
    description:
      '{} (all), {"ids": [...]} (an id of GET /dlq, or <pipelinePartition>/<id>) or a filter ' +
      '{"stage", "since", "until"} (ISO times of dead-lettering, inclusive). {} and filters act ' +
      'only on the dead letters present when the request started; later ones stay.',
  });

/** The selector of a request body, or the reason it is not one. */
export function parseDlqSelector(body: unknown): DlqSelector | string {
  const parsed = dlqSelectorSchema.safeParse(body ?? {});
  if (!parsed.success) {
    return 'send {} (all), { "ids": [...] } or a filter { "stage", "since", "until" } (ISO times)';
  }
  const value = parsed.data;
  if ('ids' in value) {
    return {
      kind: 'ids',
      ids: value.ids.map((text) => {
        const [, partition, id] = ID_RE.exec(text) as RegExpExecArray;
        return { partition: partition === undefined ? undefined : Number(partition), id: id! };
      }),
    };
  }
  if (value.stage === undefined && value.since === undefined && value.until === undefined) {
    return { kind: 'all' };
  }
  return { kind: 'filter', stage: value.stage, sinceMs: value.since, untilMs: value.until };
}

// KEYS: dead letters. ARGV: start, end (XRANGE bounds), count, stage ('' = any). The ids of the
// entries in the range (of that stage), and where the next page starts after ('' when this was
// the last): ids only, so a DLQ of large messages is not sent over the wire to be selected.
const SELECT = `
local count = tonumber(ARGV[3])
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', count)
local ids = {}
for _, entry in ipairs(entries) do
  local keep = ARGV[4] == ''
  if not keep then
    local flat = entry[2]
    for j = 1, #flat, 2 do
      if flat[j] == 'stage' then keep = flat[j + 1] == ARGV[4]; break end
    end
  end
  if keep then ids[#ids + 1] = entry[1] end
end
if #entries < count or entries[#entries][1] == ARGV[2] then return {ids, ''} end
return {ids, entries[#entries][1]}
`;
/** Entries examined per step (the script holds their messages while it runs), ids per chunk. */
export const SELECTION_CHUNK = 200;

/** The dead letters one request selects, partition by partition. */
export class DlqSelection {
  private constructor(
    private readonly redis: Redis,
    private readonly pipeline: string,
    readonly selector: DlqSelector,
    /** Per partition, its newest dead letter when the request started (undefined: none). */
    private readonly newest: (string | undefined)[],
  ) {}

  /** Call at the start of the request: fixes where `{}` and filters end. */
  static async start(
    redis: Redis,
    pipeline: string,
    partitions: number,
    selector: DlqSelector,
  ): Promise<DlqSelection> {
    const newest: (string | undefined)[] = new Array<undefined>(partitions).fill(undefined);
    if (selector.kind !== 'ids' && partitions > 0) {
      // One MULTI: the same instant for every partition.
      const tx = redis.multi();
      for (let p = 0; p < partitions; p++) {
        tx.xrevrange(keys.deadLetters(pipeline, p), '+', '-', 'COUNT', 1);
      }
      const replies = (await tx.exec()) ?? [];
      replies.forEach(([err, entries], p) => {
        if (err) throw err;
        newest[p] = (entries as [string, string[]][])[0]?.[0];
      });
    }
    return new DlqSelection(redis, pipeline, selector, newest);
  }

  get partitions(): number {
    return this.newest.length;
  }

  /** Partition p's newest dead letter when the request started (undefined: it had none). */
  newestAtStart(p: number): string | undefined {
    return this.newest[p];
  }

  /** The selected ids of partition p, oldest first, in chunks of at most SELECTION_CHUNK. */
  async *ids(p: number): AsyncGenerator<string[]> {
    const selector = this.selector;
    if (selector.kind === 'ids') {
      const ids = selector.ids
        .filter((i) => i.partition === undefined || i.partition === p)
        .map((i) => i.id);
      for (let i = 0; i < ids.length; i += SELECTION_CHUNK) {
        yield ids.slice(i, i + SELECTION_CHUNK);
      }
      return;
    }
    const newest = this.newest[p];
    if (newest === undefined) return;
    const filter: DlqFilter = selector.kind === 'filter' ? selector : {};
    // An `until` before the newest entry ends the range there (an XRANGE end of bare ms means
    // that ms's last id).
    const end =
      filter.untilMs !== undefined && msOf(newest) > filter.untilMs
        ? String(filter.untilMs)
        : newest;
    let start = filter.sinceMs === undefined ? '-' : String(filter.sinceMs);
    const dlq = keys.deadLetters(this.pipeline, p);
    for (;;) {
      const [ids, next] = (await this.redis.eval(
        SELECT,
        1,
        dlq,
        start,
        end,
        SELECTION_CHUNK,
        filter.stage ?? '',
      )) as [string[], string];
      if (ids.length > 0) yield ids;
      if (next === '') return;
      start = `(${next}`;
    }
  }
}

const msOf = (id: string): number => Number(id.slice(0, id.indexOf('-')));
