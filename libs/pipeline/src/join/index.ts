export { EventTimeError, eventTimeMs, isPlausibleEventTime, sourceEventTime } from './event-time';
export {
  type JoinChanges,
  type JoinCounters,
  type JoinEvent,
  type JoinOptions,
  type JoinPair,
  type JoinSide,
  JoinState,
  joinBucketMs,
  zeroJoinCounters,
} from './join-state';
export {
  JoinWatermark,
  marksHeartbeatMs,
  marksValidMs,
  type SourceMark,
  type WatermarkSnapshot,
} from './watermark';
