export { BUCKETS_PER_WINDOW, type DedupChanges, DedupState } from './dedup-state';
export { type DedupKeyHash, dedupKeyHash, dedupKeyHasher, dedupKeysPerTopic } from './dedup-key';
export { HashSet64, splitHash } from './hash-set64';
