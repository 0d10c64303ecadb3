import { exampleOrdersPipeline } from './examples';
import { errorsOf, type Path, withValue } from './errors.spec-helpers';

const orders = exampleOrdersPipeline();

describe('each error class comes back with its field path: identity, Kafka, topics, partitions', () => {
  it.each<[string, Record<string, unknown>, Path, unknown, string, string | RegExp]>([
    // identity and shape
    ['id missing', orders, ['id'], undefined, 'id', 'required'],
    ['id not a slug', orders, ['id'], 'Orders 1', 'id', /1-63 characters of a-z/],
    ['id too long', orders, ['id'], 'a'.repeat(64), 'id', /1-63 characters/],
    ['unknown top-level field', orders, ['dedupe'], {}, 'dedupe', 'unknown field'],
    [
      'unknown nested field',
      orders,
      ['sink', 'clickhouse', 'tabel'],
      'x',
      'sink.clickhouse.tabel',
      'unknown field',
    ],
    [
      'maxFutureEventTime below 1s',
      orders,
      ['source', 'maxFutureEventTime'],
      '500ms',
      'source.maxFutureEventTime',
      'must be at least 1s',
    ],
    [
      'maxFutureEventTime above 7d',
      orders,
      ['source', 'maxFutureEventTime'],
      '8d',
      'source.maxFutureEventTime',
      'must be at most 7d',
    ],
    // kafka
    [
      'no brokers',
      orders,
      ['source', 'kafka', 'brokers'],
      [],
      'source.kafka.brokers',
      /at least one broker/,
    ],
    [
      'broker without port',
      orders,
      ['source', 'kafka', 'brokers', 0],
      'kafka',
      'source.kafka.brokers[0]',
      'must be host:port',
    ],
    [
      'broker port out of range',
      orders,
      ['source', 'kafka', 'brokers', 0],
      'k:70000',
      'source.kafka.brokers[0]',
      'must be host:port',
    ],
    [
      'bad SASL mechanism',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'GSSAPI', username: 'u', password: 'p' },
      'source.kafka.sasl.mechanism',
      /expected one of "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "AWS-MSK-IAM"/,
    ],
    [
      'OAUTHBEARER with neither token nor endpoint',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'oauthbearer' },
      'source.kafka.sasl.tokenEndpoint',
      /required: give token, or tokenEndpoint with clientId and clientSecret/,
    ],
    [
      'OAUTHBEARER endpoint without client secret',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'OAUTHBEARER', tokenEndpoint: 'https://idp.example/token', clientId: 'c' },
      'source.kafka.sasl.clientSecret',
      'required with tokenEndpoint',
    ],
    [
      'OAUTHBEARER token with grant fields',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'OAUTHBEARER', token: 't', scope: 'kafka' },
      'source.kafka.sasl.scope',
      /not with token/,
    ],
    [
      'OAUTHBEARER endpoint not http(s)',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'OAUTHBEARER', tokenEndpoint: 'ftp://idp/t', clientId: 'c', clientSecret: 's' },
      'source.kafka.sasl.tokenEndpoint',
      'must be an http:// or https:// URL',
    ],
    [
      'OAUTHBEARER endpoint with credentials in it',
      orders,
      ['source', 'kafka', 'sasl'],
      {
        mechanism: 'OAUTHBEARER',
        tokenEndpoint: 'https://c:s@idp/t',
        clientId: 'c',
        clientSecret: 's',
      },
      'source.kafka.sasl.tokenEndpoint',
      /use clientId and clientSecret/,
    ],
    [
      'AWS-MSK-IAM without region',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'aws-msk-iam' },
      'source.kafka.sasl.region',
      'required',
    ],
    [
      'AWS-MSK-IAM with a bad role ARN',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'AWS-MSK-IAM', region: 'eu-west-1', roleArn: 'admin' },
      'source.kafka.sasl.roleArn',
      'must be an IAM role ARN',
    ],
    [
      'AWS-MSK-IAM without TLS',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'AWS-MSK-IAM', region: 'eu-west-1' },
      'source.kafka.ssl',
      /AWS-MSK-IAM needs TLS/,
    ],
    [
      'SASL without username',
      orders,
      ['source', 'kafka', 'sasl'],
      { mechanism: 'PLAIN', password: 'p' },
      'source.kafka.sasl.username',
      'required',
    ],
    [
      'ssl of the wrong type',
      orders,
      ['source', 'kafka', 'ssl'],
      'yes',
      'source.kafka.ssl',
      'expected boolean or object',
    ],
    [
      'ssl field of the wrong type',
      orders,
      ['source', 'kafka', 'ssl'],
      { rejectUnauthorized: 'no' },
      'source.kafka.ssl.rejectUnauthorized',
      'expected boolean, got string',
    ],
    // topics
    ['no topics', orders, ['source', 'topics'], [], 'source.topics', /at least one topic/],
    [
      'topic name invalid',
      orders,
      ['source', 'topics', 0, 'name'],
      'a topic',
      'source.topics[0].name',
      /Kafka topic name/,
    ],
    [
      'topic name missing',
      orders,
      ['source', 'topics', 0, 'name'],
      undefined,
      'source.topics[0].name',
      'required',
    ],
    [
      'unsupported format',
      orders,
      ['source', 'topics', 0, 'format'],
      'avro',
      'source.topics[0].format',
      'expected one of "json"',
    ],
    [
      'bad startFrom',
      orders,
      ['source', 'topics', 0, 'startFrom'],
      'newest',
      'source.topics[0].startFrom',
      'expected one of "earliest", "latest"',
    ],
    [
      'eventTime CEL error',
      orders,
      ['source', 'topics', 0, 'eventTime'],
      'ts +',
      'source.topics[0].eventTime',
      'invalid expression: line 1, column 5: Unexpected token: EOF',
    ],
    // partitions
    ['partitions 0', orders, ['partitions'], 0, 'partitions', 'must be at least 1'],
    ['partitions over 1024', orders, ['partitions'], 1025, 'partitions', 'must be at most 1024'],
    ['partitions fractional', orders, ['partitions'], 1.5, 'partitions', 'must be a whole number'],
    [
      'partitions as text',
      orders,
      ['partitions'],
      '16',
      'partitions',
      'expected number, got string',
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

describe('documents that are not definitions', () => {
  it.each<[string, unknown, 'json' | 'yaml' | undefined, string | RegExp]>([
    ['invalid JSON', '{"id": ', undefined, /^invalid JSON: /],
    ['invalid JSON, declared', 'id: x', 'json', /^invalid JSON: /],
    [
      'invalid YAML with its line',
      'id: x\nsource: [\n',
      undefined,
      /^invalid YAML: .* at line 3, column 1$/,
    ],
    [
      'duplicate YAML keys',
      'id: a\nid: b\n',
      'yaml',
      'invalid YAML: Map keys must be unique at line 2, column 1',
    ],
    ['a list', '[1, 2]', 'json', 'expected object, got array'],
    ['an empty document', '', undefined, 'expected object, got null'],
    ['a number', 42, undefined, 'expected object, got number'],
  ])('%s', (_name, input, contentType, message) => {
    const errors = errorsOf(input, contentType);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.path).toBe('');
    expect(errors[0]?.message).toEqual(
      typeof message === 'string' ? message : expect.stringMatching(message),
    );
  });
});
