import {
  isInsertTriggered,
  qualifiedName,
  type TableFacts,
  tableProblems,
  tableSetting,
  windowSettingOf,
} from './exactly-once';

const defaults = { non_replicated_deduplication_window: 0, replicated_deduplication_window: 10000 };

function facts(engine: string, engineFull = '', extra: Partial<TableFacts> = {}): TableFacts {
  return {
    database: 'db',
    name: 't',
    engine,
    engineFull,
    createTableQuery: '',
    dependentDatabases: [],
    dependentTables: [],
    targetDatabase: '',
    targetTable: '',
    ...extra,
  };
}

describe('tableSetting', () => {
  const full =
    "MergeTree ORDER BY k SETTINGS index_granularity = 8192, non_replicated_deduplication_window = \\'50\\'";

  it('reads plain and quoted values after SETTINGS', () => {
    expect(tableSetting(full, 'non_replicated_deduplication_window')).toBe(50);
    expect(
      tableSetting(
        'MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 7',
        'non_replicated_deduplication_window',
      ),
    ).toBe(7);
    expect(
      tableSetting('MergeTree ORDER BY k', 'non_replicated_deduplication_window'),
    ).toBeUndefined();
  });

  it('does not confuse settings that share a suffix or prefix', () => {
    const replicated =
      "ReplicatedMergeTree('/p', 'r') ORDER BY k SETTINGS replicated_deduplication_window_seconds = 10, non_replicated_deduplication_window = 5";
    expect(tableSetting(replicated, 'replicated_deduplication_window')).toBeUndefined();
    expect(tableSetting(replicated, 'non_replicated_deduplication_window')).toBe(5);
  });
});

describe('tableProblems', () => {
  it('refuses a window of 1: a retry after any other insert would land twice', () => {
    const problems = tableProblems(
      facts('MergeTree', 'MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 1'),
      defaults,
      undefined,
      false,
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/remembers only its last insert/);
    expect(problems[0]?.fix).toBe(
      'ALTER TABLE db.t MODIFY SETTING non_replicated_deduplication_window = 1000',
    );
  });

  it('accepts a MergeTree with a window and refuses one without, with the ALTER to run', () => {
    expect(
      tableProblems(
        facts(
          'MergeTree',
          'MergeTree ORDER BY k SETTINGS non_replicated_deduplication_window = 100',
        ),
        defaults,
        undefined,
        false,
      ),
    ).toEqual([]);
    const [problem, ...rest] = tableProblems(
      facts('MergeTree', 'MergeTree ORDER BY k'),
      defaults,
      undefined,
      false,
    );
    expect(rest).toEqual([]);
    expect(problem?.fix).toBe(
      'ALTER TABLE db.t MODIFY SETTING non_replicated_deduplication_window = 1000',
    );
    expect(problem?.message).toContain(
      'Run: ALTER TABLE db.t MODIFY SETTING non_replicated_deduplication_window = 1000',
    );
  });

  it('uses the server default when the table sets nothing', () => {
    const lenient = { ...defaults, non_replicated_deduplication_window: 100 };
    expect(
      tableProblems(
        facts('ReplacingMergeTree', 'ReplacingMergeTree ORDER BY k'),
        lenient,
        undefined,
        false,
      ),
    ).toEqual([]);
  });

  it('treats Replicated tables by their own window, on by default', () => {
    expect(tableProblems(facts('ReplicatedMergeTree'), defaults, undefined, false)).toEqual([]);
    const off = facts(
      'ReplicatedMergeTree',
      "ReplicatedMergeTree('/p', 'r') ORDER BY k SETTINGS replicated_deduplication_window = 0",
    );
    expect(tableProblems(off, defaults, undefined, false)[0]?.fix).toBe(
      'ALTER TABLE db.t MODIFY SETTING replicated_deduplication_window = 1000',
    );
    expect(windowSettingOf('SharedMergeTree')).toBe('replicated_deduplication_window');
  });

  it('names the view through which a target is reached', () => {
    const [problem] = tableProblems(
      facts('MergeTree', 'MergeTree ORDER BY k'),
      defaults,
      'db.mv',
      false,
    );
    expect(problem).toMatchObject({ table: 'db.t', view: 'db.mv' });
    expect(problem?.message).toMatch(/written by materialized view db\.mv.*double the view/);
  });

  it('refuses engines that cannot deduplicate, and Null without views', () => {
    expect(tableProblems(facts('Memory'), defaults, undefined, false)[0]?.message).toMatch(
      /Memory engine cannot deduplicate/,
    );
    expect(tableProblems(facts('Log'), defaults, undefined, false)).toHaveLength(1);
    expect(tableProblems(facts('Null'), defaults, undefined, false)[0]?.message).toMatch(
      /discards rows/,
    );
    expect(tableProblems(facts('Null'), defaults, undefined, true)).toEqual([]);
    const view = facts('MaterializedView', '', { targetDatabase: 'db', targetTable: 'x' });
    expect(tableProblems(view, defaults, undefined, false)[0]?.message).toMatch(
      /is a materialized view.*db\.x/,
    );
  });
});

describe('names and views', () => {
  it('quotes identifiers only where needed', () => {
    expect(qualifiedName('db', 't_1')).toBe('db.t_1');
    expect(qualifiedName('my-db', '.inner_id.5f`x')).toBe('`my-db`.`.inner_id.5f\\`x`');
  });

  it('skips refreshable views', () => {
    expect(
      isInsertTriggered(
        facts('MaterializedView', '', {
          createTableQuery: 'CREATE MATERIALIZED VIEW v TO t AS SELECT 1',
        }),
      ),
    ).toBe(true);
    expect(
      isInsertTriggered(
        facts('MaterializedView', '', {
          createTableQuery: 'CREATE MATERIALIZED VIEW v REFRESH EVERY 1 HOUR TO t AS SELECT 1',
        }),
      ),
    ).toBe(false);
    expect(isInsertTriggered(facts('View'))).toBe(false);
  });
});
