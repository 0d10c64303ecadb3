import { isUtf8 } from 'node:buffer';

/**
 * The rules every Kafka message must pass before it travels to an actor (README "Input rules").
 * The consumer checks them on the message's bytes; a message that fails one is dead-lettered
 * (stage `parse`) with the reason, and never fails the events around it.
 */

/**
 * Deepest nesting of objects and arrays, the top-level object counting as 1. Deeper values are
 * refused before they are parsed: msgpack, JSON.stringify and the CEL evaluator recurse per
 * level, and a 2,000-deep message once threw in the consumer's encoder on every retry, stalling
 * its partition for good.
 */
export const MAX_JSON_DEPTH = 128;

/** Default of MAX_MESSAGE_BYTES: well above Kafka's default 1 MB message size. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** Largest MAX_MESSAGE_BYTES allowed: one message always fits a mailbox entry part (below). */
export const MAX_MESSAGE_BYTES_LIMIT = 32 * 1024 * 1024;

/*
 * Byte bounds, far below Redis's 512 MB bulk limit (proto-max-bulk-len), past which an XADD or a
 * script call fails every time it is retried and the partition stalls.
 */

/** Most bytes of one mailbox entry: a larger one is split into parts (EntryBuilder.encodeParts). */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024;

/** A consumer appends a source partition's buffered batches once their messages reach this. */
export const ENTRY_FLUSH_BYTES = 16 * 1024 * 1024;

/**
 * An actor closes its open batch once its rows and dead letters reach this (the outbox body and
 * the checkpoint call). Entries are applied whole, so a batch can pass it by what one entry
 * adds: at most MAX_ENTRY_BYTES of messages.
 */
export const BATCH_FLUSH_BYTES = 32 * 1024 * 1024;

/**
 * Why a message's bytes are refused, or undefined when they pass. Size first (nothing of an
 * oversize message is read), then UTF-8, then depth. `limits.maxMessageBytes` is
 * MAX_MESSAGE_BYTES; the depth is only checked when `checkDepth` (the key scanner already
 * refuses deeper messages it accepts).
 */
export function messageProblem(
  bytes: Uint8Array,
  maxMessageBytes: number,
  checkDepth = true,
): string | undefined {
  if (bytes.length > maxMessageBytes) return sizeProblem(bytes.length, maxMessageBytes);
  if (!isUtf8(bytes)) return utf8Problem(bytes);
  if (checkDepth && depthExceeds(bytes, MAX_JSON_DEPTH)) {
    return `nested too deeply: more than ${MAX_JSON_DEPTH} levels of objects and arrays`;
  }
  return undefined;
}

export function sizeProblem(length: number, maxMessageBytes: number): string {
  return (
    `message of ${length} bytes is larger than MAX_MESSAGE_BYTES (${maxMessageBytes}); ` +
    'not kept here, read it from its topic, partition and offset'
  );
}

/** The reason names the first bad byte, so the producer's bug can be found. */
function utf8Problem(bytes: Uint8Array): string {
  return `invalid UTF-8 at byte ${firstBadUtf8(bytes)}; the original bytes are kept`;
}

/**
 * Whether JSON text nests objects and arrays deeper than `limit`, counting brackets outside
 * strings in one pass (linear, no recursion). Text that is not JSON may give either answer: it
 * is refused either way.
 */
export function depthExceeds(bytes: Uint8Array, limit: number): boolean {
  let depth = 0;
  const end = bytes.length;
  for (let i = 0; i < end; i += 1) {
    const c = bytes[i] as number;
    if (c === QUOTE) {
      // Skip the string: a backslash escapes the byte after it.
      for (i += 1; i < end; i += 1) {
        const d = bytes[i] as number;
        if (d === QUOTE) break;
        if (d === BACKSLASH) i += 1;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth -= 1;
    }
  }
  return false;
}

/** Index of the first byte where `bytes` stops being well-formed UTF-8 (RFC 3629). */
export function firstBadUtf8(bytes: Uint8Array): number {
  const end = bytes.length;
  let i = 0;
  while (i < end) {
    const c = bytes[i] as number;
    if (c < 0x80) {
      i += 1;
      continue;
    }
    let n: number;
    let min: number;
    let max = 0xbf;
    // The second byte's range rules out overlong forms, surrogates and code points > U+10FFFF.
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = c === 0xe0 ? 0xa0 : 0x80;
      if (c === 0xed) max = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = c === 0xf0 ? 0x90 : 0x80;
      if (c === 0xf4) max = 0x8f;
    } else {
      return i;
    }
    const second = bytes[i + 1];
    if (second === undefined || second < min || second > max) return i;
    for (let k = 2; k <= n; k += 1) {
      const next = bytes[i + k];
      if (next === undefined || next < 0x80 || next > 0xbf) return i;
    }
    i += n + 1;
  }
  return end;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
