import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import type { Telemetry } from '@sluice/telemetry';
import { REDIS } from '../infra/tokens';
import { TELEMETRY } from '../telemetry/tokens';
import { DlqSelection, type DlqSelector } from './dlq-selection';

// KEYS: dead letters, counters. ARGV: stream ids. Removal and count in one step, so `discarded`
// counts exactly the entries removed, whoever else removes or adds entries meanwhile.
const DISCARD_IDS = `
local n = redis.call('XDEL', KEYS[1], unpack(ARGV))
if n > 0 then redis.call('HINCRBY', KEYS[2], 'discarded', n) end
return n
`;
// KEYS: dead letters, counters. ARGV: the partition's newest id when the request started.
// The whole stream in one step, unless a dead letter arrived since (then -1: select by id).
const DISCARD_ALL = `
if #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', 1) > 0 then return -1 end
local n = redis.call('XLEN', KEYS[1])
if n > 0 then
  redis.call('UNLINK', KEYS[1])
  redis.call('HINCRBY', KEYS[2], 'discarded', n)
end
return n
`;

/**
 * POST /pipelines/:id/dlq/discard: removes the selected dead letters (dlq-selection.ts) for
 * good; the held partitions (dlq-full) then take input again. `{}` drops a partition's whole
 * stream in one step when nothing arrived since the request started (the usual case, a held
 * partition adds nothing), else removes by id up to where the request started, like a filter.
 */
@Injectable()
export class DlqDiscard {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(TELEMETRY) private readonly telemetry: Telemetry,
  ) {}

  /** How many entries were removed, over all partitions. */
  async discard(pipeline: string, partitions: number, selector: DlqSelector): Promise<number> {
    const selection = await DlqSelection.start(this.redis, pipeline, partitions, selector);
    let total = 0;
    for (let p = 0; p < partitions; p++) {
      total += await this.discardIn(selection, pipeline, p);
    }
    if (total > 0) this.telemetry.metrics.dlqDiscarded.inc({ pipeline }, total);
    return total;
  }

  private async discardIn(selection: DlqSelection, pipeline: string, p: number): Promise<number> {
    const dlq = keys.deadLetters(pipeline, p);
    const counters = keys.counters(pipeline, p);
    const newest = selection.newestAtStart(p);
    if (selection.selector.kind === 'all' && newest !== undefined) {
      const removed = Number(await this.redis.eval(DISCARD_ALL, 2, dlq, counters, newest));
      if (removed >= 0) return removed;
    }
    let removed = 0;
    for await (const ids of selection.ids(p)) {
      removed += Number(await this.redis.eval(DISCARD_IDS, 2, dlq, counters, ...ids));
    }
    return removed;
  }
}
