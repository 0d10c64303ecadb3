import type { Redis } from 'ioredis';
import {
  DEAD_LETTER_FIELDS,
  type DeadLetter,
  deadLetterArgs,
  luaDeadLetterFields,
} from '../dead-letters';
import { keys } from '../keys';
import { LuaScript, type ScriptArg } from './lua-script';

/**
 * The actor's atomic step. KEYS: 1 lease, 2 checkpoint, 3 outbox index, 4 outbox batch,
 * 5 counters, 6 dead letters, 7 mailbox, 8 dedup index, 9 join index, 10 dedup forget list, then
 * one key per dedup bucket string with forgotten keys, one per appended dedup bucket, two (12-
 * and 8-byte records) per expired bucket, one per join bucket append, one per join matched-flags
 * append, two (records, flags) per released join bucket. ARGV: 1 lease value, 2 batch id ('' = no
 * rows), 3 batch payload, 4 cursor, 5 next (JSON), 6 seq, 7 checkpoint generation, 8 bytes of the
 * forget list the actor applied, 9 the definition version the actor runs ('' = not recorded),
 * then counted groups: counters (name, increment), dead letters
 * (DEAD_LETTER_FIELDS), forgotten dedup keys (record bytes, 12 or 8, and the hashes: two
 * arguments per bucket string), bucket appends (start, expire-at ms, bytes of 12-byte hashes),
 * expired buckets (start), join appends (index member, score, bytes), join matched appends
 * (bytes), join releases (index member), and last the join watermark snapshot ('' = none), then
 * optionally the find-my-event index (record count, expire-at ms, most bytes per bucket log, the
 * segment; its key last in KEYS). The lease check comes first and nothing is written when it
 * fails, so an owner that lost its lease can never commit.
 *
 * Not idempotent by itself (APPEND, HINCRBY, XADD), so it is guarded by a generation stored in the
 * checkpoint hash: a step whose generation is already stored ran before (a reply lost to a
 * connection reset, the command sent again) and returns 0 without writing; one that does not
 * follow the stored generation fails with STALE_CHECKPOINT and the actor restores. The reply is
 * {1 or 0, the forget list left after this step} (dedup-forgets.ts).
 */
const CHECKPOINT = new LuaScript(
  'checkpoint',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED lease is no longer ' .. ARGV[1])
end
local gen = tonumber(ARGV[7])
local stored = tonumber(redis.call('HGET', KEYS[2], 'gen') or '0')
if stored == gen then
  return {0, redis.call('GET', KEYS[10]) or ''}
end
if stored ~= gen - 1 then
  return redis.error_reply('STALE_CHECKPOINT stored generation ' .. stored .. ', not ' .. (gen - 1))
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[4], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[2])
end
redis.call('HSET', KEYS[2], 'cursor', ARGV[4], 'next', ARGV[5], 'seq', ARGV[6], 'gen', ARGV[7])
if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'version', ARGV[9]) end
local i = 10
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HINCRBY', KEYS[5], ARGV[i], ARGV[i + 1]); i = i + 2
end
-- Never trimmed: a dead letter leaves only when an operator discards or replays it. The actor
-- stops taking input while the stream is at its bound (dlq-full hold), so it stays bounded.
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('XADD', KEYS[6], '*', ${luaDeadLetterFields('i')})
  i = i + ${DEAD_LETTER_FIELDS.length}
end
local k = 11
-- Forgotten dedup keys (rows dead-lettered at insert): zeroed where they stand, before this
-- step's appends, which may record such a key again. Entries stay aligned (records of 'size'
-- bytes: 12, or 8 in a string an earlier version wrote); a zero one is skipped on load. One GET
-- per bucket string that has any: forgets are rare.
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local data = redis.call('GET', KEYS[k])
  local size = tonumber(ARGV[i])
  local hashes = ARGV[i + 1]
  local zero = string.rep('\0', size)
  if data then
    for h = 1, #hashes, size do
      local needle = string.sub(hashes, h, h + size - 1)
      local from = 1
      while true do
        local at = string.find(data, needle, from, true)
        if not at then break end
        if (at - 1) % size == 0 then
          redis.call('SETRANGE', KEYS[k], at - 1, zero)
        end
        from = at + 1
      end
    end
  end
  k = k + 1; i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('APPEND', KEYS[k], ARGV[i + 2])
  redis.call('PEXPIREAT', KEYS[k], ARGV[i + 1])
  redis.call('ZADD', KEYS[8], ARGV[i], ARGV[i])
  k = k + 1; i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('DEL', KEYS[k], KEYS[k + 1])
  redis.call('ZREM', KEYS[8], ARGV[i])
  k = k + 2; i = i + 1
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('APPEND', KEYS[k], ARGV[i + 2])
  redis.call('ZADD', KEYS[9], ARGV[i + 1], ARGV[i])
  k = k + 1; i = i + 3
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('APPEND', KEYS[k], ARGV[i])
  k = k + 1; i = i + 1
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('DEL', KEYS[k], KEYS[k + 1])
  redis.call('ZREM', KEYS[9], ARGV[i])
  k = k + 2; i = i + 1
