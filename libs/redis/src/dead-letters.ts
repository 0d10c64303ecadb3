import { isUtf8 } from 'node:buffer';
import type { ForgottenKey } from './dedup-forgets';

/*
 * The dead-letter record: one entry of a partition's dead-letter stream (`keys.deadLetters`).
 * The actor's checkpoint script, the writer's script, the admin API and the tests all read or
 * write it, so its fields, their order and their reading live here and nowhere else.
 */

/** The stream entry's fields, in the order every writer puts them. */
export const DEAD_LETTER_FIELDS = [
  'stage',
  'error',
  'topic',
  'partition',
  'offset',
  'message',
  'at',
] as const;

/**
 * A field after DEAD_LETTER_FIELDS, only in a dead letter of stage `insert` whose row had a dedup
 * key: the key's hash and dedup time (`encodeDeadLetterKey`), the key the writer forgot in the
 * same step. A DLQ replay records it again with the row (libs/redis dlq-replay.ts), so that a
 * copy of the event re-sent after the replay is a duplicate. Dead letters written before it have
 * no such field: their rows replay without recording a key.
 */
export const DEAD_LETTER_KEY_FIELD = 'dedupKey';

/** One dead letter as a role writes it. */
export interface DeadLetter {
  /** parse, filter, dedup, transform, join (the actor) or insert (the writer). */
  stage: string;
  error: string;
  /** Source position; '' where it is not known (an unreadable mailbox entry). */
  topic: string;
  partition: number | '';
  offset: number | '';
  /** The original message text (for stage insert: the row as JSON), or the original bytes when
   * they are not UTF-8 (Redis keeps them as they are). */
  message: string | Buffer;
  /** Epoch ms (the actor) or ISO 8601 text (the writer). */
  at: number | string;
  /** Stage insert: the row's dedup key, forgotten with this dead letter (DEAD_LETTER_KEY_FIELD). */
  dedupKey?: ForgottenKey;
}

/** The record as script arguments, in DEAD_LETTER_FIELDS order. */
export function deadLetterArgs(d: DeadLetter): (string | number | Buffer)[] {
  return [d.stage, d.error, d.topic, d.partition, d.offset, d.message, d.at];
}

/** The record as XADD's field/value list (fixtures, and clients that XADD themselves). */
export function deadLetterEntry(d: DeadLetter): (string | number | Buffer)[] {
  const values = deadLetterArgs(d);
  const entry = DEAD_LETTER_FIELDS.flatMap((field, i) => [field, values[i] ?? '']);
  if (d.dedupKey) entry.push(DEAD_LETTER_KEY_FIELD, encodeDeadLetterKey(d.dedupKey));
  return entry;
}

/**
 * DEAD_LETTER_KEY_FIELD's value: the hash as hex, '@', the dedup time in epoch ms (text, so the
 * DLQ stays readable with redis-cli).
 */
export function encodeDeadLetterKey(key: ForgottenKey): string {
  return `${key.hash.toString('hex')}@${key.time}`;
}

/** The key of DEAD_LETTER_KEY_FIELD's value; undefined for anything else. */
export function decodeDeadLetterKey(text: string): ForgottenKey | undefined {
  const match = /^((?:[0-9a-f]{2})+)@(-?\d+(?:\.\d+)?)$/.exec(text);
  if (match === null) return undefined;
  return { hash: Buffer.from(match[1] as string, 'hex'), time: Number(match[2]) };
}

/**
 * Lua for the field/value list of one XADD, with the record's arguments at ARGV[<base>],
 * ARGV[<base> + 1], ... (e.g. `'stage', ARGV[i], 'error', ARGV[i + 1], ...` for base 'i'):
 * the scripts spell no field name themselves.
 */
export function luaDeadLetterFields(base: string): string {
  return DEAD_LETTER_FIELDS.map(
    (f, j) => `'${f}', ARGV[${j === 0 ? base : `${base} + ${j}`}]`,
  ).join(', ');
}

/** One dead letter as the admin API returns it. */
export interface StoredDeadLetter {
  /** Stream entry id; ids of one partition grow with time. */
  id: string;
  pipelinePartition: number;
  stage: string;
  error: string;
  topic: string;
  /** Null where the record has no source position. */
  partition: number | null;
  offset: number | null;
  message: string;
  /** Present when the stored message is not UTF-8 (a producer's invalid bytes, kept as they
   * are): `message` is then those bytes in base64. */
  messageEncoding?: 'base64';
  /** ISO 8601. */
  at: string;
}

/** Reads one stream entry (XRANGE's flat field/value list) of pipeline partition `n`. */
export function readDeadLetter(id: string, n: number, flat: readonly string[]): StoredDeadLetter {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  const num = (name: string): number | null => {
    const text = fields.get(name);
    return text === undefined || text === '' || !Number.isFinite(Number(text))
      ? null
      : Number(text);
  };
  return {
    id,
    pipelinePartition: n,
    stage: fields.get('stage') ?? '',
    error: fields.get('error') ?? '',
    topic: fields.get('topic') ?? '',
    partition: num('partition'),
    offset: num('offset'),
    message: fields.get('message') ?? '',
    at: streamEntryTime(fields.get('at'), id),
  };
}

/** `at` as ISO text: written as epoch ms or as ISO text; without it, the stream id's time. */
export function streamEntryTime(at: string | undefined, id: string): string {
  const text = at ?? '';
  const ms = /^\d+$/.test(text) ? Number(text) : text === '' ? Number(id.split('-')[0]) : NaN;
  if (Number.isFinite(ms)) return new Date(ms).toISOString();
  return text;
}

/**
 * Reads one stream entry fetched as bytes (XRANGE with buffers), so that a message that is not
 * UTF-8 comes back unaltered: as base64, flagged by `messageEncoding`.
 */
export function readDeadLetterBuffers(
  id: string,
  n: number,
  fields: readonly Buffer[],
): StoredDeadLetter {
  let binary = false;
  const flat = fields.map((field, i) => {
    if (i % 2 === 1 && fields[i - 1]?.toString() === 'message' && !isUtf8(field)) {
      binary = true;
      return field.toString('base64');
    }
    return field.toString();
  });
  const letter = readDeadLetter(id, n, flat);
  if (binary) letter.messageEncoding = 'base64';
  return letter;
}
