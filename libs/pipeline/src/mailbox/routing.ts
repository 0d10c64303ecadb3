import xxhash from 'xxhash-wasm';

/**
 * Stable hashing (xxhash64, xxhash32): the same text gives the same hash in every process, version
 * and restart, which both routing and dedup state rely on.
 */
export interface Hasher {
  hash64(text: string): bigint;
  /**
   * A 96-bit hash (dedup keys): the low 64 bits are `hash64(text)`, the high 32 bits xxhash32
   * with its own seed. Keeping `hash64` as the low bits lets dedup state written with 64-bit
   * hashes (before 96) still match on them, and the find-my-event index keep its 8-byte records.
   */
  hash96(text: string): KeyHash;
  /** The pipeline partition of a routing key. */
  partitionOf(text: string, partitions: number): number;
}

/**
 * A 96-bit hash as its low 64 bits and its high 32, not as one bigint: building a 96-bit bigint
 * and splitting it again cost about four times the second hash itself (tools/hash96-cost.ts), on
 * the actor's path for every event.
 */
export interface KeyHash {
  /** `Hasher.hash64` of the text: what 64-bit dedup state and the find-my-event index hold. */
  readonly low: bigint;
  /** uint32. */
  readonly high: number;
}

/**
 * xxhash32's seed for the high 32 bits of `hash96` (the 32-bit golden ratio). Part of the stored
 * format: changing it makes every recorded dedup key unknown.
 */
const HIGH_SEED = 0x9e3779b1;

let loading: Promise<Hasher> | undefined;

/** Loads the WASM hasher once per process. */
export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api) => {
    // The last divisor as a BigInt: one pipeline's count, asked for every message.
    let count = 0;
    let divisor = 1n;
    return {
      hash64: (text: string) => api.h64(text),
      // Two hashes of the text: 100-200 ns more per key than one (tools/hash96-cost.ts).
      hash96: (text: string) => ({ low: api.h64(text), high: api.h32(text, HIGH_SEED) }),
      partitionOf: (text: string, partitions: number) => {
        if (partitions !== count) {
          divisor = BigInt(partitions);
          count = partitions;
        }
        return Number(api.h64(text) % divisor);
      },
    };
  });
  return loading;
}

/**
 * The partition of an event with no routing key (no dedup or join key, or a malformed message).
 * It must still be deterministic: a message read again after a crash has to reach the same mailbox,
 * whose watermark then recognises it as already applied.
 */
export function partitionOfPosition(
  hasher: Hasher,
  topic: string,
  partition: number,
  offset: number,
  partitions: number,
): number {
  return hasher.partitionOf(`${topic}\u0000${partition}\u0000${offset}`, partitions);
}
