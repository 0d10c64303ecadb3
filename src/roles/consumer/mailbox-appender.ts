import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import { MAILBOX_FIELD, MAILBOX_PARTS_FIELD, type UnparsedEntryVersion } from '@sluice/pipeline';

/** A mailbox append or length check failed; the Kafka batch must not be committed. */
export class MailboxAppendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MailboxAppendError';
  }
}

/**
 * Largest stream entry built from several entries (mergeAppends): about 3,500 events of 150 B,
 * less than a full range (CONSUMER_LINGER_MAX_EVENTS), so an actor's batch passes `maxRows` by no
 * more than one entry's worth, as before.
 */
const MERGE_BYTES = 512 * 1024;

/**
 * No merged stream entries while rolling out (MAILBOX_ENTRY_VERSION=2): owners of earlier
 * versions read one entry per stream entry (MAILBOX_PARTS_FIELD).
 */
export function mergeBytesFor(entryVersion: UnparsedEntryVersion): number {
  return entryVersion === 3 ? MERGE_BYTES : 0;
}

export interface MailboxAppend {
  mailbox: number;
  entry: Buffer;
}

/**
 * Appends packed entries and reads the length of every mailbox appended to, in one pipelined
 * round trip. Not atomic (the mailboxes live in different hash slots): on any error some entries
 * may be in; the caller then does not commit and the batch is read and appended again, which the
 * actors' per-source-partition `next` makes harmless. Returns the longest length seen (0 if none).
 */
export async function appendToMailboxes(
  redis: Redis,
  pipelineId: string,
  appends: readonly MailboxAppend[],
  mergeBytes = 0,
): Promise<number> {
  if (appends.length === 0) return 0;
  const pipeline = redis.pipeline();
  const streamEntries = mergeAppends(appends, mergeBytes);
  for (const { mailbox, entries } of streamEntries) {
    const key = keys.mailbox(pipelineId, mailbox);
    const only = entries.length === 1 ? entries[0] : undefined;
    if (only !== undefined) pipeline.xadd(key, '*', MAILBOX_FIELD, only);
    else pipeline.xadd(key, '*', ...entries.flatMap((entry) => [MAILBOX_PARTS_FIELD, entry]));
  }
  const targets = [...new Set(appends.map((a) => a.mailbox))];
  for (const mailbox of targets) pipeline.xlen(keys.mailbox(pipelineId, mailbox));
  const replies = await execOrThrow(pipeline.exec(), 'append');
  return Math.max(0, ...replies.slice(streamEntries.length).map(Number));
}

/**
 * Groups the entries bound for one mailbox into stream entries of up to `mergeBytes` (0: one
 * stream entry per entry, as before), in their order. One stream entry of several entries costs
 * Redis one XADD and the actor one stream entry to read, instead of one per source partition:
 * a live stream's flushes carry a few events per source partition and mailbox.
 */
export function mergeAppends(
  appends: readonly MailboxAppend[],
  mergeBytes: number,
): { mailbox: number; entries: Buffer[] }[] {
  const out: { mailbox: number; entries: Buffer[]; bytes: number }[] = [];
  const open = new Map<number, { mailbox: number; entries: Buffer[]; bytes: number }>();
  for (const { mailbox, entry } of appends) {
    const current = open.get(mailbox);
    if (current !== undefined && current.bytes + entry.length <= mergeBytes) {
      current.entries.push(entry);
      current.bytes += entry.length;
      continue;
    }
    const next = { mailbox, entries: [entry], bytes: entry.length };
    out.push(next);
    open.set(mailbox, next);
  }
  return out.map(({ mailbox, entries }) => ({ mailbox, entries }));
}

/** XLEN of every mailbox of a pipeline, pipelined. */
export async function mailboxLengths(
  redis: Redis,
  pipelineId: string,
  partitions: number,
): Promise<number[]> {
  const pipeline = redis.pipeline();
  for (let partition = 0; partition < partitions; partition += 1) {
    pipeline.xlen(keys.mailbox(pipelineId, partition));
  }
  return (await execOrThrow(pipeline.exec(), 'length check')).map(Number);
}

async function execOrThrow(
  exec: Promise<[error: Error | null, result: unknown][] | null>,
  what: string,
): Promise<unknown[]> {
  let replies: [Error | null, unknown][] | null;
  try {
    replies = await exec;
  } catch (err) {
    throw new MailboxAppendError(`mailbox ${what} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!replies) throw new MailboxAppendError(`mailbox ${what} failed: no reply`);
  return replies.map(([error, result]) => {
    if (error) throw new MailboxAppendError(`mailbox ${what} failed: ${error.message}`);
    return result;
  });
}
