import { BatchLog } from './batch-log';
import { findInLog, logSegments } from './event-index';
import { Tracing } from './tracing';

describe('BatchLog', () => {
  it('collects offsets, row times and index records of one batch, then resets', () => {
    const log = new BatchLog({
      tracing: Tracing.disabled(),
      pipeline: 'p',
      partition: 1,
      indexEvents: true,
    });
    log.entry('t', 0, 10, 20);
    log.entry('t', 0, 21, 30);
    log.entry('t', 3, 5, 5);
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    log.outcome('t', { offset: 10, timestamp: 1003, traceparent: tp }, 'written', 7n);
    log.outcome('t', { offset: 11, timestamp: 1007 }, 'written', 8n);
    log.outcome('t', { offset: 12, timestamp: 1020 }, 'duplicate', 7n);
    log.outcome(
      't',
      { offset: 13, timestamp: 1020 },
      'dead-lettered',
      undefined,
      'parse',
      'bad json',
    );
    expect(log.offsetRanges()).toBe('t/0:10-30,t/3:5-5');
    expect(log.rowTimes()).toEqual([1000, 2]);
    const segment = log.indexSegment({ epoch: 2, run: 5, seq: 9 }, 1_700_000_000_000);
    // the dead letter has no key: not indexed
    expect(log.indexRecords).toBe(3);
    expect(findInLog(segment, 7n)).toEqual([
      {
        stage: 'written',
        epoch: 2,
        run: 5,
        seq: 9,
        at: 1_700_000_000_000,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        sampled: true,
      },
      { stage: 'duplicate', epoch: 2, run: 5, seq: 9, at: 1_700_000_000_000 },
    ]);
    expect(findInLog(segment, 8n).map((r) => r.stage)).toEqual(['written']);
    log.reset();
    expect(logSegments(log.indexSegment({ epoch: 2, run: 5, seq: 10 }, 0))).toEqual([
      { records: 0, bytes: 41 },
    ]);
    expect(log.rowTimes()).toEqual([]);
  });

  it('counts written rows per 10 ms step, each step once and in first-seen order', () => {
    const log = new BatchLog({
      tracing: Tracing.disabled(),
      pipeline: 'p',
      partition: 1,
      indexEvents: false,
    });
    const times = [1000, 1009, 1020, 1001, 1025, 990, 1020, 1000];
    times.forEach((timestamp, offset) => log.outcome('t', { offset, timestamp }, 'written', 1n));
    log.outcome('t', { offset: 9, timestamp: 5000 }, 'duplicate', 1n);
    expect(log.rowTimes()).toEqual([1000, 4, 1020, 3, 990, 1]);
    // Asking again changes nothing; rows after it add to the same steps.
    expect(log.rowTimes()).toEqual([1000, 4, 1020, 3, 990, 1]);
    log.outcome('t', { offset: 10, timestamp: 1021 }, 'written', 1n);
    expect(log.rowTimes()).toEqual([1000, 4, 1020, 4, 990, 1]);
    log.committed();
    expect(log.rowTimes()).toEqual([]);
  });

  it('records nothing for the index when it is off', () => {
    const log = new BatchLog({
      tracing: Tracing.disabled(),
      pipeline: 'p',
      partition: 1,
      indexEvents: false,
    });
    log.outcome('t', { offset: 1, timestamp: 1 }, 'written', 7n);
    expect(log.wantsKeys).toBe(false);
    expect(log.indexRecords).toBe(0);
  });
});
