import { JoinWatermark, type WatermarkSnapshot } from './watermark';

const IDLE = 1_000;

function make(now = 0) {
  return new JoinWatermark(['orders', 'customers'], 100, IDLE, now);
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

  it('waits for partitions and topics not heard from yet', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 5_000, partitions: 2 }, 0);
    wm.observe('customers', 0, { maxTime: 7_000, partitions: 1 }, 0);
    wm.advance(10);
    expect(wm.value).toBe(Number.NEGATIVE_INFINITY);
    const other = make();
    other.observe('orders', 0, { maxTime: 5_000, partitions: 1 }, 0);
    other.advance(10);
    expect(other.value).toBe(Number.NEGATIVE_INFINITY);
    // ...but not beyond the idle timeout (an empty partition never sends anything).
    wm.advance(IDLE);
    expect(wm.value).toBe(4_900);
  });

  it('a replayed topic far behind holds the watermark however long it is silent', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 1_000_000, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 1_000, partitions: 1, caughtUp: false }, 0);
    wm.advance(60_000);
    expect(wm.value).toBe(900);
  });

  it('a caught-up partition without progress for the idle timeout stops holding it back', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 50_000, partitions: 1, caughtUp: false }, 0);
    wm.observe('customers', 0, { maxTime: 1_000, partitions: 1, caughtUp: true }, 0);
    wm.advance(IDLE - 1);
    expect(wm.value).toBe(900);
    wm.advance(IDLE);
    expect(wm.value).toBe(49_900);
  });

  it('advances with processing time when every partition is idle, and never moves back', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 50_000, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 40_000, partitions: 1, caughtUp: true }, 0);
    wm.advance(500);
    expect(wm.value).toBe(39_900);
    wm.advance(3_000);
    expect(wm.value).toBe(50_000 - 100 + 3_000);
    // New progress on one side only: the minimum rule would give less; the watermark stays.
    wm.observe('customers', 0, { maxTime: 41_000, caughtUp: false }, 3_100);
    expect(wm.advance(3_200)).toBe(false);
    expect(wm.value).toBe(52_900);
    expect(wm.isLate(52_899)).toBe(true);
    expect(wm.isLate(52_900)).toBe(false);
  });

  it('survives a snapshot round trip', () => {
    const wm = make();
    wm.observe('orders', 0, { maxTime: 5_000, partitions: 1, caughtUp: true }, 0);
    wm.observe('customers', 0, { maxTime: 7_000, partitions: 1 }, 0);
    wm.advance(0);
    const copy = make(100);
    copy.restore(JSON.parse(JSON.stringify(wm.snapshot())) as WatermarkSnapshot, 100);
    expect(copy.value).toBe(4_900);
    expect(copy.snapshot()).toEqual(wm.snapshot());
  });
});
