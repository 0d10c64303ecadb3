import { deadLetterEntry } from './dead-letters';
import { isReplayEntry, readReplayEntry, REPLAY_FIELD } from './dlq-replay';

const b = (v: string | number | Buffer) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)));

describe('readReplayEntry', () => {
  it('reads the dead letters of a replay entry as the move script writes them', () => {
    const bytes = Buffer.from([0xc3, 0x28]);
    const fields = [
      REPLAY_FIELD,
      '1',
      'id',
      '1712-0',
      ...deadLetterEntry({
        stage: 'transform',
        error: 'e',
        topic: 't',
        partition: 2,
        offset: 40,
        message: '{"a":1}',
        at: 1_000,
      }),
      'id',
      '1712-1',
      ...deadLetterEntry({
        stage: 'insert',
        error: 'refused',
        topic: '',
        partition: '',
        offset: '',
        message: bytes,
        at: '2026-01-01T00:00:00.000Z',
        dedupKey: { hash: Buffer.alloc(12, 7), time: 5_000 },
      }),
    ].map(b);
    expect(readReplayEntry(fields)).toEqual([
      {
        dlqId: '1712-0',
        stage: 'transform',
        error: 'e',
        topic: 't',
        partition: 2,
        offset: 40,
        message: Buffer.from('{"a":1}'),
        at: 1_000,
      },
      {
        dlqId: '1712-1',
        stage: 'insert',
        error: 'refused',
        topic: '',
        partition: null,
        offset: null,
        message: bytes,
        at: Date.parse('2026-01-01T00:00:00.000Z'),
        dedupKey: { hash: Buffer.alloc(12, 7), time: 5_000 },
      },
    ]);
    expect(isReplayEntry(fields)).toBe(true);
  });

  it('is not a replay entry without its field first, and refuses another version', () => {
    expect(readReplayEntry(['e', 'x'].map(b))).toBeUndefined();
    expect(isReplayEntry(['e', 'x'].map(b))).toBe(false);
    expect(() => readReplayEntry([REPLAY_FIELD, '2'].map(b))).toThrow(/version 2/);
  });
});
