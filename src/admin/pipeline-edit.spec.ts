import { etagOf, ifMatchVersions } from './pipeline-edit';

describe('If-Match of an edit', () => {
  it('reads *, one or several strong tags, and a bare number', () => {
    expect(ifMatchVersions(undefined)).toBeUndefined();
    expect(ifMatchVersions('  ')).toBeUndefined();
    expect(ifMatchVersions('*')).toBe('*');
    expect(ifMatchVersions(etagOf(3))).toEqual([3]);
    expect(ifMatchVersions('"3", "4"')).toEqual([3, 4]);
    expect(ifMatchVersions('7')).toEqual([7]);
  });

  it('never matches a weak tag or something else (RFC 9110 compares strongly)', () => {
    expect(ifMatchVersions('W/"3"')).toEqual([]);
    expect(ifMatchVersions('"abc"')).toEqual([]);
  });
});
