import { exampleOrdersPipeline } from '../definition/examples';
import type { PipelineDefinition } from '../definition/schema';
import {
  redactDefinition,
  resolveDefinitionSecrets,
  sealDefinitionSecrets,
} from '../definition/secrets';
import { SecretBox, isSealed, resolveSecret } from './secret-box';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const where = (env: NodeJS.ProcessEnv, files: Record<string, string> = {}) => ({
  env,
  readFile: (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    return text;
  },
});

/** The SASL password of a PLAIN definition (the other mechanisms have none). */
function saslPassword(def: PipelineDefinition): string | undefined {
  const sasl = def.source.kafka.sasl;
  return sasl && 'password' in sasl ? sasl.password : undefined;
}

function withSecrets(password: string, saslPassword = 's3cret-sasl') {
  const def = exampleOrdersPipeline() as unknown as PipelineDefinition;
  return {
    ...def,
    source: {
      ...def.source,
      kafka: {
        ...def.source.kafka,
        sasl: { mechanism: 'PLAIN', username: 'u', password: saslPassword },
      },
    },
    sink: { ...def.sink, clickhouse: { ...def.sink.clickhouse, password } },
  };
}

describe('SecretBox', () => {
  it('seals with a fresh IV and opens again; the plaintext is not in the sealed text', () => {
    const box = new SecretBox(KEY_A);
    const a = box.seal('hunter2');
    const b = box.seal('hunter2');
    expect(a).not.toBe(b);
    expect(isSealed(a)).toBe(true);
    expect(a).not.toContain('hunter2');
    expect(box.open(a)).toBe('hunter2');
  });

  it('opens values sealed under SECRETS_KEY_PREVIOUS after a rotation, and flags them', () => {
    const old = new SecretBox(KEY_A).seal('pw');
    const rotated = new SecretBox(KEY_B, KEY_A);
    expect(rotated.open(old)).toBe('pw');
    expect(rotated.needsReseal(old)).toBe(true);
    expect(rotated.needsReseal(rotated.seal('pw'))).toBe(false);
    expect(() => new SecretBox(KEY_B).open(old)).toThrow(/neither SECRETS_KEY/);
  });

  it('refuses a tampered value', () => {
    const box = new SecretBox(KEY_A);
    const sealed = box.seal('pw');
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => box.open(tampered)).toThrow(/corrupt/);
  });
});

describe('resolveSecret', () => {
  const box = new SecretBox();
  it('reads ${env:NAME} and ${file:/path} (without the trailing newline)', () => {
    expect(resolveSecret('${env:CH_PW}', box, where({ CH_PW: 'x1' }))).toBe('x1');
    expect(resolveSecret('${file:/run/pw}', box, where({}, { '/run/pw': 'x2\n' }))).toBe('x2');
  });

  it('names what is missing, never a value', () => {
    expect(() => resolveSecret('${env:NOPE}', box, where({}))).toThrow(/NOPE is not set/);
    expect(() => resolveSecret('${file:/run/x}', box, where({}))).toThrow(/ENOENT/);
    expect(() => resolveSecret('${file:relative}', box, where({}))).toThrow(/absolute/);
  });
});

describe('definition secrets', () => {
  it('without SECRETS_KEY refuses inline secrets by path, with the two ways out', () => {
    const { errors } = sealDefinitionSecrets(withSecrets('pw') as never, new SecretBox());
    expect(errors.map((e) => e.path)).toEqual([
      'source.kafka.sasl.password',
      'sink.clickhouse.password',
    ]);
    expect(errors[0]?.message).toMatch(/SECRETS_KEY.*\$\{env:NAME\}.*\$\{file:\/path\}/);
  });

  it('keeps references and empty passwords, seals the rest, and resolves them back', () => {
    const box = new SecretBox(KEY_A);
    const { definition, errors } = sealDefinitionSecrets(
      withSecrets('', '${env:SASL_PW}') as never,
      new SecretBox(),
    );
    expect(errors).toEqual([]);
    expect(definition.sink.clickhouse.password).toBe('');
    const sealed = sealDefinitionSecrets(withSecrets('pw') as never, box).definition;
    expect(JSON.stringify(sealed)).not.toMatch(/"pw"|s3cret-sasl/);
    const resolved = resolveDefinitionSecrets(sealed, box, where({}));
    expect(resolved.sink.clickhouse.password).toBe('pw');
    expect(saslPassword(resolved)).toBe('s3cret-sasl');
    expect(saslPassword(resolveDefinitionSecrets(definition, box, where({ SASL_PW: 'e' })))).toBe(
      'e',
    );
    expect(() => resolveDefinitionSecrets(definition, box, where({}))).toThrow(
      /source.kafka.sasl.password: environment variable SASL_PW/,
    );
  });

  it('redacts every non-empty secret', () => {
    const red = redactDefinition(withSecrets('pw') as never);
    expect(red.sink.clickhouse.password).toBe('***');
    expect(saslPassword(red)).toBe('***');
    expect(redactDefinition(withSecrets('') as never).sink.clickhouse.password).toBe('');
  });

  it('seals, resolves and redacts the OAUTHBEARER token and client secret', () => {
    const def = exampleOrdersPipeline() as unknown as PipelineDefinition;
    const withSasl = (sasl: NonNullable<PipelineDefinition['source']['kafka']['sasl']>) => ({
      ...def,
      source: { ...def.source, kafka: { ...def.source.kafka, sasl } },
    });
    const box = new SecretBox(KEY_A);
    const grant = withSasl({
      mechanism: 'OAUTHBEARER',
      tokenEndpoint: 'https://idp.example/token',
      clientId: 'sluice',
      clientSecret: 'cl13nt-s3cret',
    });
    const fixed = withSasl({ mechanism: 'OAUTHBEARER', token: 'st4tic-t0ken' });
    for (const [doc, path, value] of [
      [grant, 'source.kafka.sasl.clientSecret', 'cl13nt-s3cret'],
      [fixed, 'source.kafka.sasl.token', 'st4tic-t0ken'],
    ] as const) {
      expect(sealDefinitionSecrets(doc, new SecretBox()).errors.map((e) => e.path)).toContain(path);
      const sealed = sealDefinitionSecrets(doc, box).definition;
      expect(JSON.stringify(sealed)).not.toContain(value);
      expect(JSON.stringify(resolveDefinitionSecrets(sealed, box))).toContain(value);
      expect(JSON.stringify(redactDefinition(doc))).not.toContain(value);
    }
    // Not secrets: the client id and endpoint are shown as given.
    expect(redactDefinition(grant).source.kafka.sasl).toMatchObject({
      clientId: 'sluice',
      clientSecret: '***',
      tokenEndpoint: 'https://idp.example/token',
    });
  });
});
