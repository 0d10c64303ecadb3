export {
  type CheckpointResult,
  type CheckpointWrite,
  type DedupWrite,
  type EventIndexWrite,
  FencedError,
  type JoinWrite,
  readCheckpoint,
  readDedupBuckets,
  readJoinBuckets,
  StaleCheckpointError,
  type StoredCheckpoint,
  type StoredDedupBucket,
  type StoredJoinBucket,
  writeCheckpoint,
} from './checkpoint';
export { acquireLease, leaseValue, releaseLease, renewLease } from './lease';
export { LuaScript, type ScriptArg } from './lua-script';
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
