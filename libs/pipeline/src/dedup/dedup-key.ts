import type { CompiledPipeline } from '../definition';
import type { Hasher, KeyHash } from '../mailbox/routing';

/**
 * Dedup keys are scoped by topic with per-topic specs and in every join, so two topics never
 * deduplicate each other (order id 7 is not customer id 7). A plain pipeline with one spec
 * shares its keys across its topics. The actor (which records keys) and find-my-event (which
 * looks them up) must agree on this to the bit: this is the one place it is decided.
 */
export function dedupKeysPerTopic(pipeline: CompiledPipeline): boolean {
  const spec = pipeline.definition.dedup;
  return spec !== undefined && (typeof spec.key !== 'string' || pipeline.join !== undefined);
}

/**
 * The hash a dedup key is stored and indexed under, given the pipeline's scoping: 96 bits
 * (`Hasher.hash96`; the find-my-event index keeps its low 64).
 */
export type DedupKeyHash = (topic: string, key: string) => KeyHash;

/** Binds the scoping rule once per pipeline: the actor hashes keys on its hot path. */
export function dedupKeyHasher(pipeline: CompiledPipeline, hasher: Hasher): DedupKeyHash {
  return dedupKeysPerTopic(pipeline)
    ? (topic, key) => hasher.hash96(`${topic}\u0000${key}`)
    : (_topic, key) => hasher.hash96(key);
}

/** One key's hash (find-my-event); the actor binds `dedupKeyHasher` once instead. */
export function dedupKeyHash(
  pipeline: CompiledPipeline,
  hasher: Hasher,
  topic: string,
  key: string,
): KeyHash {
  return dedupKeyHasher(pipeline, hasher)(topic, key);
}