end
-- A sorted set that once outgrew the compact encoding keeps its large one (about 10 kB) however
-- few members it has left: written anew once small, it is compact again.
if n > 0 and redis.call('OBJECT', 'ENCODING', KEYS[9]) == 'skiplist'
    and redis.call('ZCARD', KEYS[9]) <= 32 then
  local members = redis.call('ZRANGE', KEYS[9], 0, -1, 'WITHSCORES')
  redis.call('DEL', KEYS[9])
  for j = 1, #members, 2 do
    redis.call('ZADD', KEYS[9], members[j + 1], members[j])
  end
end
if ARGV[i] ~= '' then
  redis.call('HSET', KEYS[2], 'join', ARGV[i])
end
i = i + 1
n = tonumber(ARGV[i] or '0'); i = i + 1
if n > 0 then
  local expireAt = ARGV[i]
  local cap = tonumber(ARGV[i + 1])
  local segment = ARGV[i + 2]; i = i + 3
  -- One segment per checkpoint, appended whole or not at all: a full log takes no more (lookups
  -- answer "unknown"), so the index can never fill Redis or stop checkpoints.
  if redis.call('STRLEN', KEYS[k]) + #segment <= cap then
    redis.call('APPEND', KEYS[k], segment)
  end
  redis.call('PEXPIREAT', KEYS[k], expireAt)
end
if ARGV[4] ~= '0-0' then
  redis.call('XTRIM', KEYS[7], 'MINID', ARGV[4])
end
-- The forget list: drop what the actor applied, hand it what the writer added since.
local consumed = tonumber(ARGV[8])
if consumed > 0 then
  if redis.call('STRLEN', KEYS[10]) <= consumed then
    redis.call('DEL', KEYS[10])
  else
    redis.call('SET', KEYS[10], redis.call('GETRANGE', KEYS[10], consumed, -1))
  end
