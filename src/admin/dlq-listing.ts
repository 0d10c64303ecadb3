import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { keys, readDeadLetterBuffers, type StoredDeadLetter } from '@sluice/redis';
import { REDIS } from '../infra/tokens';

/**
 * GET /pipelines/:id/dlq: dead letters of all pipeline partitions merged newest first, filtered
 * and paged. Each partition's stream is read backwards in small chunks and merged, so a page
 * costs about `limit` entries read however many partitions there are, and a filter that matches
 * little stops at READ_CAP entries examined (the page is then short, with a cursor to go on).
 *
 * Order: stream id descending, ties (the same id in two partitions) by pipeline partition
 * ascending. The cursor is the position of the last entry examined, `<pipelinePartition>/<id>`:
 * the next page is everything after it in that order. It holds no state, so entries added
 * meanwhile (always newer) and entries removed never make a page skip or repeat one.
 */
export interface DlqQuery {
  stage?: string;
  /** The source (Kafka) partition the dead letter came from: the record's `partition`. */
  partition?: number;
  /** Stream id time (when it was dead-lettered), epoch ms, inclusive. */
  sinceMs?: number;
  untilMs?: number;
  limit: number;
  cursor?: DlqCursor;
}

export interface DlqCursor {
  pipelinePartition: number;
  id: string;
}

export interface DlqPage {
  entries: StoredDeadLetter[];
  /** Where the next page starts; undefined when every entry was examined. */
  next?: string;
}

export const DLQ_LIMIT = { default: 100, max: 10_000 };
/** Entries examined per request at most, matching or not. */
export const READ_CAP = 20_000;
const CURSOR_RE = /^(\d{1,4})\/(\d{1,20}-\d{1,20})$/;
const isoTime = z.iso.datetime({ offset: true }).transform((text) => Date.parse(text));
const whole = (max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, `must be a whole number from 0 to ${max}`)
    .transform(Number)
    .refine((n) => n <= max, `must be a whole number from 0 to ${max}`);

const querySchema = z.object({
  stage: z.string().min(1).max(64).optional(),
  partition: whole(1_000_000).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  limit: whole(DLQ_LIMIT.max)
    .refine((n) => n >= 1, `must be a whole number from 1 to ${DLQ_LIMIT.max}`)
    .optional(),
  cursor: z.string().regex(CURSOR_RE, 'not a cursor this endpoint returned').optional(),
});

/** The query of a request, or its errors by parameter. */
export function parseDlqQuery(
  raw: Record<string, unknown>,
): DlqQuery | { path: string; message: string }[] {
  const parsed = querySchema.safeParse(raw);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  }
  const q = parsed.data;
  let cursor: DlqCursor | undefined;
  if (q.cursor !== undefined) {
    const [, p, id] = CURSOR_RE.exec(q.cursor) as RegExpExecArray;
    cursor = { pipelinePartition: Number(p), id: id! };
  }
  return {
    stage: q.stage,
    partition: q.partition,
    sinceMs: q.since,
    untilMs: q.until,
    limit: q.limit ?? DLQ_LIMIT.default,
    cursor,
  };
}

/** One partition's read position: its unread buffer, and where its next chunk ends. */
interface Source {
  p: number;
  buffer: [Buffer, Buffer[]][];
  /** XREVRANGE end for the next chunk; undefined once the partition is exhausted. */
  end: string | undefined;
}

@Injectable()
export class DlqListing {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async page(pipeline: string, partitions: number, q: DlqQuery): Promise<DlqPage> {
    // Small chunks: most pages come from a few partitions; a busy one is read again.
    const chunk = Math.min(q.limit, Math.max(16, Math.ceil((2 * q.limit) / partitions)));
    const start = q.sinceMs === undefined ? '-' : String(q.sinceMs);
    const sources: Source[] = [];
    for (let p = 0; p < partitions; p++) {
      sources.push({ p, buffer: [], end: firstEnd(p, q) });
    }
    const entries: StoredDeadLetter[] = [];
    let examined = 0;
    let last: DlqCursor | undefined;
    while (entries.length < q.limit && examined < READ_CAP) {
      await this.refill(pipeline, sources, start, chunk);
      const head = newest(sources);
      if (!head) return { entries };
      const [idBytes, fields] = head.buffer.shift()!;
      examined++;
      const id = idBytes.toString();
      last = { pipelinePartition: head.p, id };
      const letter = readDeadLetterBuffers(id, head.p, fields);
      if (q.stage !== undefined && letter.stage !== q.stage) continue;
      if (q.partition !== undefined && letter.partition !== q.partition) continue;
      entries.push(letter);
    }
    // A cursor only when an entry follows: a client paging to the end gets no empty last page.
    await this.refill(pipeline, sources, start, chunk);
    const more = sources.some((s) => s.buffer.length > 0);
    return { entries, next: more && last ? `${last.pipelinePartition}/${last.id}` : undefined };
  }

  /** Reads the next chunk, in one round trip, of every partition whose buffer is empty. */
  private async refill(
    pipeline: string,
    sources: Source[],
    start: string,
    chunk: number,
  ): Promise<void> {
    const empty = sources.filter((s) => s.buffer.length === 0 && s.end !== undefined);
    if (empty.length === 0) return;
    const batch = this.redis.pipeline();
    for (const s of empty) {
      // As bytes: a message that is not UTF-8 must not come back altered.
      batch.xrevrangeBuffer(keys.deadLetters(pipeline, s.p), s.end!, start, 'COUNT', chunk);
    }
    const results = (await batch.exec()) ?? [];
    empty.forEach((s, i) => {
      const [err, value] = results[i] ?? [new Error('no reply')];
      if (err) throw err;
      const read = (value ?? []) as [Buffer, Buffer[]][];
      s.buffer = read;
      const oldest = read[read.length - 1];
      s.end = read.length < chunk || !oldest ? undefined : `(${oldest[0].toString()}`;
    });
  }
}

/** Where partition p's first chunk ends: the newest entry at or before the cursor and `until`. */
function firstEnd(p: number, q: DlqQuery): string | undefined {
  let end = q.untilMs === undefined ? '+' : String(q.untilMs);
  if (q.cursor) {
    // Same id in a later partition comes after the cursor entry in the order; in this or an
    // earlier partition it was already examined.
    const cursorEnd = p > q.cursor.pipelinePartition ? q.cursor.id : `(${q.cursor.id}`;
    if (end === '+' || compareIds(bare(cursorEnd), end) <= 0) end = cursorEnd;
  }
  return end;
}

const bare = (end: string) => (end.startsWith('(') ? end.slice(1) : end);

/** The partition whose next entry comes first in the order (id desc, partition asc). */
function newest(sources: Source[]): Source | undefined {
  let best: Source | undefined;
  let bestId = '';
  for (const s of sources) {
    const head = s.buffer[0];
    if (!head) continue;
    const id = head[0].toString();
    if (!best || compareIds(id, bestId) > 0) {
      best = s;
      bestId = id;
    }
  }
  return best;
}

/** Compares stream ids; a bare ms time (an `until` end) stands for its last id. */
export function compareIds(a: string, b: string): number {
  const [am = 0n, as = MAX_SEQ] = split(a);
  const [bm = 0n, bs = MAX_SEQ] = split(b);
  if (am !== bm) return am > bm ? 1 : -1;
  return as === bs ? 0 : as > bs ? 1 : -1;
}

const MAX_SEQ = 2n ** 64n - 1n;
function split(id: string): bigint[] {
  return id.split('-').map((part) => BigInt(part));
}
