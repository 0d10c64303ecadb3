import { offsetForTime, type RecordPage, type StampedRecord } from './time-offset';

/**
 * A fake partition: `stamps[i]` is the timestamp of offset `low + i`; `undefined` leaves the
 * offset without a record (a control record). Pages hold up to `pageSize` records, like the
 * record batches a Kafka fetch answers with.
 */
function partition(stamps: (number | undefined)[], low = 0, pageSize = 3) {
  const records: StampedRecord[] = [];
  stamps.forEach((timestamp, i) => {
    if (timestamp !== undefined) records.push({ offset: low + i, timestamp });
  });
  const fetched: number[] = [];
  const fetch: RecordPage = (from) => {
    fetched.push(from);
    return Promise.resolve(records.filter((r) => r.offset >= from).slice(0, pageSize));
  };
  return { low, high: low + stamps.length, fetch, fetched };
}

/** Kafka's rule: the first record, in log order, stamped at or after `time`. */
function kafkaAnswer(stamps: (number | undefined)[], time: number, low = 0): number {
  const i = stamps.findIndex((t) => t !== undefined && t >= time);
  return i < 0 ? low + stamps.length : low + i;
}

describe('offsetForTime', () => {
  const rising = Array.from({ length: 1000 }, (_, i) => 10_000 + i * 10);

  it('finds the first record at or after the time by search when the broker answers the log end', async () => {
    for (const time of [0, 10_000, 10_005, 10_010, 14_999, 15_000, 19_990, 19_991, 99_999]) {
      const p = partition(rising, 0, 7);
      const found = await offsetForTime({ time, ...p, brokerAnswer: p.high });
      expect({ time, offset: found.offset }).toEqual({ time, offset: kafkaAnswer(rising, time) });
      // The log end is only right when every record is earlier.
      expect(found.how).toBe(time > 19_990 ? 'broker' : 'search');
      expect(found.fetches).toBeLessThanOrEqual(14);
    }
  });

  it('uses a right broker answer after checking the records around it', async () => {
    const p = partition(rising);
    const found = await offsetForTime({ time: 12_345, ...p, brokerAnswer: 235 });
    expect(found).toEqual({ offset: 235, how: 'broker', fetches: 1 });
  });

  it('does not trust an answer one off either way, or outside the log', async () => {
    for (const brokerAnswer of [234, 236, -1, 5_000]) {
      const found = await offsetForTime({ time: 12_345, ...partition(rising), brokerAnswer });
      expect(found).toMatchObject({ offset: 235, how: 'search' });
    }
  });

  it('searches without a broker answer, and with a log start above 0', async () => {
    const p = partition(rising, 5_000);
    expect((await offsetForTime({ time: 12_345, ...p })).offset).toBe(5_235);
    expect((await offsetForTime({ time: 1, ...p })).offset).toBe(5_000);
    expect((await offsetForTime({ time: 1e12, ...p })).offset).toBe(6_000);
  });

  it('answers the log end of an empty partition without fetching', async () => {
    const p = partition([], 42);
    expect(await offsetForTime({ time: 1, ...p, brokerAnswer: 0 })).toEqual({
      offset: 42,
      how: 'search',
      fetches: 0,
    });
  });

  it('steps over offsets without a record (control records)', async () => {
    const stamps = [10, 20, undefined, undefined, 30, 40, undefined, 50, 60];
    for (const time of [5, 10, 15, 25, 30, 35, 45, 55, 60, 65]) {
      const found = await offsetForTime({ time, ...partition(stamps, 0, 2) });
      // Starting at a control record's offset reads the same records as starting after it.
      const expected = kafkaAnswer(stamps, time);
      const firstRead = (o: number) => stamps.findIndex((t, i) => i >= o && t !== undefined);
      expect({ time, first: firstRead(found.offset) }).toEqual({
        time,
        first: firstRead(expected),
      });
    }
  });

  it('ends at a crossing when timestamps go back and forth (the documented rule)', async () => {
    // Mostly rising, with stragglers stamped up to 30 ms early and some up to 30 ms late.
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const stamps = Array.from(
      { length: 500 },
      (_, i) => 1_000 + i * 10 + Math.round((random() - 0.5) * 60),
    );
    for (const time of [1_000, 2_222, 3_500, 5_990]) {
      for (const pageSize of [1, 4, 50]) {
        const p = partition(stamps, 0, pageSize);
        const { offset } = await offsetForTime({ time, ...p, brokerAnswer: p.high });
        const before = stamps[offset - 1];
        const at = stamps[offset];
        expect(before === undefined || before < time).toBe(true);
        expect(at === undefined || at >= time).toBe(true);
        // Near Kafka's answer: within the clocks' disagreement (30 ms = 3 records either way).
        expect(Math.abs(offset - kafkaAnswer(stamps, time))).toBeLessThanOrEqual(6);
      }
    }
  });
});
