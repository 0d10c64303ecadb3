// Complete, valid definitions: issue 3's single-topic pipeline and issue 4's join. Used by the
// specs and the README, and handy for other tests and the demo. Fresh objects on every call.

export function exampleOrdersPipeline(): Record<string, unknown> {
  return {
    id: 'orders',
    source: {
      kafka: { brokers: ['127.0.0.1:9092'], sasl: null, ssl: false },
      topics: [{ name: 'orders', startFrom: 'earliest', eventTime: 'ts' }],
    },
    partitions: 16,
    filter: "amount > 0 && action != 'test'",
    dedup: { key: 'event_id', window: '24h' },
    transform: { columns: { amount_cents: 'int(amount * 100.0)', day: 'ts' } },
    sink: {
      clickhouse: {
        url: 'http://127.0.0.1:8123',
        database: 'default',
        table: 'orders',
        username: 'default',
        password: '',
        batch: { maxRows: 10000, maxDelay: '1s' },
      },
    },
  };
}

export function exampleJoinPipeline(): Record<string, unknown> {
  return {
    id: 'orders-enriched',
    source: {
      kafka: { brokers: ['127.0.0.1:9092'] },
      topics: [
        { name: 'orders', eventTime: 'ts' },
        { name: 'customers', eventTime: 'updated_at' },
      ],
    },
    dedup: {
      orders: { key: 'order_id', window: '1h' },
      customers: { key: "string(id) + ':' + string(version)", window: '1h' },
    },
    join: {
      type: 'left',
      window: '10m',
      lateness: '30s',
      left: { topic: 'orders', key: 'customer_id' },
      right: { topic: 'customers', key: 'id' },
    },
    filter: 'left.amount > 0',
    transform: {
      columns: {
        order_id: 'left.order_id',
        customer_name: "has(right.name) ? right.name : ''",
        amount_cents: 'int(left.amount * 100.0)',
      },
    },
    sink: { clickhouse: { url: 'http://127.0.0.1:8123', table: 'orders_enriched' } },
  };
}
