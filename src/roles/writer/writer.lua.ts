import type { Redis } from 'ioredis';
import {
  type DeadLetter,
  DEAD_LETTER_FIELDS,
  deadLetterArgs,
  keys,
  luaDeadLetterFields,
} from '@sluice/redis';

/*
 * The writer's two Redis steps. Each is one script so that a job run twice (a crash between the
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

// KEYS: outbox entry, outbox index, counters, dead letters.
// ARGV: batch id, dlq max length (0: unbounded), then the dead letters, DEAD_LETTER_FIELDS each.
// EXISTS first and DEL last: if an XADD fails (out of memory), the batch stays in the outbox.
const DEAD_LETTER = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local maxlen = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV, ${DEAD_LETTER_FIELDS.length} do
  if maxlen > 0 then
    redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', ${luaDeadLetterFields('i')})
  else
    redis.call('XADD', KEYS[4], '*', ${luaDeadLetterFields('i')})
  end
  n = n + 1
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'deadLettered', n)
return 1
`;

interface WriterCommands {
  sluiceWriterComplete(...args: (string | number)[]): Promise<number>;
  sluiceWriterDeadLetter(...args: (string | number | Buffer)[]): Promise<number>;
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
    redis.defineCommand('sluiceWriterDeadLetter', { numberOfKeys: 4, lua: DEAD_LETTER });
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

  /** Moves the batch's rows to the dead-letter stream; true when this call did it. */
  async deadLetter(
    ref: BatchRef,
    rows: readonly Record<string, unknown>[],
    error: string,
    maxEntries: number,
  ): Promise<boolean> {
    const { pipeline, partition, batchId } = ref;
    const at = new Date().toISOString();
    const letters = rows.map((row): DeadLetter => ({
      stage: 'insert',
      error,
      topic: '',
      partition: '',
      offset: '',
      message: JSON.stringify(row),
      at,
    }));
    const done = await this.redis.sluiceWriterDeadLetter(
      keys.outboxBatch(pipeline, partition, batchId),
      keys.outboxIndex(pipeline, partition),
      keys.counters(pipeline, partition),
      keys.deadLetters(pipeline, partition),
      batchId,
      maxEntries,
      ...letters.flatMap(deadLetterArgs),
    );
    return done === 1;
  }
}
