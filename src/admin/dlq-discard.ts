import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { REDIS } from '../infra/tokens';
import { TELEMETRY } from '../telemetry/tokens';

/**
 * Which dead letters `POST /pipelines/:id/dlq/discard` removes: all (`{}`), the listed ids, or
 * those of a stage and/or dead-lettered in a time range (the stream id's time). An id is the
 * `id` GET /dlq shows, optionally prefixed with its `pipelinePartition` and a slash (`3/1712-0`);
 * without the prefix it is removed from whichever partition holds it.
 */
export type DlqSelector =
  | { kind: 'all' }
  | { kind: 'ids'; ids: { partition: number | undefined; id: string }[] }
  | { kind: 'filter'; stage?: string; sinceMs?: number; untilMs?: number };
/** The same selectors choose what `POST /pipelines/:id/dlq/replay` replays (dlq-replay.ts). */
export type DiscardSelector = DlqSelector;

const ID_RE = /^(?:(\d{1,4})\/)?(\d{1,20}-\d{1,20})$/;
const isoTime = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));

/** The request body; also its OpenAPI description (api-schemas.ts). */
export const discardBodySchema = z.union([
  z.strictObject({
    ids: z.array(z.string().regex(ID_RE, 'not a dead-letter id')).min(1).max(10_000),
  }),
  z.strictObject({
    stage: z.string().min(1).max(64).optional(),
    since: isoTime.optional(),
    until: isoTime.optional(),
  }),
]);

/** The selector of a request body, or the reason it is not one. */
export function parseDiscardSelector(body: unknown): DiscardSelector | string {
  const parsed = discardBodySchema.safeParse(body ?? {});
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

// KEYS: dead letters, counters. ARGV: stream ids. Removal and count in one step, so `discarded`
// counts exactly the entries removed, whoever else removes or adds entries meanwhile.
const DISCARD_IDS = `
local n = redis.call('XDEL', KEYS[1], unpack(ARGV))
if n > 0 then redis.call('HINCRBY', KEYS[2], 'discarded', n) end
return n
`;
// KEYS: dead letters, counters.
const DISCARD_ALL = `
local n = redis.call('XLEN', KEYS[1])
if n > 0 then
  redis.call('UNLINK', KEYS[1])
  redis.call('HINCRBY', KEYS[2], 'discarded', n)
end
return n
`;
/** Ids per XDEL step and entries per XRANGE page (messages may be large). */
const PAGE = 500;

/** Removes dead letters for good; the held partitions (dlq-full) then take input again. */
@Injectable()
export class DlqDiscard {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {}

  /** How many entries were removed, over all partitions. */
  async discard(pipeline: string, partitions: number, selector: DiscardSelector): Promise<number> {
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      total += await this.discardIn(pipeline, p, selector);
    }
    if (total > 0) this.telemetry.metrics.dlqDiscarded.inc({ pipeline }, total);
    return total;
  }

  private async discardIn(pipeline: string, p: number, selector: DiscardSelector): Promise<number> {
    const dlq = keys.deadLetters(pipeline, p);
    const counters = keys.counters(pipeline, p);
    if (selector.kind === 'all') {
      return Number(await this.redis.eval(DISCARD_ALL, 2, dlq, counters));
    }
    if (selector.kind === 'ids') {
      const ids = selector.ids.filter((i) => i.partition === undefined || i.partition === p);
      return this.remove(
        dlq,
        counters,
        ids.map((i) => i.id),
      );
    }
    let removed = 0;
    let start = selector.sinceMs === undefined ? '-' : String(selector.sinceMs);
    const end = selector.untilMs === undefined ? '+' : String(selector.untilMs);
    for (;;) {
      const page = await this.redis.xrange(dlq, start, end, 'COUNT', PAGE);
      const ids = page
        .filter(([, flat]) => selector.stage === undefined || stageOf(flat) === selector.stage)
        .map(([id]) => id);
      removed += await this.remove(dlq, counters, ids);
      const last = page[page.length - 1];
      if (page.length < PAGE || last === undefined) return removed;
      start = `(${last[0]}`;
    }
  }

  private async remove(dlq: string, counters: string, ids: string[]): Promise<number> {
    let removed = 0;
    for (let i = 0; i < ids.length; i += PAGE) {
      const chunk = ids.slice(i, i + PAGE);
      removed += Number(await this.redis.eval(DISCARD_IDS, 2, dlq, counters, ...chunk));
    }
    return removed;
  }
}

function stageOf(flat: string[]): string | undefined {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === 'stage') return flat[i + 1];
  return undefined;
}
