import xxhash from 'xxhash-wasm';

/**
 * Stable 64-bit hashing (xxhash64): the same text gives the same hash in every process, version
 * and restart, which both routing and dedup state rely on.
 */
export interface Hasher {
  hash64(text: string): bigint;
  /** The pipeline partition of a routing key. */
  partitionOf(text: string, partitions: number): number;
}

let loading: Promise<Hasher> | undefined;

/** Loads the WASM hasher once per process. */
export function loadHasher(): Promise<Hasher> {
  loading ??= xxhash().then((api) => {
    // The last divisor as a BigInt: one pipeline's count, asked for every message.
    let count = 0;
    let divisor = 1n;
    return {
      hash64: (text: string) => api.h64(text),
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
