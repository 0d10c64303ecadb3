import {
  type DeadLetter,
  deadLetterEntry,
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

  it('gives the scripts the same fields in the same order', () => {
    expect(luaDeadLetterFields('i')).toBe(
      "'stage', ARGV[i], 'error', ARGV[i + 1], 'topic', ARGV[i + 2], 'partition', ARGV[i + 3], " +
        "'offset', ARGV[i + 4], 'message', ARGV[i + 5], 'at', ARGV[i + 6]",
    );
  });
});
