import { Kafka } from 'kafkajs';
import { clusterFactoryOf, RecordReader } from './record-reader';

// RecordReader reads through kafkajs internals; this fails first when an upgrade moves them.
describe('RecordReader on kafkajs internals', () => {
  const kafka = new Kafka({ clientId: 'spec', brokers: ['127.0.0.1:1'] });

  it("finds kafkajs's cluster factory and the cluster calls it uses, without connecting", () => {
    const cluster = clusterFactoryOf(kafka)({ allowAutoTopicCreation: false }) as Record<
      string,
      unknown
    >;
    for (const name of [
      'connect',
      'disconnect',
      'addTargetTopic',
      'refreshMetadata',
      'refreshMetadataIfNecessary',
      'findLeaderForPartitions',
      'findBroker',
    ]) {
      expect({ name, type: typeof cluster[name] }).toEqual({ name, type: 'function' });
    }
    expect(() => new RecordReader(kafka)).not.toThrow();
  });

  it('says so when the factory is gone', () => {
    expect(() => clusterFactoryOf({} as Kafka)).toThrow(/kafkajs has no/);
  });
});
