import { exampleJoinPipeline, exampleOrdersPipeline } from './examples';
import { errorsOf, type Path, withValue } from './errors.spec-helpers';

const orders = exampleOrdersPipeline();
const join = exampleJoinPipeline();

describe('each error class comes back with its field path: filter, dedup, join, transform, sink, dlq', () => {
  it.each<[string, Record<string, unknown>, Path, unknown, string, string | RegExp]>([
    // filter
    [
      'filter syntax error',
      orders,
      ['filter'],
      'amount > 0 &&\n  action ==',
      'filter',
      'invalid expression: line 2, column 12: Unexpected token: EOF',
    ],
    [
      'filter unknown function',
      orders,
      ['filter'],
      'nope(amount)',
      'filter',
      /line 1, column 1: found no matching overload for 'nope/,
    ],
    [
      'filter not bool',
      orders,
      ['filter'],
      "'yes'",
      'filter',
      /expected a bool expression, this one gives string/,
    ],
    ['filter not a string', orders, ['filter'], true, 'filter', 'expected string, got boolean'],
    [
      'filter regex RE2 cannot run',
      orders,
      ['filter'],
      "action.matches('(?<=b)uy')",
      'filter',
      /^invalid expression: line 1, column 16: invalid RE2 regular expression "\(\?<=b\)uy"/,
    ],
    [
      'filter comprehensions nested too deep',
      orders,
      ['filter'],
      'a.all(w, b.all(x, c.all(y, d.all(z, true))))',
      'filter',
      /^invalid expression: line 1, column 28: comprehensions .* nest 4 deep here; at most 3/,
    ],
    [
      'transform column over budget at creation',
      orders,
      ['transform', 'columns', 'amount_cents'],
      `[${'0,'.repeat(99)}0].map(a, [${'0,'.repeat(99)}0].map(b, [${'0,'.repeat(9)}0].map(c, c))).size()`,
      'transform.columns.amount_cents',
      /its comprehensions over literal lists take 110100 steps per event, more than the evaluation budget of 50000$/,
    ],
    // dedup
    [
      'dedup window over 7 days',
      orders,
      ['dedup', 'window'],
      '8d',
      'dedup.window',
      'must be at most 7d',
    ],
    [
      'dedup window of zero',
      orders,
      ['dedup', 'window'],
      '0s',
      'dedup.window',
      'must be greater than 0',
    ],
    [
      'dedup window bad duration',
      orders,
      ['dedup', 'window'],
      '1 day',
      'dedup.window',
      /invalid duration "1 day": use a whole number followed by ms, s, m, h or d/,
    ],
    ['dedup window missing', orders, ['dedup', 'window'], undefined, 'dedup.window', 'required'],
    [
      'dedup key CEL error',
      orders,
      ['dedup', 'key'],
      'event_id +',
      'dedup.key',
      /line 1, column 11/,
    ],
    [
      'dedup key not a scalar',
      orders,
      ['dedup', 'key'],
      '[event_id]',
      'dedup.key',
      /a key must be a string, number or bool/,
    ],
    [
      'dedup map with unknown topic',
      orders,
      ['dedup'],
      { clicks: { key: 'id', window: '1h' } },
      'dedup.clicks',
      'topic "clicks" is not in source.topics',
    ],
    [
      'dedup map entry invalid',
      orders,
      ['dedup'],
      { orders: { key: 'id', window: '30d' } },
      'dedup.orders.window',
      'must be at most 7d',
    ],
    // join
    [
      'join window over 60 minutes',
      join,
      ['join', 'window'],
      '61m',
      'join.window',
      'must be at most 1h',
    ],
    ['join window missing', join, ['join', 'window'], undefined, 'join.window', 'required'],
    [
      'join lateness too large',
      join,
      ['join', 'lateness'],
      '2h',
      'join.lateness',
      'must be at most 1h',
    ],
    [
      'join type unknown',
      join,
      ['join', 'type'],
      'outer',
      'join.type',
      'expected one of "inner", "left"',
    ],
    [
      'join topic not in sources',
      join,
      ['join', 'right', 'topic'],
      'users',
      'join.right.topic',
      'topic "users" is not in source.topics',
    ],
    ['join key missing', join, ['join', 'left', 'key'], undefined, 'join.left.key', 'required'],
    ['join side missing', join, ['join', 'right'], undefined, 'join.right', 'required'],
    [
      'join topic missing',
      join,
      ['join', 'left', 'topic'],
      undefined,
      'join.left.topic',
      'required',
    ],
    [
      'join idle timeout too short',
      join,
      ['join', 'idleTimeout'],
      '10ms',
      'join.idleTimeout',
      'must be at least 100ms',
    ],
    [
      'join transform reading a bare field',
      join,
      ['transform', 'columns', 'order_id'],
      'order_id',
      'transform.columns.order_id',
      /after a join, fields are read as left.<field> or right.<field>/,
    ],
    [
      'join key CEL error',
      join,
      ['join', 'left', 'key'],
      'customer_id ==',
      'join.left.key',
      /line 1, column 15/,
    ],
    [
      'join with the same topic twice',
      join,
      ['join', 'right', 'topic'],
      'orders',
      'join.right.topic',
      'must differ from join.left.topic',
    ],
    [
      'join filter reading a bare field',
      join,
      ['filter'],
      'amount > 0',
      'filter',
      /Unknown variable: amount: after a join, fields are read as left.<field> or right.<field>/,
    ],
    // transform
    [
      'transform CEL error',
      orders,
      ['transform', 'columns', 'amount_cents'],
      'int(amount * )',
      'transform.columns.amount_cents',
      /invalid expression: line 1, column 14/,
    ],
    [
      'transform column with an odd name',
      orders,
      ['transform', 'columns', 'a b'],
      '1 +',
      'transform.columns["a b"]',
      /Unexpected token/,
    ],
    [
      'transform column empty expression',
      orders,
      ['transform', 'columns', 'day'],
      ' ',
      'transform.columns.day',
      'invalid expression: expression is empty',
    ],
    ['transform without columns', orders, ['transform'], {}, 'transform.columns', 'required'],
    // sink
    ['sink missing', orders, ['sink'], undefined, 'sink', 'required'],
    [
      'sink url not http',
      orders,
      ['sink', 'clickhouse', 'url'],
      'tcp://localhost:9000',
      'sink.clickhouse.url',
      'must be an http:// or https:// URL',
    ],
    [
      'sink table missing',
      orders,
      ['sink', 'clickhouse', 'table'],
      undefined,
      'sink.clickhouse.table',
      'required',
    ],
    [
      'sink table empty',
      orders,
      ['sink', 'clickhouse', 'table'],
      '',
      'sink.clickhouse.table',
      'must not be empty',
    ],
    [
      'batch maxRows 0',
      orders,
      ['sink', 'clickhouse', 'batch', 'maxRows'],
      0,
      'sink.clickhouse.batch.maxRows',
      'must be at least 1',
    ],
    [
      'batch maxDelay below 10ms',
      orders,
      ['sink', 'clickhouse', 'batch', 'maxDelay'],
      '5ms',
      'sink.clickhouse.batch.maxDelay',
      'must be at least 10ms',
    ],
    [
      'batch maxDelay over 60s',
      orders,
      ['sink', 'clickhouse', 'batch', 'maxDelay'],
      '2m',
      'sink.clickhouse.batch.maxDelay',
      'must be at most 1m',
    ],
    // dlq
    [
      'dlq maxEntries 0',
      orders,
      ['dlq'],
      { maxEntries: 0 },
      'dlq.maxEntries',
      'must be at least 1',
    ],
  ])('%s', (_name, doc, path, value, errorPath, message) => {
    const errors = errorsOf(withValue(doc, path, value));
    const atPath = errors.filter((e) => e.path === errorPath);
    expect(atPath).toHaveLength(1);
    expect(atPath[0]?.message).toEqual(
      typeof message === 'string' ? message : expect.stringMatching(message),
    );
  });
});

