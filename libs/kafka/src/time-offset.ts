/*
 * Where a source partition starts for a point in time (`startFrom: <ISO time>`, rewind): pure
 * logic over a record fetcher, no I/O of its own (the Kafka-facing fetcher is record-reader.ts).
 *
 * The rule. Kafka's own answer (ListOffsets by timestamp) is the first record, in log order,
 * whose timestamp is at or after the time. A broker cannot always be trusted with it (the
 * librdkafka mock answers with the log end whatever the time), so an answer is only used when it
 * is checked to be a *crossing*: the record before it is earlier than the time (or there is none)
 * and the record at it is at or after the time (or there is none). Otherwise the offset is found by
 * a binary search over fetched record timestamps, which also ends at a crossing.
 *
 * With timestamps that rise with offsets (one producer clock, CreateTime or LogAppendTime) there
 * is exactly one crossing and both ways give Kafka's answer. Timestamps that go back and forth
 * around the time have several crossings; the search then picks one near the boundary: a record
 * before it stamped at or after the time (a producer clock running ahead) is not read, and a
 * record after it stamped earlier is. Both are bounded by how far the producers' clocks disagree.
 */

/** One record as far as the search cares: its offset and its Kafka timestamp (epoch ms). */
export interface StampedRecord {
  offset: number;
  timestamp: number;
}

/**
 * Consecutive records of one partition starting at the first record at or after `from`, in
 * offset order; at least that first record when one exists before the log end, else none.
 * (A Kafka fetch answers whole record batches; offsets inside may skip control records.)
 */
export type RecordPage = (from: number) => Promise<readonly StampedRecord[]>;

export interface OffsetForTimeInput {
  /** Epoch ms. */
  time: number;
  /** Log start offset (first offset still held). */
  low: number;
  /** Log end offset (the offset the next record will get). */
  high: number;
  /** The broker's ListOffsets answer, when asked; checked before it is used. */
  brokerAnswer?: number;
  fetch: RecordPage;
}

export interface OffsetForTime {
  offset: number;
  /** `broker`: the broker's answer passed the check; `search`: found by binary search. */
  how: 'broker' | 'search';
  /** Pages fetched, the check's included. */
  fetches: number;
}

/** The first offset of the partition for `time` by the rule above. */
export async function offsetForTime(input: OffsetForTimeInput): Promise<OffsetForTime> {
  let fetches = 0;
  const fetch: RecordPage = (from) => {
    fetches += 1;
    return input.fetch(from);
  };
  const { time, low, high, brokerAnswer } = input;
  if (high <= low) return { offset: high, how: 'search', fetches };
  if (brokerAnswer !== undefined && (await isCrossing(brokerAnswer, input, fetch))) {
    return { offset: brokerAnswer, how: 'broker', fetches };
  }
  // Invariants: `lo` is `low` or the record before it is earlier than `time`; the first record
  // at or after `hi` is at or after `time`, or `hi` is the log end.
  let lo = low;
  let hi = high;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const page = (await fetch(mid)).filter((r) => r.offset >= mid && r.offset < high);
    const first = page[0];
    if (first === undefined || first.timestamp >= time) {
      // No record from `mid` to the log end, or the first one is at or after the time.
      hi = mid;
      continue;
    }
    // The page may hold the crossing itself: its first record at or after the time, with an
    // earlier-stamped record right before it.
    const at = page.findIndex((r) => r.timestamp >= time);
    if (at > 0) return { offset: page[at]!.offset, how: 'search', fetches };
    lo = Math.min(page[page.length - 1]!.offset + 1, hi);
  }
  return { offset: hi, how: 'search', fetches };
}

/** Whether `answer` is a crossing for `time` (see the rule above). */
async function isCrossing(
  answer: number,
  { time, low, high }: OffsetForTimeInput,
  fetch: RecordPage,
): Promise<boolean> {
  if (!Number.isSafeInteger(answer) || answer < low || answer > high) return false;
  const from = answer > low ? answer - 1 : answer;
  const page = (await fetch(from)).filter((r) => r.offset < high);
  if (answer > low) {
    const before = page[0];
    // The offset before the answer holds no record (a control record, compaction): the record
    // before it is further back; leave that to the search rather than walk back.
    if (before === undefined || before.offset !== answer - 1 || before.timestamp >= time) {
      return false;
    }
  }
  const at = page.find((r) => r.offset >= answer);
  if (at !== undefined) return at.timestamp >= time;
  if (answer === high) return true;
  // The page ended before the answer's record: look at it alone.
  const next = (await fetch(answer)).find((r) => r.offset >= answer && r.offset < high);
  return next === undefined || next.timestamp >= time;
}