end
return {1, redis.call('GET', KEYS[10]) or ''}
`,
);

/** The checkpoint script refused: another owner holds the lease (a newer epoch). */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

/** The stored checkpoint generation is not the one before this step's: state must be restored. */
export class StaleCheckpointError extends Error {
  override readonly name = 'StaleCheckpointError';
}

export interface DedupWrite {
  /** Bucket start -> 12-byte hashes to append (`keys.dedupBucket`). */
  appends: ReadonlyMap<number, Buffer>;
  /** Bucket start -> 12-byte hashes to zero where they stand (forgotten keys). */
  forgotten?: ReadonlyMap<number, Buffer>;
  /** Bucket start -> 8-byte hashes to zero in the string an earlier version wrote
   * (`keys.dedupBucket64`). */
  forgottenLegacy?: ReadonlyMap<number, Buffer>;
  /** Buckets to delete, both record formats. */
  expired: readonly number[];
  /** Absolute ms after which Redis may drop a bucket. */
  expireAt: (bucketStart: number) => number;
}

export type JoinSideName = 'left' | 'right';

/** The join state changes of one checkpoint (see JoinState.changes in libs/pipeline). */
export interface JoinWrite {
  appends: readonly { side: JoinSideName; start: number; data: Buffer }[];
  matched: readonly { side: JoinSideName; start: number; data: Buffer }[];
  released: readonly { side: JoinSideName; start: number }[];
  /** Watermark snapshot kept in the checkpoint hash, field `join`. */
  meta: string;
}

/** Find-my-event records of this checkpoint, all in the bucket of its time. */
export interface EventIndexWrite {
  bucketStart: number;
  expireAt: number;
  /** Most bytes the bucket's log may hold; a segment that does not fit is skipped
   * (EVENT_INDEX_MAX_BYTES). */
  maxBytes: number;
  count: number;
  /** The records as one log segment (libs/telemetry event-index.ts), appended as it is. */
  segment: Buffer;
}

export interface CheckpointWrite {
  pipeline: string;
  partition: number;
  leaseValue: string;
  /** Omitted when the checkpoint carries no rows: no outbox entry is written then. */
  batch?: { id: string; payload: Buffer };
  /** Last applied mailbox stream id. */
  cursor: string;
  /** `topic/partition` -> first offset not yet applied. */
  next: ReadonlyMap<string, number>;
  seq: number;
  /** The stored generation + 1 (see the script): makes a re-sent step a no-op. */
  gen: number;
  /** Bytes at the head of the dedup forget list that the actor applied: removed by this step. */
  forgetsConsumed?: number;
  counters: Readonly<Record<string, number>>;
  deadLetters: readonly DeadLetter[];
  /** The definition version the actor runs (PipelineStore), recorded with the checkpoint: the
   * rows of this step were made by it, and GET /pipelines/:id shows it per partition. */
  definitionVersion?: number;
  dedup?: DedupWrite;
  join?: JoinWrite;
  eventIndex?: EventIndexWrite;
}

export interface StoredCheckpoint {
  cursor: string;
  next: Map<string, number>;
  seq: number;
  /** Generation of the last step written (0 before the first). */
  gen: number;
  /** The join watermark snapshot, when the pipeline has a join. */
  join?: string;
  /** The definition version of the last step (absent before versions were recorded). */
  definitionVersion?: number;
}

const joinMember = (side: JoinSideName, start: number) => `${side === 'left' ? 'L' : 'R'}:${start}`;

export interface CheckpointResult {
  /** 'already-applied' when this generation was written before. */
  outcome: 'applied' | 'already-applied';
  /** The dedup forget list as it stands after the step: the actor applies it next. */
  forgets: Buffer;
}

/**
 * Runs the atomic step; throws FencedError when the lease is not ours and StaleCheckpointError
 * when the generation does not follow the stored one (nothing written either way).
 */
export async function writeCheckpoint(redis: Redis, w: CheckpointWrite): Promise<CheckpointResult> {
  const { pipeline: p, partition: n } = w;
  const batchId = w.batch?.id ?? '';
  const scriptKeys = [
    keys.lease(p, n),
    keys.checkpoint(p, n),
    keys.outboxIndex(p, n),
    // A key is passed even without a batch so the key count stays fixed; it is not touched then.
    keys.outboxBatch(p, n, batchId === '' ? '-' : batchId),
    keys.counters(p, n),
    keys.deadLetters(p, n),
    keys.mailbox(p, n),
    keys.dedupIndex(p, n),
    keys.joinIndex(p, n),
    keys.dedupForgets(p, n),
  ];
  const args: ScriptArg[] = [
    w.leaseValue,
    batchId,
    w.batch?.payload ?? '',
    w.cursor,
    JSON.stringify(Object.fromEntries(w.next)),
    w.seq,
    w.gen,
    w.forgetsConsumed ?? 0,
    w.definitionVersion ?? '',
  ];
  const counters = Object.entries(w.counters).filter(([, v]) => v !== 0);
  args.push(counters.length);
  for (const [name, value] of counters) args.push(name, value);
  args.push(w.deadLetters.length);
  for (const d of w.deadLetters) args.push(...deadLetterArgs(d));
  const forgotten = w.dedup?.forgotten ?? new Map<number, Buffer>();
  const forgottenLegacy = w.dedup?.forgottenLegacy ?? new Map<number, Buffer>();
  args.push(forgotten.size + forgottenLegacy.size);
  for (const [start, hashes] of forgotten) {
    scriptKeys.push(keys.dedupBucket(p, n, start));
    args.push(12, hashes);
  }
  for (const [start, hashes] of forgottenLegacy) {
    scriptKeys.push(keys.dedupBucket64(p, n, start));
    args.push(8, hashes);
  }
  const appends = w.dedup?.appends ?? new Map<number, Buffer>();
  args.push(appends.size);
  for (const [start, data] of appends) {
    scriptKeys.push(keys.dedupBucket(p, n, start));
    args.push(start, (w.dedup as DedupWrite).expireAt(start), data);
  }
  const expired = w.dedup?.expired ?? [];
  args.push(expired.length);
  for (const start of expired) {
    scriptKeys.push(keys.dedupBucket(p, n, start), keys.dedupBucket64(p, n, start));
    args.push(start);
  }
  const join = w.join;
  args.push(join?.appends.length ?? 0);
  for (const a of join?.appends ?? []) {
    scriptKeys.push(keys.joinBucket(p, n, a.side, a.start));
    args.push(joinMember(a.side, a.start), a.start, a.data);
  }
  args.push(join?.matched.length ?? 0);
  for (const m of join?.matched ?? []) {
    scriptKeys.push(keys.joinMatched(p, n, m.side, m.start));
    args.push(m.data);
  }
  args.push(join?.released.length ?? 0);
  for (const r of join?.released ?? []) {
    scriptKeys.push(
      keys.joinBucket(p, n, r.side, r.start),
      keys.joinMatched(p, n, r.side, r.start),
    );
    args.push(joinMember(r.side, r.start));
  }
  args.push(join?.meta ?? '');
  const index = w.eventIndex;
  if (index !== undefined && index.count > 0) {
    scriptKeys.push(keys.eventIndex(p, n, index.bucketStart));
    args.push(index.count, index.expireAt, index.maxBytes, index.segment);
  }
  try {
    const reply = (await CHECKPOINT.runBuffer(redis, scriptKeys, args)) as [number, Buffer];
    return {
      outcome: reply[0] === 0 ? 'already-applied' : 'applied',
      forgets: Buffer.isBuffer(reply[1]) ? reply[1] : Buffer.alloc(0),
    };
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('FENCED')) {
      throw new FencedError(`${p}/${n}: ${err.message}`);
    }
    if (err instanceof Error && err.message.startsWith('STALE_CHECKPOINT')) {
      throw new StaleCheckpointError(`${p}/${n}: ${err.message}`);
    }
    throw err;
  }
}

export async function readCheckpoint(
  redis: Redis,
  pipeline: string,
  partition: number,
): Promise<StoredCheckpoint | undefined> {
  const stored = await redis.hgetall(keys.checkpoint(pipeline, partition));
  if (stored.cursor === undefined) return undefined;
  const next = JSON.parse(stored.next ?? '{}') as Record<string, number>;
  return {
    cursor: stored.cursor,
    next: new Map(Object.entries(next)),
    seq: Number(stored.seq ?? 0),
    gen: Number(stored.gen ?? 0),
    join: stored.join,
    definitionVersion: stored.version === undefined ? undefined : Number(stored.version),
  };
}

export interface StoredJoinBucket {
  side: JoinSideName;
  start: number;
  data: Buffer;
  matched?: Buffer;
}

/** Every live join bucket of an actor with its matched flags, oldest first. */
export async function readJoinBuckets(
  redis: Redis,
  pipeline: string,
  partition: number,
): Promise<StoredJoinBucket[]> {
  const members = await redis.zrange(keys.joinIndex(pipeline, partition), 0, -1);
  if (members.length === 0) return [];
  const parsed = members.map((member) => {
    const side: JoinSideName = member.startsWith('L:') ? 'left' : 'right';
    return { side, start: Number(member.slice(2)) };
  });
  const tx = redis.pipeline();
  for (const { side, start } of parsed) {
    tx.getBuffer(keys.joinBucket(pipeline, partition, side, start));
    tx.getBuffer(keys.joinMatched(pipeline, partition, side, start));
  }
  const replies = (await tx.exec()) ?? [];
  const result: StoredJoinBucket[] = [];
  parsed.forEach(({ side, start }, i) => {
    const [err, data] = replies[2 * i] ?? [null, null];
    const [err2, matched] = replies[2 * i + 1] ?? [null, null];
    if (err) throw err;
    if (err2) throw err2;
    if (!(data instanceof Buffer)) return;
    result.push({ side, start, data, matched: matched instanceof Buffer ? matched : undefined });
  });
  return result;
}

/** One live dedup bucket's strings: either may be missing. */
export interface StoredDedupBucket {
  /** 12-byte hashes (`keys.dedupBucket`). */
  records?: Buffer;
  /** 8-byte hashes an earlier version wrote (`keys.dedupBucket64`), until the bucket expires. */
  legacy?: Buffer;
}

/**
 * Every live dedup bucket of an actor (start -> its strings); forgets index members whose keys
 * both expired.
 */
export async function readDedupBuckets(
  redis: Redis,
  pipeline: string,
  partition: number,
): Promise<Map<number, StoredDedupBucket>> {
  const index = keys.dedupIndex(pipeline, partition);
  const starts = await redis.zrange(index, 0, -1);
  const result = new Map<number, StoredDedupBucket>();
  if (starts.length === 0) return result;
  const tx = redis.pipeline();
  for (const start of starts) {
    tx.getBuffer(keys.dedupBucket(pipeline, partition, Number(start)));
    tx.getBuffer(keys.dedupBucket64(pipeline, partition, Number(start)));
  }
  const replies = (await tx.exec()) ?? [];
  const gone: string[] = [];
  starts.forEach((start, i) => {
    const [err, records] = replies[2 * i] ?? [null, null];
    const [err64, legacy] = replies[2 * i + 1] ?? [null, null];
    if (err) throw err;
    if (err64) throw err64;
    const bucket: StoredDedupBucket = {};
    if (records instanceof Buffer) bucket.records = records;
    if (legacy instanceof Buffer) bucket.legacy = legacy;
    if (bucket.records === undefined && bucket.legacy === undefined) gone.push(start);
    else result.set(Number(start), bucket);
  });
  if (gone.length > 0) await redis.zrem(index, ...gone);
  return result;
}
