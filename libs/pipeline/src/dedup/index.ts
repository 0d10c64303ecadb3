export { BUCKETS_PER_WINDOW, type DedupChanges, DedupState } from './dedup-state';
export { HashSet64, splitHash } from './hash-set64';
