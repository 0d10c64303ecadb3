/*
 * The dedup "forget" list of one actor (`keys.dedupForgets`): keys whose row was dead-lettered at
 * insert. The writer appends them in the same script that dead-letters the rows; the actor takes
 * them out of its dedup state and consumes the list in a checkpoint (checkpoint.ts). Without it a
 * re-sent copy of a refused event would be dropped as a duplicate of a row that was never written.
 *
 * Entry (little endian): u8 hash bytes H, f64 dedup time ms (picks the time bucket, so the same
 * key recorded in another bucket for an earlier event stays), H bytes key hash.
 */

export interface ForgottenKey {
  hash: Buffer;
  time: number;
}

export function encodeForgets(keys: readonly ForgottenKey[]): Buffer {
  const parts: Buffer[] = [];
  for (const { hash, time } of keys) {
    const head = Buffer.allocUnsafe(9);
    head[0] = hash.length;
    head.writeDoubleLE(time, 1);
    parts.push(head, hash);
  }
  return Buffer.concat(parts);
}

/** The whole entries of `data`; a torn tail (never written by the script) is left out. */
export function decodeForgets(data: Buffer): ForgottenKey[] {
  const keys: ForgottenKey[] = [];
  for (let at = 0; at + 9 <= data.length;) {
    const size = data[at] ?? 0;
    if (at + 9 + size > data.length) break;
    keys.push({
      time: data.readDoubleLE(at + 1),
      hash: Buffer.from(data.subarray(at + 9, at + 9 + size)),
    });
    at += 9 + size;
  }
  return keys;
}