describe('cross-section rules', () => {
  it('reports duplicate topics at the later entry', () => {
    const doc = withValue(orders, ['source', 'topics', 1], { name: 'orders' });
    expect(errorsOf(doc)).toEqual([
      {
        path: 'source.topics[1].name',
        message: 'duplicate topic "orders" (also source.topics[0])',
      },
    ]);
  });

  it('refuses source topics that a join does not read', () => {
    const doc = withValue(join, ['source', 'topics', 2], { name: 'payments' });
    expect(errorsOf(doc)).toEqual([
      {
        path: 'source.topics[2].name',
        message: expect.stringContaining('topic "payments" is not part of the join'),
      },
    ]);
  });

  it('quotes dedup map keys that are not identifiers', () => {
    const doc = withValue(orders, ['dedup'], { 'page-views': { key: 'id', window: '1h' } });
    expect(errorsOf(doc)).toEqual([
      { path: 'dedup["page-views"]', message: 'topic "page-views" is not in source.topics' },
    ]);
  });
});

describe('every error at once', () => {
  it('lists all problems of a badly broken definition in one answer', () => {
    const errors = errorsOf({
      id: 'Bad Id',
      source: { kafka: { brokers: [] }, topics: [{ name: 'a', eventTime: 'ts +' }, { name: 'a' }] },
      partitions: 0,
      filter: 'amount >',
      dedup: { key: 'id', window: '8d' },
      join: { window: '2h', left: { topic: 'a', key: 'id' }, right: { topic: 'zz', key: 'id' } },
      transform: { columns: { c: 'left.x +' } },
      sink: { clickhouse: { url: 'ftp://x', table: 't', batch: { maxDelay: '1x' } } },
      dlq: { maxEntries: -1 },
      extra: true,
    });
    expect(errors.map((e) => e.path).sort()).toEqual(
      [
        'id',
        'source.kafka.brokers',
        'source.topics[0].eventTime',
        'source.topics[1].name',
        'partitions',
        'filter',
        'dedup.window',
        'join.window',
        'join.right.topic',
        'transform.columns.c',
        'sink.clickhouse.url',
        'sink.clickhouse.batch.maxDelay',
        'dlq.maxEntries',
        'extra',
      ].sort(),
    );
  });
});
