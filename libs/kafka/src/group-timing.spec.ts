import { DEFAULT_SESSION_TIMEOUT_MS, groupTiming } from './group-timing';

describe('groupTiming', () => {
  it('keeps the 10 s session and 3 s heartbeat by default', () => {
    expect(groupTiming()).toEqual({ sessionTimeout: 10_000, heartbeatInterval: 3_000 });
    expect(groupTiming(DEFAULT_SESSION_TIMEOUT_MS)).toEqual(groupTiming());
  });

  it('heartbeats more often than three times a session, whatever the session', () => {
    for (const session of [3_000, 4_000, 6_000, 45_000, 1_800_000]) {
      const { sessionTimeout, heartbeatInterval } = groupTiming(session);
      expect(sessionTimeout).toBe(session);
      expect(heartbeatInterval).toBeGreaterThan(0);
      expect(heartbeatInterval * 3).toBeLessThan(session);
    }
  });
});
