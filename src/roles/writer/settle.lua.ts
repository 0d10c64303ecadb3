import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import type { BatchRef } from './writer.lua';

/*
 * Settles a batch ClickHouse refused in part: the refused rows go to the dead-letter stream,
 * each with the server's error for it, the others are counted written (they landed under their
 * range tokens), and the outbox entry goes. One script, guarded by the entry's existence like
 * the writer's other steps, so a job run twice counts once.
 */

// KEYS: outbox entry, outbox index, counters, dead letters.
// ARGV: batch id, dlq max length (0: unbounded), rows written, at, then (error, row) pairs.
// EXISTS first and DEL last: if an XADD fails (out of memory), the batch stays in the outbox.
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local maxlen = tonumber(ARGV[2])
local n = 0
for i = 5, #ARGV, 2 do
  local fields = {'stage', 'insert', 'error', ARGV[i], 'topic', '', 'partition', '', 'offset', '',
    'message', ARGV[i + 1], 'at', ARGV[4]}
  if maxlen > 0 then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', unpack(fields))
  else
    redis.call('XADD', KEYS[4], '*', unpack(fields))
  end
  n = n + 1
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
local written = tonumber(ARGV[3])
if written > 0 then redis.call('HINCRBY', KEYS[3], 'written', written) end
if n > 0 then redis.call('HINCRBY', KEYS[3], 'deadLettered', n) end
return 1
`;

/** A row ClickHouse refused: its JSONEachRow line and the server's message. */
export interface RefusedLine {
  line: string;
  error: string;
}

interface SettleCommand {
  sluiceWriterSettle(...args: (string | number)[]): Promise<number>;
}

export class SettleScript {
  private readonly redis: Redis & SettleCommand;

  constructor(redis: Redis) {
    redis.defineCommand('sluiceWriterSettle', { numberOfKeys: 4, lua: SETTLE });
    this.redis = redis as Redis & SettleCommand;
  }

  /** True when this call removed the outbox entry (and counted the rows). */
  async settle(
    ref: BatchRef,
    written: number,
    refused: readonly RefusedLine[],
    maxEntries: number,
  ): Promise<boolean> {
    const { pipeline, partition, batchId } = ref;
    const done = await this.redis.sluiceWriterSettle(
      keys.outboxBatch(pipeline, partition, batchId),
      keys.outboxIndex(pipeline, partition),
      keys.counters(pipeline, partition),
      keys.deadLetters(pipeline, partition),
      batchId,
      maxEntries,
      written,
      new Date().toISOString(),
      ...refused.flatMap((r) => [r.error, r.line]),
    );
    return done === 1;
  }
}
