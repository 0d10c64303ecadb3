export {
  type CheckpointWrite,
  type DeadLetter,
  type DedupWrite,
  FencedError,
  type JoinWrite,
  readCheckpoint,
  readDedupBuckets,
  readJoinBuckets,
  StaleCheckpointError,
  type StoredCheckpoint,
  type StoredJoinBucket,
  writeCheckpoint,
} from './checkpoint';
export { acquireLease, leaseValue, releaseLease, renewLease } from './lease';
export { LuaScript, type ScriptArg } from './lua-script';
export { encodeOutboxBatch, type OutboxBatch } from './outbox';
