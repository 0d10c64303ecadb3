import { parseDlqSelector } from './dlq-selection';

describe('parseDlqSelector', () => {
  it('reads {} as all, ids with or without their partition, and a filter', () => {
    expect(parseDlqSelector({})).toEqual({ kind: 'all' });
    expect(parseDlqSelector(undefined)).toEqual({ kind: 'all' });
    expect(parseDlqSelector({ ids: ['1712-0', '3/1713-4'] })).toEqual({
      kind: 'ids',
      ids: [
        { partition: undefined, id: '1712-0' },
        { partition: 3, id: '1713-4' },
      ],
    });
    expect(
      parseDlqSelector({
        stage: 'parse',
        since: '2026-01-01T00:00:00Z',
        until: '2026-01-02T00:00:00.500Z',
      }),
    ).toEqual({
      kind: 'filter',
      stage: 'parse',
      sinceMs: Date.UTC(2026, 0, 1),
      untilMs: Date.UTC(2026, 0, 2) + 500,
    });
    expect(parseDlqSelector({ stage: 'insert' })).toEqual({ kind: 'filter', stage: 'insert' });
  });

  it('refuses ids mixed with a filter, bad ids, bad times and unknown fields', () => {
    for (const body of [
      { ids: ['1-0'], stage: 'parse' },
      { ids: [] },
      { ids: ['x'] },
      { ids: ['1-0; DEL'] },
      { since: 'yesterday' },
      { stages: 'parse' },
      [],
      'all',
    ]) {
      expect(typeof parseDlqSelector(body)).toBe('string');
    }
  });
});
