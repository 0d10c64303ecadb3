export { BUCKETS_PER_WINDOW, type DedupChanges, DedupState, SOURCE_IDLE_MS } from './dedup-state';
export {
  DEDUP_MARKS_HEARTBEAT_MS,
  DEDUP_MARKS_VALID_MS,
  SourceMarks,
  stampsSourceMarks,
} from './source-marks';
export { type DedupKeyHash, dedupKeyHash, dedupKeyHasher, dedupKeysPerTopic } from './dedup-key';
export { HashSet96, RECORD_BYTES as DEDUP_RECORD_BYTES, splitHash } from './hash-set96';
