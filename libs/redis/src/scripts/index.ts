export {
  type CheckpointWrite,
  type DeadLetter,
  type DedupWrite,
  type EventIndexWrite,
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
export { encodeOutboxBatch, type OutboxBatch, type StoredOutboxBatch } from './outbox';
export {
  acquireCoordinator,
  assignmentVersion,
  currentCoordinator,
  deregister,
  heartbeat,
  listMembers,
  type MemberRow,
  publishAssignment,
  readAssignment,
  releaseCoordinator,
} from './cluster';
