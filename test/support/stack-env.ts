import { readStackEnv, type StackEnv } from '@sluice/stack';
import { TEST_STACK_DIR } from './paths';

/** The addresses of the test stack that the global setup started (or found running). */
export function testStackEnv(): StackEnv {
  const env = readStackEnv(TEST_STACK_DIR);
  if (!env) throw new Error(`no test stack in ${TEST_STACK_DIR}: the global setup did not run`);
  return env;
}

/**
 * KAFKA_SESSION_TIMEOUT_MS for suites that wait on consumer group changes. The librdkafka mock
 * ignores LeaveGroup and holds a rebalance of a group with members for the session timeout less
 * 1 s, so each consumer that stops, dies or joins costs about a session (10 s at the default).
 * 4 s with a heartbeat every 1.2 s (groupTiming) still leaves a consumer ~2.8 s of stalled event
 * loop or slow batch before the broker drops it; kafkajs heartbeats between batches and while
 * every partition is paused (backpressure), and the suites using it assert exactly-once and
 * lateness, which a spurious rebalance costs time but must never break. Not worth it where
 * several consumers race through a backlog (join-history): a rebalance window of 3 s is missed
 * by a busy member and the group goes round again, eating what the shorter waits save.
 */
export const SHORT_SESSION_TIMEOUT_MS = 4_000;
export const SHORT_GROUP_SESSION = { KAFKA_SESSION_TIMEOUT_MS: String(SHORT_SESSION_TIMEOUT_MS) };
