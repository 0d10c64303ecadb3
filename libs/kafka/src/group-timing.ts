/**
 * KAFKA_SESSION_TIMEOUT_MS's default. A member that dies without leaving (SIGKILL; also every
 * member on the librdkafka mock, which ignores LeaveGroup) holds its partitions until its session
 * times out: kafkajs's 30 s default would stall a pipeline that long.
 */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;

/** The session timeout and heartbeat interval every consumer group member of Sluice joins with. */
export interface GroupTiming {
  sessionTimeout: number;
  heartbeatInterval: number;
}

/**
 * The heartbeat interval is 3/10 of the session timeout (3 s at the default 10 s): below a third,
 * so two heartbeats can be late or lost before the broker expires the member. kafkajs sends them
 * from its fetch loop, between batches, and while every partition is paused.
 */
export function groupTiming(sessionTimeoutMs = DEFAULT_SESSION_TIMEOUT_MS): GroupTiming {
  return {
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.floor((sessionTimeoutMs * 3) / 10),
  };
}
