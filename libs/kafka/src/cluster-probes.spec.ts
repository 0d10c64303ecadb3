import { ClusterProbes, describeDownClusters } from './cluster-probes';
import type { KafkaConnection, KafkaSource } from './kafka-security';

const plain = (...brokers: string[]): KafkaSource => ({ brokers, ssl: false, sasl: null });

function harness(down: (c: KafkaConnection) => string | undefined = () => undefined) {
  let clock = 0;
  const seen: KafkaConnection[] = [];
  const probes = new ClusterProbes(
    (connection) => {
      seen.push(connection);
      const why = down(connection);
      return why === undefined ? Promise.resolve() : Promise.reject(new Error(why));
    },
    { cacheMs: 5_000, now: () => clock },
  );
  return { probes, seen, at: (ms: number) => (clock = ms) };
}

describe('ClusterProbes', () => {
  it('probes each distinct broker set and security once, with that security', async () => {
    const { probes, seen } = harness();
    const tls = { ...plain('k1:9093'), ssl: { ca: 'CA', rejectUnauthorized: true } };
    const outcomes = await probes.check([
      { id: 'a', kafka: plain('k1:9092', 'k2:9092') },
      { id: 'b', kafka: plain('k2:9092', 'k1:9092') },
      { id: 'c', kafka: tls },
      {
        id: 'd',
        kafka: { ...tls, sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } },
      },
    ]);
    expect(outcomes).toEqual([
      { brokers: ['k1:9092', 'k2:9092'], pipelines: ['a', 'b'] },
      { brokers: ['k1:9093'], pipelines: ['c'] },
      { brokers: ['k1:9093'], pipelines: ['d'] },
    ]);
    expect(seen.map((c) => [c.ssl, c.sasl])).toEqual([
      [undefined, undefined],
      [{ ca: 'CA', cert: undefined, key: undefined, rejectUnauthorized: true }, undefined],
      [
        { ca: 'CA', cert: undefined, key: undefined, rejectUnauthorized: true },
        { mechanism: 'plain', username: 'u', password: 'p' },
      ],
    ]);
  });

  it('reuses an outcome for the cache time, then probes again', async () => {
    const { probes, seen, at } = harness();
    const targets = [{ id: 'a', kafka: plain('k:1') }];
    await probes.check(targets);
    at(4_999);
    await probes.check(targets);
    expect(seen).toHaveLength(1);
    at(5_000);
    await probes.check(targets);
    expect(seen).toHaveLength(2);
  });

  it('shares a probe still running, and names what is down with its pipelines', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const probes = new ClusterProbes(
      () => {
        calls += 1;
        return new Promise<void>((_, reject) => {
          release = () => reject(new Error('SASL authentication failed'));
        });
      },
      { cacheMs: 0 },
    );
    const targets = [
      { id: 'a', kafka: plain('k:1') },
      { id: 'b', kafka: plain('k:1') },
    ];
    const first = probes.check(targets);
    const second = probes.check(targets);
    release();
    const [one, two] = await Promise.all([first, second]);
    expect(calls).toBe(1);
    expect(two).toEqual(one);
    expect(describeDownClusters(one)).toBe('k:1 (pipelines a, b): SASL authentication failed');
  });

  it('describes the process brokers without pipelines, and nothing when all answer', async () => {
    const { probes } = harness((c) => (c.brokers[0] === 'down:1' ? 'Connection error' : undefined));
    const outcomes = await probes.check([
      { kafka: plain('down:1') },
      { id: 'x', kafka: plain('up:1') },
    ]);
    expect(describeDownClusters(outcomes)).toBe('down:1: Connection error');
    expect(describeDownClusters(outcomes.slice(1))).toBe('');
  });
});
