import type { Redis } from 'ioredis';
import { DEAD_LETTER_KEY_FIELD, decodeDeadLetterKey } from './dead-letters';
import type { ForgottenKey } from './dedup-forgets';
import { keys } from './keys';
import { LuaScript } from './scripts/lua-script';

/*
 * DLQ replay (POST /pipelines/:id/dlq/replay): dead letters go back through their partition's
 * actor. The admin API moves them and the owner reads them, so the move and the entry's format
 * live here.
 *
 * Exactly once: one script removes the dead letters from the partition's dead-letter stream and
 * appends them to the same partition's mailbox as one replay entry, so no crash between two
 * calls can lose an entry or move it twice; a replay asked again finds only what is still in the
 * DLQ. The actor then applies the replay entry like any mailbox entry: under its cursor, in one
 * checkpoint with the rows, dead letters and dedup adds it produced, so a restart redoes it at
 * most once more before the checkpoint and never after.
 *
 * The replay entry is one stream entry: field `r` (the format version, '1') first, then per dead
 * letter the field `id` (its id in the dead-letter stream), then its stored fields as they are
 * (dead-letters.ts DEAD_LETTER_FIELDS), so the original bytes travel unaltered. Repeated field
 * names are fine in a stream entry; nothing else writes `r` or `id` into a mailbox.
 */

/** The first field of a replay entry; a consumer's entry has `e` (MAILBOX_FIELD) instead. */
export const REPLAY_FIELD = 'r';
const REPLAY_VERSION = '1';
/** A replay entry holds at most this many bytes of stored fields (at least one dead letter)... */
export const REPLAY_ENTRY_MAX_BYTES = 16 * 1024 * 1024;
/** ...and at most this many dead letters (the script unpacks 16 values each, Lua caps at 8000). */
export const REPLAY_ENTRY_MAX_LETTERS = 250;

// KEYS: 1 dead letters, 2 mailbox, 3 counters. ARGV: 1 most bytes, 2 most letters, then dead-letter
// ids. Ids no longer in the stream (replayed or discarded meanwhile) are skipped. Returns
// {letters moved, ids looked at}: the caller sends the ids not looked at again.
const MOVE = new LuaScript(
  'dlq-replay-move',
  `
local maxBytes = tonumber(ARGV[1])
local maxLetters = tonumber(ARGV[2])
local fields = {'${REPLAY_FIELD}', '${REPLAY_VERSION}'}
local moved = {}
local bytes = 0
local i = 3
while i <= #ARGV and #moved < maxLetters do
  local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i], 'COUNT', 1)[1]
  if entry then
    local flat = entry[2]
    local size = 0
    for j = 2, #flat, 2 do size = size + #flat[j] end
    if #moved > 0 and bytes + size > maxBytes then break end
    bytes = bytes + size
    moved[#moved + 1] = ARGV[i]
    fields[#fields + 1] = 'id'
    fields[#fields + 1] = ARGV[i]
    for j = 1, #flat do fields[#fields + 1] = flat[j] end
  end
  i = i + 1
end
if #moved > 0 then
  redis.call('XDEL', KEYS[1], unpack(moved))
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  redis.call('HINCRBY', KEYS[3], 'replayed', #moved)
end
return {#moved, i - 3}
`,
);

/**
 * Moves the dead letters `ids` (stream ids, oldest first preferred) of pipeline partition
 * `partition` into its mailbox, in as many replay entries as their size needs. Returns how many
 * were moved (ids no longer in the DLQ are not counted).
 */
export async function moveDeadLettersToMailbox(
  redis: Redis,
  pipeline: string,
  partition: number,
  ids: readonly string[],
): Promise<number> {
  const keyList = [
    keys.deadLetters(pipeline, partition),
    keys.mailbox(pipeline, partition),
    keys.counters(pipeline, partition),
  ];
  let moved = 0;
  let at = 0;
  while (at < ids.length) {
    const chunk = ids.slice(at, at + REPLAY_ENTRY_MAX_LETTERS);
    const reply = (await MOVE.run(redis, keyList, [
      REPLAY_ENTRY_MAX_BYTES,
      REPLAY_ENTRY_MAX_LETTERS,
      ...chunk,
    ])) as [number, number];
    moved += Number(reply[0]);
    // At least one id is always looked at, so this ends.
    at += Math.max(1, Number(reply[1]));
  }
  return moved;
}

/** One dead letter of a replay entry, as the actor applies it again. */
export interface ReplayLetter {
  /** Its id in the dead-letter stream it came from. */
  dlqId: string;
  stage: string;
  error: string;
  /** Source position; '' / null where the dead letter had none. */
  topic: string;
  partition: number | null;
  offset: number | null;
  /** The stored message (stage insert: the row as sent), byte for byte. */
  message: Buffer;
  /** When it was dead-lettered, epoch ms (NaN when not known). */
  at: number;
  /** Stage insert: the row's dedup key, which the writer forgot (dead-letters.ts
   * DEAD_LETTER_KEY_FIELD); absent in dead letters written before it was kept. */
  dedupKey?: ForgottenKey;
}

/** True for a replay entry's fields (XREAD with buffers), without reading its dead letters. */
export function isReplayEntry(fields: readonly Buffer[]): boolean {
  return fields[0]?.toString() === REPLAY_FIELD;
}

/**
 * The dead letters of a mailbox entry's fields (XREAD with buffers), or undefined when the entry
 * is not a replay entry. Throws on a replay entry of another version.
 */
export function readReplayEntry(fields: readonly Buffer[]): ReplayLetter[] | undefined {
  if (fields.length < 2 || fields[0]?.toString() !== REPLAY_FIELD) return undefined;
  const version = fields[1]?.toString();
  if (version !== REPLAY_VERSION) {
    throw new Error(`replay entry version ${String(version)} is not supported`);
  }
  const letters: ReplayLetter[] = [];
  let letter: ReplayLetter | undefined;
  for (let i = 2; i + 1 < fields.length; i += 2) {
    const name = (fields[i] as Buffer).toString();
    const value = fields[i + 1] as Buffer;
    if (name === 'id') {
      letter = {
        dlqId: value.toString(),
        stage: '',
        error: '',
        topic: '',
        partition: null,
        offset: null,
        message: Buffer.alloc(0),
        at: Number.NaN,
      };
      letters.push(letter);
      continue;
    }
    if (letter === undefined) throw new Error('malformed replay entry: a field before any id');
    setField(letter, name, value);
  }
  return letters;
}

function setField(letter: ReplayLetter, name: string, value: Buffer): void {
  switch (name) {
    case 'stage':
    case 'error':
    case 'topic':
      letter[name] = value.toString();
      return;
    case 'partition':
    case 'offset': {
      const text = value.toString();
      letter[name] = text === '' || !Number.isFinite(Number(text)) ? null : Number(text);
      return;
    }
    case 'message':
      letter.message = value;
      return;
    case 'at': {
      // The actor writes epoch ms, the writer ISO text (dead-letters.ts).
      const text = value.toString();
      letter.at = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
      return;
    }
    case DEAD_LETTER_KEY_FIELD: {
      const key = decodeDeadLetterKey(value.toString());
      if (key) letter.dedupKey = key;
      return;
    }
    default:
    // A field a later version of the record may add: not needed to replay.
  }
}
