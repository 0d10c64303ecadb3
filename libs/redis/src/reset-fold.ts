import type { Redis } from 'ioredis';
import { keys } from './keys';
import { LuaScript } from './scripts/lua-script';

/*
 * A reset to fewer partitions (README "Editing a pipeline", `PUT ?reset=true`): pipeline
 * partitions `count` and up have no actor afterwards, and GET /dlq, replay, discard and the
 * counters only look at partitions below `count`. Their dead letters and counters are moved
 * into partition `n % count` before the reset drops the state, so no dead letter leaves the
 * user's view and the totals stay whole.
 *
 * The two partitions are two hash slots (no script may touch both on Redis Cluster), so each
 * move is made safe to repeat instead: one script on the target's slot adds the entry (or
 * counters) and records `<n>/<id>` (or `<n>/counters`) in the target's fold marker, and adds
 * nothing when the marker is already there; the source is removed after. A crash between the
 * two leaves a marker, and the reset sent again removes the source without adding it twice. The
 * markers are per-partition state the reset's drop removes once every source is gone.
 */

// KEYS: 1 target dead letters, 2 target fold marker. ARGV: 1 marker member, then the entry's
// fields as stored (field, value, ...). Returns 1 when added, 0 when it was added before.
const MOVE_LETTER = new LuaScript(
  'reset-fold-letter',
  `
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
return 1
`,
);

// KEYS: 1 target counters, 2 target fold marker. ARGV: 1 marker member, then name, value, ...
const ADD_COUNTERS = new LuaScript(
  'reset-fold-counters',
  `
if redis.call('HSETNX', KEYS[2], ARGV[1], '1') == 0 then return 0 end
for i = 2, #ARGV - 1, 2 do
  local value = ARGV[i + 1]
  if string.match(value, '^-?%d+$') then
    redis.call('HINCRBY', KEYS[1], ARGV[i], value)
  elseif tonumber(value) then
    redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], value)
  end
end
return 1
`,
);

/** Dead letters read per round trip. */
const CHUNK = 500;
const SCAN_COUNT = 1_000;

export interface FoldedPartition {
  /** The removed pipeline partition. */
  from: number;
  /** The partition that holds its dead letters and counters now. */
  to: number;
  /** Dead letters moved by this call (0 for those moved by an earlier, interrupted call). */
  letters: number;
}

/**
 * Moves the dead letters and counters of every pipeline partition `count` and up into
 * partition `n % count` (see above). Nothing may write them meanwhile (the reset has stopped
 * the pipeline's actors). Returns the partitions that had something to move.
 */
export async function foldRemovedPartitions(
  redis: Redis,
  pipeline: string,
  count: number,
): Promise<FoldedPartition[]> {
  const folded: FoldedPartition[] = [];
  for (const from of await partitionsFrom(redis, pipeline, count)) {
    const to = from % count;
    const marker = keys.resetFold(pipeline, to);
    const source = keys.deadLetters(pipeline, from);
    const target = keys.deadLetters(pipeline, to);
    let letters = 0;
    for (;;) {
      const entries = await redis.xrangeBuffer(source, '-', '+', 'COUNT', CHUNK);
      if (entries.length === 0) break;
      const ids: string[] = [];
      // One at a time, oldest first: the target lists them in their original order.
      for (const [idBytes, fields] of entries) {
        const id = idBytes.toString();
        ids.push(id);
        letters += Number(
          await MOVE_LETTER.run(redis, [target, marker], [`${from}/${id}`, ...fields]),
        );
      }
      await redis.xdel(source, ...ids);
    }
    await redis.del(source);
    const counters = await redis.hgetall(keys.counters(pipeline, from));
    const flat = Object.entries(counters).flat();
    if (flat.length > 0) {
      await ADD_COUNTERS.run(
        redis,
        [keys.counters(pipeline, to), marker],
        [`${from}/counters`, ...flat],
      );
      await redis.del(keys.counters(pipeline, from));
    }
    folded.push({ from, to, letters });
  }
  return folded;
}

/** Pipeline partitions `count` and up that have dead letters or counters, ascending. */
async function partitionsFrom(redis: Redis, pipeline: string, count: number): Promise<number[]> {
  const prefix = `{sl:${pipeline}:`;
  const found = new Set<number>();
  let cursor = '0';
  do {
    const [next, all] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_COUNT);
    cursor = next;
    for (const key of all) {
      const match = /^(\d+)\}:(dlq|counters)$/.exec(key.slice(prefix.length));
      if (match && Number(match[1]) >= count) found.add(Number(match[1]));
    }
  } while (cursor !== '0');
  return [...found].sort((a, b) => a - b);
}
