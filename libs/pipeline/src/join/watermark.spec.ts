import { JoinWatermark, marksHeartbeatMs, marksValidMs, type WatermarkSnapshot } from './watermark';

const IDLE = 1_000;

function make() {
  return new JoinWatermark(['orders', 'customers'], 100, IDLE);
}

describe('JoinWatermark', () => {
  it('is the minimum over source partitions of their highest event time, minus lateness', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 5_000, partitions: 2 }, 0);
    wm.observe('orders', 1, { maxTime: 9_000, partitions: 2 }, 0);
    wm.observe('customers', 0, { maxTime: 7_000, partitions: 1 }, 0);
    expect(wm.advance(10)).toBe(true);
    expect(wm.value).toBe(4_900);
  });

  it('waits for partitions and topics not heard from yet, however long', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 5_000, partitions: 2 }, 0);
    wm.observe('customers', 0, { maxTime: 7_000, partitions: 1 }, 0);
    wm.advance(10);
    expect(wm.value).toBe(Number.NEGATIVE_INFINITY);
    const other = make();
    other.observe('orders', 0, { maxTime: 5_000, partitions: 1 }, 0);
    other.advance(10);
    expect(other.value).toBe(Number.NEGATIVE_INFINITY);
    // Not heard from is not idle: its consumer may not have fetched it yet, its data unread.
    wm.advance(100 * IDLE);
    other.advance(100 * IDLE);
    expect(wm.value).toBe(Number.NEGATIVE_INFINITY);
    expect(other.value).toBe(Number.NEGATIVE_INFINITY);
    wm.observe('orders', 1, { caughtUp: false, partitions: 2 }, 100 * IDLE);
    wm.advance(100 * IDLE);
    expect(wm.value).toBe(Number.NEGATIVE_INFINITY);
    wm.observe('orders', 1, { maxTime: 6_000 }, 100 * IDLE);
    wm.advance(100 * IDLE);
    expect(wm.value).toBe(4_900);
  });

  it('an idle partition that never had an event stays idleTimeout behind the others', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 5_000, partitions: 2, caughtUp: true }, 0);
    wm.observe('orders', 1, { partitions: 2, caughtUp: false }, 0); // empty, not read yet
    wm.observe('customers', 0, { maxTime: 7_000, partitions: 1, caughtUp: false }, 0);
    wm.advance(IDLE);
    expect(wm.value).toBe(Number.NEGATIVE_INFINITY);
    // Read to its end (Kafka's numbers: nothing unread): it does not hold a replay back...
    wm.observe('orders', 1, { caughtUp: true }, IDLE);
    wm.observe('orders', 0, { maxTime: 900_000, caughtUp: false }, IDLE + 100);
    wm.observe('customers', 0, { maxTime: 800_000, caughtUp: false }, IDLE + 100);
    wm.advance(2 * IDLE);
    expect(wm.value).toBe(800_000 - IDLE - 100);
    // ...and its first live event gets an idle partition's slack.
    expect(wm.isLate(800_000 - IDLE)).toBe(false);
    // Its first event makes it a partition like the others.
    wm.observe('orders', 1, { maxTime: 850_000, caughtUp: true }, 2 * IDLE + 600);
    wm.advance(2 * IDLE + 600);
    expect(wm.value).toBe(800_000 - 100);
  });

  it('a partition with unread data holds the watermark, whatever the idle timeout', () => {
    const wm = make();
    // customers/1 is assigned to a consumer that has not fetched it yet: it says so, no mark.
    wm.observe('orders', 0, { maxTime: 900_000, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 900_000, partitions: 2, caughtUp: true }, 0);
    wm.observe('customers', 1, { caughtUp: false, partitions: 2 }, 0);
    for (let t = 0; t <= 60_000; t += 500) {
      wm.observe('orders', 0, { caughtUp: true }, t);
      wm.observe('customers', 0, { caughtUp: true }, t);
      wm.observe('customers', 1, { caughtUp: false }, t);
      wm.advance(t);
    }
    expect(wm.value).toBe(Number.NEGATIVE_INFINITY);
    // Its first batch, minutes of event time behind the others: on time.
    expect(wm.isLate(1_000)).toBe(false);
    wm.observe('customers', 1, { maxTime: 1_000, caughtUp: false }, 60_500);
    wm.advance(60_500);
    expect(wm.value).toBe(900);
  });

  it('a replayed topic far behind holds the watermark however long it is silent', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 1_000_000, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 1_000, partitions: 1, caughtUp: false }, 0);
    wm.advance(60_000);
    expect(wm.value).toBe(900);
  });

  it('a caught-up quiet partition moves on only with the processing time beyond the timeout', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 50_000, partitions: 1, caughtUp: false }, 0);
    wm.observe('customers', 0, { maxTime: 1_000, partitions: 1, caughtUp: true }, 0);
    wm.advance(IDLE - 1);
    expect(wm.value).toBe(900);
    // Repeated marks keep the caught-up word fresh.
    wm.observe('customers', 0, { caughtUp: true }, IDLE + 4_000);
    wm.advance(IDLE + 5_000);
    expect(wm.value).toBe(1_000 + 5_000 - 100);
    wm.observe('customers', 0, { caughtUp: true }, 60_000);
    wm.advance(60_000);
    // Never past the partition that is still being read.
    expect(wm.value).toBe(49_900);
  });

  it('live streams: an event delayed less than idle timeout + lateness is never late', () => {
    // Event times are processing times here; each partition's last event came 50 / 30 ms late.
    const wm = make();
    wm.observe('orders', 0, { maxTime: -50, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: -30, partitions: 1, caughtUp: true }, 0);
    wm.observe('orders', 0, { caughtUp: true }, 4_900);
    wm.observe('customers', 0, { caughtUp: true }, 4_900);
    wm.advance(5_000);
    // Never held back: quiet, caught-up sources let it follow processing time.
    expect(wm.value).toBe(-50 + (5_000 - IDLE) - 100);
    // Produced at 3 950 and applied at 5 000: 1 050 ms < IDLE + lateness, on time.
    expect(wm.isLate(3_950)).toBe(false);
    expect(wm.isLate(3_840)).toBe(true);
  });

  it('restored partitions are not caught up until a consumer says so again', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 0, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 0, partitions: 1, caughtUp: true }, 0);
    wm.advance(0);
    // Killed at once; restored 20 s later; the consumer rejoins its group 10 s after that.
    const restored = make();
    restored.restore(JSON.parse(JSON.stringify(wm.snapshot())) as WatermarkSnapshot, 20_000);
    restored.advance(30_000);
    expect(restored.value).toBe(-100);
    // Events produced while it was down are on time.
    expect(restored.isLate(5_000)).toBe(false);
    // The new session: customers caught up (nothing came meanwhile), orders has events to read.
    restored.observe('customers', 0, { caughtUp: true }, 30_500);
    restored.observe('orders', 0, { caughtUp: false }, 30_500);
    restored.advance(31_000);
    expect(restored.value).toBe(-100);
    restored.observe('orders', 0, { maxTime: 29_000, caughtUp: true }, 32_000);
    restored.advance(32_000);
    // Customers' mark moved on by the quiet time beyond the timeout since the restore.
    expect(restored.value).toBe(32_000 - 20_000 - IDLE - 100);
  });

  it('a caught-up word that is not repeated goes stale: a dead consumer holds the watermark', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 0, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 0, partitions: 1, caughtUp: true }, 0);
    wm.advance(1_500);
    expect(wm.value).toBe(400);
    wm.advance(marksValidMs(IDLE) + 1);
    wm.advance(60_000);
    expect(wm.value).toBe(400);
    expect(marksHeartbeatMs(10_000)).toBe(2_500);
    expect(marksValidMs(10_000)).toBe(10_000);
  });

  it('survives a snapshot round trip (caught-up words excepted)', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 5_000, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 7_000, partitions: 1 }, 0);
    wm.advance(0);
    const copy = make();
    copy.restore(JSON.parse(JSON.stringify(wm.snapshot())) as WatermarkSnapshot, 100);
    expect(copy.value).toBe(4_900);
    expect(copy.snapshot()).toEqual({
      wm: 4_900,
      src: { 'orders/0': [5_000, 0], 'customers/0': [7_000, 0] },
      parts: { orders: 1, customers: 1 },
    });
  });
});
