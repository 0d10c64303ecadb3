import type { Packr } from 'msgpackr';
import type { MailboxEvent } from './entry';

/**
 * The events with each one that msgpack cannot pack (a value nested past the packer's recursion,
 * whatever got past the input rules) replaced by a malformed event carrying the reason: the actor
 * dead-letters it alone and the others travel. Retrying the whole entry would fail forever and
 * stall the source partition.
 */
export function carriable(
  packer: Pick<Packr, 'pack'>,
  events: readonly MailboxEvent[],
): MailboxEvent[] {
  return events.map((event) => {
    try {
      packer.pack(event);
      return event;
    } catch (err) {
      const { offset, timestamp, key, traceparent } = event;
      const refused: MailboxEvent = {
        offset,
        timestamp,
        raw: textOf(event.value),
        error: `the event cannot be carried to the actor: ${String(err)}`,
      };
      if (key !== undefined) refused.key = key;
      if (traceparent !== undefined) refused.traceparent = traceparent;
      return refused;
    }
  });
}

function textOf(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
