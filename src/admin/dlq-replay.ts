import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { keys, moveDeadLettersToMailbox } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { REDIS } from '../infra/tokens';
import { TELEMETRY } from '../telemetry/tokens';
import type { DlqSelector } from './dlq-discard';

// KEYS: dead letters. ARGV: start, end (XRANGE bounds), count, stage ('' = any). The ids of the
// entries in the range (of that stage), and the last id examined ('' when none): ids only, so a
// DLQ of large messages is not sent over the wire to be selected.
const SELECT = `
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', tonumber(ARGV[3]))
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
local last = entries[#entries]
return {ids, last and last[1] or ''}
`;
/** Entries examined per selection step (the script holds their messages while it runs). */
const PAGE = 200;
const MAX_SEQ = '18446744073709551615';

/**
 * POST /pipelines/:id/dlq/replay: moves the selected dead letters of each pipeline partition
 * into that partition's mailbox (libs/redis dlq-replay.ts: one atomic step per replay entry), so
 * the actor runs them through the pipeline's current definition, exactly once. A replay asked
 * again, or after a crash mid-way, moves only what is still in the DLQ.
 *
 * `{}` and filters take the entries present when the request started: a replayed event that
 * fails again comes back as a new dead letter (a newer id), which this request does not replay
 * again, so a replay always ends.
 */
@Injectable()
export class DlqReplay {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {}

  /** How many dead letters were moved, over all partitions. */
  async replay(pipeline: string, partitions: number, selector: DlqSelector): Promise<number> {
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      const moved = await this.replayIn(pipeline, p, selector);
      if (moved > 0) this.telemetry.metrics.dlqReplayed.inc({ pipeline }, moved);
      total += moved;
    }
    return total;
  }

  private async replayIn(pipeline: string, p: number, selector: DlqSelector): Promise<number> {
    if (selector.kind === 'ids') {
      const ids = selector.ids
        .filter((i) => i.partition === undefined || i.partition === p)
        .map((i) => i.id);
      return ids.length === 0 ? 0 : moveDeadLettersToMailbox(this.redis, pipeline, p, ids);
    }
    const dlq = keys.deadLetters(pipeline, p);
    const [newest] = await this.redis.xrevrange(dlq, '+', '-', 'COUNT', 1);
    if (newest === undefined) return 0;
    const filter: { stage?: string; sinceMs?: number; untilMs?: number } =
      selector.kind === 'filter' ? selector : {};
    let end = newest[0];
    if (filter.untilMs !== undefined) {
      const until = `${filter.untilMs}-${MAX_SEQ}`;
      if (compareIds(until, end) < 0) end = until;
    }
    let start = filter.sinceMs === undefined ? '-' : String(filter.sinceMs);
    let moved = 0;
    for (;;) {
      const [ids, last] = (await this.redis.eval(
        SELECT,
        1,
        dlq,
        start,
        end,
        PAGE,
        filter.stage ?? '',
      )) as [string[], string];
      if (ids.length > 0) moved += await moveDeadLettersToMailbox(this.redis, pipeline, p, ids);
      if (last === '' || last === end) return moved;
      start = `(${last}`;
    }
  }
}

/** Stream ids compared as (ms, seq). */
function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}
