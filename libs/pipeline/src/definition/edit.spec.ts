/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call --
   the specs edit example documents field by field, as a user edits a file */
import {
  consumerFacet,
  keepRedactedSecrets,
  keepUnchangedSecrets,
  liveChangeConflicts,
} from './edit';
import { exampleJoinPipeline, exampleOrdersPipeline } from './examples';
import { parsePipelineDefinition } from './parse';
import type { PipelineDefinition } from './schema';

function normalized(input: Record<string, unknown>): PipelineDefinition {
  const result = parsePipelineDefinition(input);
  if (!result.ok) throw new Error(`unexpected errors: ${JSON.stringify(result.errors)}`);
  return result.definition.definition;
}

/** The orders example with `change` applied to a deep copy of its input. */
function orders(change: (def: Record<string, any>) => void = () => undefined): PipelineDefinition {
  const input = exampleOrdersPipeline() as Record<string, any>;
  change(input);
  return normalized(input);
}

const paths = (errors: { path: string }[]) => errors.map((e) => e.path);

describe('liveChangeConflicts', () => {
  it('lets filter, transform, dedup window, batch, DLQ bound and sink credentials change live', () => {
    const next = orders((d) => {
      d.filter = 'amount > 10';
      d.transform = { columns: { amount_cents: 'int(amount * 1000.0)' } };
      d.dedup.window = '1h';
      d.sink.clickhouse.batch = { maxRows: 5, maxDelay: '200ms' };
      d.sink.clickhouse.password = 'other';
      d.dlq = { maxEntries: 7 };
      d.source.kafka.sasl = { mechanism: 'PLAIN', username: 'u', password: 'p' };
    });
    expect(liveChangeConflicts(orders(), next)).toEqual([]);
  });

  it('refuses partitions, topics, brokers, dedup keys and the target table with the path', () => {
    const next = orders((d) => {
      d.partitions = 8;
      d.source.topics.push({ name: 'other', eventTime: 'ts' });
      d.source.kafka.brokers = ['10.0.0.1:9092'];
      d.dedup.key = 'order_id';
      d.sink.clickhouse.table = 'elsewhere';
    });
    expect(paths(liveChangeConflicts(orders(), next))).toEqual([
      'partitions',
      'source.topics',
      'source.kafka.brokers',
      'dedup',
      'sink.clickhouse.table',
    ]);
    expect(liveChangeConflicts(orders(), next)[0]?.message).toMatch(
      /^cannot change in a running pipeline: /,
    );
  });

  it('refuses adding or removing dedup, and event-time rules of a pipeline with dedup', () => {
    expect(
      paths(
        liveChangeConflicts(
          orders(),
          orders((d) => delete d.dedup),
        ),
      ),
    ).toEqual(['dedup']);
    const timed = orders((d) => {
      d.source.topics[0].eventTime = 'created_at';
      d.source.maxFutureEventTime = '2h';
      d.source.topics[0].startFrom = 'latest';
    });
    expect(paths(liveChangeConflicts(orders(), timed))).toEqual([
      'source.topics[0].startFrom',
      'source.topics[0].eventTime',
      'source.maxFutureEventTime',
    ]);
  });

  it('lets event-time rules change in a pipeline that reads no event time', () => {
    const plain = (time: string) =>
      orders((d) => {
        delete d.dedup;
        d.source.topics[0].eventTime = time;
      });
    expect(liveChangeConflicts(plain('ts'), plain('created_at'))).toEqual([]);
  });

  it('accepts the per-topic form of the same dedup spec, refuses any join change', () => {
    const perTopic = orders((d) => (d.dedup = { orders: { key: 'event_id', window: '2h' } }));
    expect(liveChangeConflicts(orders(), perTopic)).toEqual([]);
    const join = normalized(exampleJoinPipeline());
    const input = exampleJoinPipeline() as Record<string, any>;
    input.join.type = 'inner';
    expect(paths(liveChangeConflicts(join, normalized(input)))).toEqual(['join']);
    input.join.type = 'left';
    input.filter = 'left.amount > 5';
    expect(liveChangeConflicts(join, normalized(input))).toEqual([]);
  });
});

describe('consumerFacet', () => {
  it('moves with what the consumer reads, not with the filter, transform, batch or dedup window', () => {
    const facet = consumerFacet(orders());
    const actorOnly = orders((d) => {
      d.filter = 'true';
      d.transform = { columns: {} };
      d.dedup.window = '5m';
      d.sink.clickhouse.batch.maxRows = 3;
      d.dlq = { maxEntries: 9 };
    });
    expect(consumerFacet(actorOnly)).toBe(facet);
    expect(consumerFacet(orders((d) => (d.dedup.key = 'other')))).not.toBe(facet);
    expect(consumerFacet(orders((d) => (d.source.kafka.ssl = true)))).not.toBe(facet);
  });
});

describe('secrets of an edit', () => {
  const withPassword = (password: string) => orders((d) => (d.sink.clickhouse.password = password));
  // Stand-in for sealing: `sealed<iv>:<plain>`, a new iv every time, as AES-GCM seals are.
  const open = (v: string) => /^sealed\d*:(.*)$/.exec(v)?.[1] ?? v;

  it('keeps the stored secret where the edit sends ***', () => {
    const kept = keepRedactedSecrets(withPassword('***'), withPassword('sealed:pw'), open);
    expect(kept.sink.clickhouse.password).toBe('pw');
    const changed = keepRedactedSecrets(withPassword('new'), withPassword('sealed:pw'), open);
    expect(changed.sink.clickhouse.password).toBe('new');
  });

  it('keeps the stored sealed text where the value did not change, so nothing changed', () => {
    const stored = withPassword('sealed1:pw');
    expect(keepUnchangedSecrets(withPassword('sealed2:pw'), stored, open)).toEqual(stored);
    const other = keepUnchangedSecrets(withPassword('sealed3:new'), stored, open);
    expect(other.sink.clickhouse.password).toBe('sealed3:new');
    const ref = keepUnchangedSecrets(withPassword('${env:PW}'), stored, open);
    expect(ref.sink.clickhouse.password).toBe('${env:PW}');
  });
});
