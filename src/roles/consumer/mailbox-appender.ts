import type { Redis } from 'ioredis';
import { keys } from '@sluice/redis';
import { MAILBOX_FIELD } from '@sluice/pipeline';

/** A mailbox append or length check failed; the Kafka batch must not be committed. */
export class MailboxAppendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MailboxAppendError';
  }
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
): Promise<number> {
  if (appends.length === 0) return 0;
  const pipeline = redis.pipeline();
  for (const { mailbox, entry } of appends) {
    pipeline.xadd(keys.mailbox(pipelineId, mailbox), '*', MAILBOX_FIELD, entry);
  }
  const targets = [...new Set(appends.map((a) => a.mailbox))];
  for (const mailbox of targets) pipeline.xlen(keys.mailbox(pipelineId, mailbox));
  const replies = await execOrThrow(pipeline.exec(), 'append');
  return Math.max(0, ...replies.slice(appends.length).map(Number));
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
