/** A W3C trace context as carried in Kafka headers, mailbox entries and outbox batches. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Parses `00-<trace id>-<span id>-<flags>`; undefined for anything else (a bad header from a
 * producer must never fail an event). Only version 00 fields are read, as the spec asks of
 * unknown higher versions too.
 */
export function parseTraceParent(text: string | undefined): TraceParent | undefined {
  if (text === undefined || text.length < 55) return undefined;
  const version = text.slice(0, 2);
  if (version === 'ff' || text[2] !== '-' || text[35] !== '-' || text[52] !== '-') return undefined;
  if (version === '00' && text.length !== 55) return undefined;
  const traceId = text.slice(3, 35).toLowerCase();
  const spanId = text.slice(36, 52).toLowerCase();
  const flags = text.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceParent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

/**
 * The same context marked not sampled (what travels when the event is not traced), re-formatted
 * from its parsed fields so any sampled flag combination (`01`, `03`, ...) is cleared; a context
 * that does not parse is dropped.
 */
export function unsampled(text: string): string | undefined {
  const parent = parseTraceParent(text);
  return parent && formatTraceParent(parent.traceId, parent.spanId, false);
}
