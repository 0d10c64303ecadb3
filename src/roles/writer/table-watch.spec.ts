import type { ClickHouseClient } from '@clickhouse/client';
import { type TableReader, TableWatch, unknownFields } from './table-watch';

const client = {} as ClickHouseClient;

/** A table whose columns the test changes, read through a counting reader. */
function fakeTable(columns: string[]): {
  read: TableReader;
  reads: () => number;
  set: (c: string[]) => void;
} {
  let current = columns;
  let reads = 0;
  return {
    read: () => {
      reads += 1;
      return Promise.resolve({ columns: new Set(current), problem: undefined });
    },
    reads: () => reads,
    set: (c) => (current = c),
  };
}

describe('TableWatch', () => {
  it('describes a table once per refresh period, again after invalidate or when asked for a DESCRIBE after a moment', async () => {
    let now = 1_000;
    const table = fakeTable(['a', 'b']);
    const watch = new TableWatch(60_000, () => now, table.read);
    expect((await watch.state(client, 'k', 'db', 't'))?.columns).toEqual(new Set(['a', 'b']));
    now += 10_000;
    await watch.state(client, 'k', 'db', 't');
    expect(table.reads()).toBe(1);

    table.set(['a']);
    const failedAt = now;
    now += 1;
    // The insert failed at `failedAt`: the state must come from a DESCRIBE started after it.
    expect((await watch.state(client, 'k', 'db', 't', failedAt))?.columns).toEqual(new Set(['a']));
    expect(table.reads()).toBe(2);

    table.set(['a', 'c']);
    watch.invalidate('k', 'db', 't');
    expect((await watch.state(client, 'k', 'db', 't'))?.columns).toEqual(new Set(['a', 'c']));
    now += 60_000;
    await watch.state(client, 'k', 'db', 't');
    expect(table.reads()).toBe(4);
  });

  it('keeps the last state when ClickHouse does not answer', async () => {
    let fail = false;
    const watch = new TableWatch(10, Date.now, () =>
      fail
        ? Promise.reject(new Error('ECONNREFUSED'))
        : Promise.resolve({ columns: new Set(['a']), problem: undefined }),
    );
    const first = await watch.state(client, 'k', 'db', 't');
    fail = true;
    watch.invalidate('k', 'db', 't');
    expect(await watch.state(client, 'k', 'db', 't')).toBe(first);
  });
});

describe('unknownFields', () => {
  it('lists the row fields the table has no column for', () => {
    const lines = ['{"a":1,"gone":2}\n', '{"a":2,"b":"x"}\n'];
    expect(unknownFields(lines, new Set(['a', 'b']))).toEqual(['gone']);
    expect(unknownFields(lines, new Set(['a', 'b', 'gone']))).toEqual([]);
  });
});
