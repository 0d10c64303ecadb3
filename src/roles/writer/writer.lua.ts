import type { Redis } from 'ioredis';
import {
  type DeadLetter,
  DEAD_LETTER_FIELDS,
  DEAD_LETTER_KEY_FIELD,
  deadLetterArgs,
  encodeDeadLetterKey,
  keys,
  luaDeadLetterFields,
} from '@sluice/redis';

/*
 * The writer's two Redis steps (complete, settle). Each is one script so that a job run twice (a crash between the
 * insert and this step, or a lost BullMQ lock) counts its rows once: only the run whose DEL
 * removed the outbox entry touches the index, the counters and the dead-letter stream. All keys
 * share the actor's hash tag, so the scripts also run on Redis Cluster.
 */

// KEYS: outbox entry, outbox index, counters. ARGV: batch id, row count.
const COMPLETE = `
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'written', tonumber(ARGV[2]))
return 1
`;

/** Arguments per dead letter of SETTLE: its record, then its dedup key. */
const SETTLE_STRIDE = DEAD_LETTER_FIELDS.length + 1;

// Settles a batch ClickHouse refused in part (or whole): the refused rows go to the dead-letter
// stream, each with the server's error for it; the rows that landed (under their range tokens)
// are counted written.
// KEYS: outbox entry, outbox index, counters, dead letters, dedup forget list.
// ARGV: batch id, rows written, dedup keys to forget (dedup-forgets.ts, '' for none), then the
// dead letters, DEAD_LETTER_FIELDS each and then the row's dedup key ('' for none), stored as
// DEAD_LETTER_KEY_FIELD so that a replay of the row records the key again.
// EXISTS first and DEL last: if an XADD fails (out of memory), the batch stays in the outbox.
// Never trimmed, even past the DLQ bound: the writer must not drop a dead letter; the actor holds
// the partition (dlq-full) until entries are discarded or replayed. The keys are forgotten in
// the same step: a dead letter never leaves its key marked seen.
const SETTLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = 0
for i = 4, #ARGV, ${SETTLE_STRIDE} do
  local key = ARGV[i + ${DEAD_LETTER_FIELDS.length}]
  if key == '' then
    redis.call('XADD', KEYS[4], '*', ${luaDeadLetterFields('i')})
  else
    redis.call('XADD', KEYS[4], '*', ${luaDeadLetterFields('i')}, '${DEAD_LETTER_KEY_FIELD}', key)
  end
  n = n + 1
end
if ARGV[3] ~= '' then
  redis.call('APPEND', KEYS[5], ARGV[3])
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
local written = tonumber(ARGV[2])
if written > 0 then redis.call('HINCRBY', KEYS[3], 'written', written) end
if n > 0 then redis.call('HINCRBY', KEYS[3], 'deadLettered', n) end
return 1
`;

interface WriterCommands {
  sluiceWriterComplete(...args: (string | number)[]): Promise<number>;
  sluiceWriterSettle(...args: (string | number | Buffer)[]): Promise<number>;
}

export interface BatchRef {
  pipeline: string;
  partition: number;
  batchId: string;
}

/** The writer's scripts on one connection (EVALSHA, loaded on first use by ioredis). */
export class WriterScripts {
  private readonly redis: Redis & WriterCommands;

  constructor(redis: Redis) {
    redis.defineCommand('sluiceWriterComplete', { numberOfKeys: 3, lua: COMPLETE });
    redis.defineCommand('sluiceWriterSettle', { numberOfKeys: 5, lua: SETTLE });
    this.redis = redis as Redis & WriterCommands;
  }

  /** True when this call removed the outbox entry (and counted the rows). */
  async complete(ref: BatchRef, rowCount: number): Promise<boolean> {
    const { pipeline, partition, batchId } = ref;
    const done = await this.redis.sluiceWriterComplete(
      keys.outboxBatch(pipeline, partition, batchId),
      keys.outboxIndex(pipeline, partition),
      keys.counters(pipeline, partition),
      batchId,
      rowCount,
    );
    return done === 1;
  }

  /**
   * Dead-letters the refused rows (stage insert, built with their source positions and the dedup
   * keys to forget by `insertDeadLetters` in libs/redis) and counts `written` rows written; true
   * when this call removed the outbox entry (and counted).
   */
  async settle(
    ref: BatchRef,
    written: number,
    refused: { letters: readonly DeadLetter[]; forgets: Buffer },
  ): Promise<boolean> {
    const { pipeline, partition, batchId } = ref;
    const done = await this.redis.sluiceWriterSettle(
      keys.outboxBatch(pipeline, partition, batchId),
      keys.outboxIndex(pipeline, partition),
      keys.counters(pipeline, partition),
      keys.deadLetters(pipeline, partition),
      keys.dedupForgets(pipeline, partition),
      batchId,
      written,
      refused.forgets,
      ...refused.letters.flatMap((d) => [
        ...deadLetterArgs(d),
        d.dedupKey ? encodeDeadLetterKey(d.dedupKey) : '',
      ]),
    );
    return done === 1;
  }
}
