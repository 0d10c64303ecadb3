import type { MailboxEvent } from '@sluice/pipeline';
import { DEDUP_RECORD_BYTES } from '@sluice/pipeline/dedup';
import { MAX_MESSAGE_BYTES_LIMIT } from '@sluice/pipeline/mailbox/input-rules';
import { parseMessageBytes } from '@sluice/pipeline/mailbox/parse-message';
import type { ForgottenKey, ReplayLetter } from '@sluice/redis';

/** What an actor does with one replayed dead letter (EntryProcessor.applyReplay). */
export type Replay =
  /** Through every stage of the current definition, as if consumed again. */
  | { kind: 'event'; topic: string; partition: number; event: MailboxEvent }
  /**
   * Stage insert: the stored row goes to the table again as it is, through dedup with its key
   * (a 96-bit hash and its dedup time) when the dead letter kept one.
   */
  | {
      kind: 'row';
      topic: string;
      partition: number;
      event: { offset: number };
      line: string;
      key?: ForgottenKey;
    }
  /** Nothing to replay: dead-lettered again as it was. */
  | {
      kind: 'dead';
      error: string;
      message: string | Buffer;
      at: { topic: string; partition: number | ''; offset: number | '' };
    };

/**
 * Turns a replayed dead letter back into what the pipeline takes. Other stages than `insert` kept
 * the event's message (its original text, or bytes that are not UTF-8), which is parsed again
 * under the input rules; the size rule was applied when it was consumed (a message over
 * MAX_MESSAGE_BYTES was not kept, so it has nothing to replay). The Kafka timestamp is not part
 * of a dead letter: the time it was dead-lettered stands for it (dedup and join event time when
 * the source has no `eventTime`). A dead letter of stage `insert` holds the row as sent, not the
 * event (which the writer never had): that row is sent again, converted by nothing, with the
 * dedup key the writer forgot when it dead-lettered the row (not in dead letters written before
 * the key was kept, nor for 64-bit hashes of versions before 96-bit ones: such a row replays
 * without a key, as it always did).
 */
export function replayOf(letter: ReplayLetter): Replay {
  const { topic, partition, offset, message } = letter;
  if (topic === '' || partition === null || offset === null || message.length === 0) {
    // An unreadable mailbox entry, or a message too large to keep: the reason stays the news.
    const at = { topic, partition: partition ?? ('' as const), offset: offset ?? ('' as const) };
    return { kind: 'dead', error: letter.error, message, at };
  }
  if (letter.stage === 'insert') {
    const text = message.toString('utf8').replace(/\n+$/, '');
    if (!isJsonObjectLine(text)) {
      const error = 'the stored row is not one JSON object on one line; not replayed';
      return { kind: 'dead', error, message, at: { topic, partition, offset } };
    }
    const row: Replay = { kind: 'row', topic, partition, event: { offset }, line: `${text}\n` };
    if (letter.dedupKey?.hash.length === DEDUP_RECORD_BYTES) row.key = letter.dedupKey;
    return row;
  }
  const timestamp = Number.isFinite(letter.at) ? letter.at : Date.now();
  const parsed = parseMessageBytes(message, MAX_MESSAGE_BYTES_LIMIT);
  const event: MailboxEvent = { offset, timestamp };
  if (parsed.value !== undefined) event.value = parsed.value;
  else if (parsed.rawBytes !== undefined) {
    event.rawBytes = parsed.rawBytes;
    event.error = parsed.error;
  } else {
    event.raw = parsed.raw;
    event.error = parsed.error;
  }
  return { kind: 'event', topic, partition, event };
}

function isJsonObjectLine(text: string): boolean {
  if (text.includes('\n')) return false;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
