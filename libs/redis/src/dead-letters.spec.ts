import {
  DEAD_LETTER_KEY_FIELD,
  type DeadLetter,
  deadLetterEntry,
  decodeDeadLetterKey,
  encodeDeadLetterKey,
  luaDeadLetterFields,
  readDeadLetter,
} from './dead-letters';

describe('dead-letter record', () => {
  const letter: DeadLetter = {
    stage: 'transform',
    error: 'no such column',
    topic: 'orders',
    partition: 2,
    offset: 41,
    message: '{"id":1}',
    at: 1_700_000_000_000,
  };

  it('reads back what a role writes', () => {
    const flat = deadLetterEntry(letter).map(String);
    expect(readDeadLetter('1700000000001-0', 5, flat)).toEqual({
      id: '1700000000001-0',
      pipelinePartition: 5,
      ...letter,
      at: new Date(letter.at).toISOString(),
    });
  });

  it('reads a record without a source position, with ISO or missing times', () => {
    const flat = deadLetterEntry({ ...letter, topic: '', partition: '', offset: '', at: '' });
    const read = readDeadLetter('1700000000002-0', 0, flat.map(String));
    expect(read).toMatchObject({ topic: '', partition: null, offset: null });
    expect(read.at).toBe(new Date(1_700_000_000_002).toISOString());
    const iso = '2024-05-01T12:00:00.000Z';
    expect(readDeadLetter('1-0', 0, deadLetterEntry({ ...letter, at: iso }).map(String)).at).toBe(
      iso,
    );
  });

  it('keeps an insert row’s dedup key as text after the record, readable and read back', () => {
    const hash = Buffer.from('0102030405060708090a0bff', 'hex');
    const key = { hash, time: 1_767_225_600_000 };
    expect(encodeDeadLetterKey(key)).toBe('0102030405060708090a0bff@1767225600000');
    expect(decodeDeadLetterKey(encodeDeadLetterKey(key))).toEqual(key);
    const flat = deadLetterEntry({ ...letter, stage: 'insert', dedupKey: key });
    expect(flat.slice(-2)).toEqual([DEAD_LETTER_KEY_FIELD, encodeDeadLetterKey(key)]);
    // The API's reading of the record is unchanged by it.
    expect(readDeadLetter('1-0', 0, flat.map(String))).toMatchObject({ stage: 'insert' });
    for (const bad of ['', '@1', '0g@1', '010@1', '01@', '01@x']) {
      expect(decodeDeadLetterKey(bad)).toBeUndefined();
    }
  });

  it('gives the scripts the same fields in the same order', () => {
    expect(luaDeadLetterFields('i')).toBe(
      "'stage', ARGV[i], 'error', ARGV[i + 1], 'topic', ARGV[i + 2], 'partition', ARGV[i + 3], " +
        "'offset', ARGV[i + 4], 'message', ARGV[i + 5], 'at', ARGV[i + 6]",
    );
  });
});
