import type { KeyHash } from '../mailbox/routing';
import { DedupState, SOURCE_IDLE_MS } from './dedup-state';
import { DEDUP_MARKS_HEARTBEAT_MS, DEDUP_MARKS_VALID_MS } from './source-marks';

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000;

function h(n: number): KeyHash {
  return {
    low: (BigInt(n) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn,
    high: Math.imul(n, 0x85ebca6b) >>> 0,
  };
}

/** orders/0 reads three hours of history; orders/1 (the topic has two partitions) varies. */
function aheadOnPartition0(state: DedupState, first = 0): void {
  state.mark('orders', 0, false, 2, first);
  state.add(h(1), T0, 'orders/0', first);
  state.add(h(2), T0 + 3 * HOUR, 'orders/0', first + SOURCE_IDLE_MS);
  state.mark('orders', 0, true, 2, first + SOURCE_IDLE_MS);
}

/** orders/0 keeps sending (far ahead in event time) from processing time `from` to `to`. */
let next = 100;
function busy(state: DedupState, from: number, to: number): void {
  for (let t = from; t <= to; t += SOURCE_IDLE_MS / 2) {
    state.add(h(next++), T0 + 3 * HOUR, 'orders/0', t);
    state.mark('orders', 0, true, 2, t);
  }
}

describe('DedupState expiry held by source partitions with unread data (marks)', () => {
  it('a partition not heard from yet holds expiry, however long', () => {
    const state = new DedupState(HOUR, undefined, ['orders']);
    aheadOnPartition0(state);
    busy(state, SOURCE_IDLE_MS, 10 * SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([]);
    expect(state.isDuplicate(h(1), T0 + 1_000)).toBe(true);
    // Its consumer says it is caught up (nothing unread, never had an event): no longer holds.
    state.mark('orders', 1, true, 2, 10 * SOURCE_IDLE_MS + 1);
    expect(state.changes().expired).toEqual([state.bucketOf(T0)]);
  });

  it('a dedup topic not heard from at all holds expiry', () => {
    const state = new DedupState(HOUR, undefined, ['orders', 'refunds']);
    aheadOnPartition0(state);
    state.mark('orders', 1, true, 2, SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([]);
    state.mark('refunds', 0, true, 1, SOURCE_IDLE_MS + 1);
    expect(state.changes().expired).toEqual([state.bucketOf(T0)]);
  });

  it('a partition heard from but not caught up (not fetched, paused) with no event holds expiry', () => {
    const state = new DedupState(HOUR, undefined, ['orders']);
    aheadOnPartition0(state);
    state.mark('orders', 1, false, 2, SOURCE_IDLE_MS);
    busy(state, SOURCE_IDLE_MS, 5 * SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([]);
  });

  it('a quiet partition with unread data holds expiry at its highest event time', () => {
    const state = new DedupState(HOUR, undefined, ['orders']);
    state.mark('orders', 1, false, 2, 0);
    state.add(h(9), T0 + 30 * 60_000, 'orders/1', 0);
    aheadOnPartition0(state);
    // orders/1 sent nothing for minutes (paused by backpressure) and is not caught up.
    for (let t = 2; t < 10; t++) state.mark('orders', 1, false, 2, t * SOURCE_IDLE_MS);
    busy(state, SOURCE_IDLE_MS, 10 * SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([]);
    expect(state.isDuplicate(h(1), T0 + 1_000)).toBe(true);
    // Read to its end and quiet: it goes idle, the T0 bucket expires.
    state.mark('orders', 1, true, 2, 10 * SOURCE_IDLE_MS + 1);
    state.add(h(4), T0 + 3 * HOUR, 'orders/0', 10 * SOURCE_IDLE_MS + 2);
    expect(state.changes().expired).toContain(state.bucketOf(T0));
  });

  it('a caught-up word not repeated (its consumer died) stops counting', () => {
    const state = new DedupState(HOUR, undefined, ['orders']);
    state.mark('orders', 1, true, 2, 0);
    state.add(h(9), T0 + 30 * 60_000, 'orders/1', 0);
    aheadOnPartition0(state);
    const late = DEDUP_MARKS_VALID_MS + DEDUP_MARKS_HEARTBEAT_MS;
    busy(state, SOURCE_IDLE_MS, late);
    expect(state.changes().expired).toEqual([]);
    // A live consumer takes it over and says it is caught up: it goes idle.
    state.mark('orders', 1, true, 2, late + 1);
    state.add(h(4), T0 + 3 * HOUR, 'orders/0', late + 2);
    expect(state.changes().expired).toContain(state.bucketOf(T0));
  });

  it('marks of topics without dedup are ignored', () => {
    const state = new DedupState(HOUR, undefined, ['orders']);
    state.mark('clicks', 0, false, 4, 0);
    aheadOnPartition0(state);
    state.mark('orders', 1, true, 2, SOURCE_IDLE_MS);
    expect(state.changes().expired).toEqual([state.bucketOf(T0)]);
  });
});
