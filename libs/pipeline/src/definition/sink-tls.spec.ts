// sink.clickhouse.tls (issue 18): the fields, their rules, and the key handled as a secret.
import { SecretBox } from '../security/secret-box';
import { exampleOrdersPipeline } from './examples';
import { parsePipelineDefinition } from './parse';
import type { PipelineDefinition } from './schema';
import {
  redactDefinition,
  resolveDefinitionSecrets,
  resolveSinkSecrets,
  sealDefinitionSecrets,
} from './secrets';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHkey-material\n-----END PRIVATE KEY-----\n';

function withTls(tls: unknown, url = 'https://ch.internal:8443'): Record<string, unknown> {
  const def = exampleOrdersPipeline();
  const sink = def.sink as { clickhouse: Record<string, unknown> };
  return { ...def, sink: { clickhouse: { ...sink.clickhouse, url, tls } } };
}

function parsed(tls: unknown, url?: string): PipelineDefinition {
  const result = parsePipelineDefinition(withTls(tls, url));
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.definition.definition;
}

const errorsOf = (tls: unknown, url?: string) => {
  const result = parsePipelineDefinition(withTls(tls, url));
  return result.ok ? [] : result.errors;
};

const where = (env: NodeJS.ProcessEnv, files: Record<string, string> = {}) => ({
  env,
  readFile: (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return text;
  },
});

describe('sink.clickhouse.tls', () => {
  it('accepts a CA, a client certificate and key, and a server name, inline or as references', () => {
    expect(parsed({ ca: CA, cert: CERT, key: KEY, servername: 'ch' }).sink.clickhouse.tls).toEqual({
      ca: CA,
      cert: CERT,
      key: KEY,
      servername: 'ch',
    });
    expect(parsed({ ca: '${file:/etc/ca.pem}' }).sink.clickhouse.tls).toEqual({
      ca: '${file:/etc/ca.pem}',
    });
    expect(parsed(undefined, 'http://127.0.0.1:8123').sink.clickhouse.tls).toBeUndefined();
  });

  it('refuses TLS settings with an http:// url, a lone cert or key, and text that is no PEM', () => {
    expect(errorsOf({ ca: CA }, 'http://ch:8123')).toEqual([
      { path: 'sink.clickhouse.tls', message: 'needs an https:// url' },
    ]);
    expect(errorsOf({ cert: CERT })).toEqual([
      { path: 'sink.clickhouse.tls.key', message: 'a client certificate needs both cert and key' },
    ]);
    expect(errorsOf({ key: KEY })[0]?.path).toBe('sink.clickhouse.tls.cert');
    const notPem = errorsOf({ ca: '/etc/ca.pem' });
    expect(notPem[0]?.path).toBe('sink.clickhouse.tls.ca');
    expect(notPem[0]?.message).toMatch(/PEM certificate.*\$\{file:\/path\}/);
    expect(errorsOf({ ca: CA, rejectUnauthorized: false })[0]?.path).toBe(
      'sink.clickhouse.tls.rejectUnauthorized',
    );
  });

  it('treats the key as a secret: refused inline without SECRETS_KEY, sealed with it, shown as ***', () => {
    const def = parsed({ ca: CA, cert: CERT, key: KEY });
    const refused = sealDefinitionSecrets(def, new SecretBox());
    expect(refused.errors.map((e) => e.path)).toEqual(['sink.clickhouse.tls.key']);
    expect(refused.errors[0]?.message).toMatch(/SECRETS_KEY/);

    const box = new SecretBox('c'.repeat(64));
    const { definition: sealed, errors } = sealDefinitionSecrets(def, box);
    expect(errors).toEqual([]);
    expect(JSON.stringify(sealed)).not.toContain('key-material');
    expect(sealed.sink.clickhouse.tls?.ca).toBe(CA);
    expect(resolveDefinitionSecrets(sealed, box, where({})).sink.clickhouse.tls).toEqual({
      ca: CA,
      cert: CERT,
      key: KEY,
    });
    expect(redactDefinition(sealed).sink.clickhouse.tls).toEqual({
      ca: CA,
      cert: CERT,
      key: '***',
    });
  });

  it('reads referenced certificates and key where they are used, and names a missing one by path', () => {
    const def = parsed({
      ca: '${file:/etc/ch/ca.pem}',
      cert: '${file:/etc/ch/client.pem}',
      key: '${env:CH_KEY}',
    });
    const box = new SecretBox();
    expect(sealDefinitionSecrets(def, box).errors).toEqual([]);
    const files = { '/etc/ch/ca.pem': CA, '/etc/ch/client.pem': CERT };
    const sink = resolveSinkSecrets(def.sink.clickhouse, box, where({ CH_KEY: KEY }, files));
    expect(sink.tls).toEqual({
      ca: CA.replace(/\n$/, ''),
      cert: CERT.replace(/\n$/, ''),
      key: KEY,
    });
    expect(redactDefinition(def).sink.clickhouse.tls?.ca).toBe('${file:/etc/ch/ca.pem}');
    expect(() => resolveSinkSecrets(def.sink.clickhouse, box, where({ CH_KEY: KEY }))).toThrow(
      /^sink.clickhouse.tls.ca: cannot read \/etc\/ch\/ca.pem/,
    );
    expect(() => resolveDefinitionSecrets(def, box, where({}, files))).toThrow(
      /^sink.clickhouse.tls.key: environment variable CH_KEY/,
    );
  });
});

describe('source.kafka.ssl certificates', () => {
  it('reads a referenced CA and client certificate where they are used, as the sink does', () => {
    const def = parsePipelineDefinition(exampleOrdersPipeline());
    if (!def.ok) throw new Error(JSON.stringify(def.errors));
    const base = def.definition.definition;
    const withSsl: PipelineDefinition = {
      ...base,
      source: {
        ...base.source,
        kafka: {
          ...base.source.kafka,
          ssl: { ca: '${file:/etc/kafka/ca.pem}', cert: CERT, rejectUnauthorized: true },
        },
      },
    };
    const files = { '/etc/kafka/ca.pem': CA };
    const resolved = resolveDefinitionSecrets(withSsl, new SecretBox(), where({}, files));
    expect(resolved.source.kafka.ssl).toEqual({
      ca: CA.replace(/\n$/, ''),
      cert: CERT,
      rejectUnauthorized: true,
    });
    expect(() => resolveDefinitionSecrets(withSsl, new SecretBox(), where({}))).toThrow(
      /^source.kafka.ssl.ca: cannot read \/etc\/kafka\/ca.pem/,
    );
  });
});
