import { JsonLines } from './json-lines';

describe('JsonLines', () => {
  it('encodes rows as JSONEachRow text, one per line, across spills and growth', () => {
    const lines = new JsonLines();
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      id: `e-${i}`,
      n: i,
      note: i % 3 === 0 ? 'é\u{1F600}\n"q"' : null,
    }));
    for (const row of rows) lines.append(row);
    expect(lines.count).toBe(rows.length);
    const expected = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    expect(lines.bytes().toString('utf8')).toBe(expected);
    expect(lines.bytes().length).toBe(Buffer.byteLength(expected));
    expect(lines.toRows()).toEqual(rows);
  });

  it('starts empty again after clear, reusing its buffer', () => {
    const lines = new JsonLines();
    lines.append({ a: 1 });
    expect(lines.bytes().toString()).toBe('{"a":1}\n');
    lines.clear();
    expect(lines.count).toBe(0);
    expect(lines.bytes()).toHaveLength(0);
    expect(lines.toRows()).toEqual([]);
    lines.append({ b: 'x' });
    expect(lines.bytes().toString()).toBe('{"b":"x"}\n');
  });
});
