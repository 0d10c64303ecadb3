import { isUtf8 } from 'node:buffer';
import { messageProblem } from './input-rules';

/**
 * What a message's bytes parse to: a JSON object (`value`), or the reason it is refused with the
 * text kept (`raw`; '' when not read at all) or, when not UTF-8, the bytes themselves
 * (`rawBytes`), so a dead letter holds exactly what the producer sent. The one parse of a whole
 * message: the consumer's (batch-router.ts) and a DLQ replay's (the owner), so a replayed event
 * meets the same input rules (README "Input rules") as a consumed one.
 */
export type ParsedMessage =
  | { value: Record<string, unknown>; raw?: undefined; rawBytes?: undefined; error?: undefined }
  | { value?: undefined; raw: string; rawBytes?: undefined; error: string }
  | { value?: undefined; raw?: undefined; rawBytes: Buffer; error: string };

export function parseMessageBytes(
  bytes: Buffer | null | undefined,
  maxMessageBytes: number,
): ParsedMessage {
  if (bytes === null || bytes === undefined || bytes.length === 0) {
    return { raw: '', error: 'empty message' };
  }
  const problem = messageProblem(bytes, maxMessageBytes);
  if (problem !== undefined) {
    if (bytes.length > maxMessageBytes) return { raw: '', error: problem };
    // Copied: a Kafka fetch buffer must not outlive its batch.
    if (!isUtf8(bytes)) return { rawBytes: Buffer.from(bytes), error: problem };
    return { raw: bytes.toString('utf8'), error: problem };
  }
  const raw = bytes.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return { raw, error: `invalid JSON: ${(err as Error).message}` };
  }
  // Fields are read by name everywhere downstream; a bare number, string or list has none.
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { raw, error: 'message is not a JSON object' };
  }
  return { value: parsed as Record<string, unknown> };
}
