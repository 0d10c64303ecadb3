import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SASLOptions } from 'kafkajs';
import { connectionKey, kafkaConnectionOf, type KafkaSource } from './kafka-security';

const source = (over: Partial<KafkaSource> = {}): KafkaSource => ({
  brokers: ['b1:9092', 'b2:9092'],
  sasl: null,
  ssl: false,
  ...over,
});

/** The token kafkajs would send, through the provider the mapping gave it. */
async function bearer(sasl: SASLOptions | undefined): Promise<string> {
  if (sasl?.mechanism !== 'oauthbearer') throw new Error(`not oauthbearer: ${sasl?.mechanism}`);
  return (await sasl.oauthBearerProvider()).value;
}

describe('kafkaConnectionOf', () => {
  it('maps brokers, TLS and the password mechanisms to kafkajs options', () => {
    expect(kafkaConnectionOf(source())).toEqual({ brokers: ['b1:9092', 'b2:9092'] });
    expect(kafkaConnectionOf(source({ brokers: [] }), ['fallback:1']).brokers).toEqual([
      'fallback:1',
    ]);
    const tls = { ca: 'CA', rejectUnauthorized: true };
    expect(kafkaConnectionOf(source({ ssl: tls })).ssl).toEqual({
      ca: 'CA',
      cert: undefined,
      key: undefined,
      rejectUnauthorized: true,
    });
    expect(kafkaConnectionOf(source({ ssl: true })).ssl).toBe(true);
    for (const [mechanism, kafkajs] of [
      ['PLAIN', 'plain'],
      ['SCRAM-SHA-256', 'scram-sha-256'],
      ['SCRAM-SHA-512', 'scram-sha-512'],
    ] as const) {
      const sasl = { mechanism, username: 'u', password: 'p' };
      expect(kafkaConnectionOf(source({ sasl })).sasl).toEqual({
        mechanism: kafkajs,
        username: 'u',
        password: 'p',
      });
    }
  });

  it('gives OAUTHBEARER a provider of the fixed token', async () => {
    const { sasl } = kafkaConnectionOf(
      source({ sasl: { mechanism: 'OAUTHBEARER', token: 'fixed-token' } }),
    );
    expect(await bearer(sasl)).toBe('fixed-token');
  });

  it('gives AWS-MSK-IAM an OAUTHBEARER provider of a token signed for the region', async () => {
    const saved = { ...process.env };
    process.env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLEEXAMPLE00';
    process.env.AWS_SECRET_ACCESS_KEY = 'fake/secret/key/for/a/unit/test/only0000';
    try {
      const { sasl, ssl } = kafkaConnectionOf(
        source({ ssl: true, sasl: { mechanism: 'AWS-MSK-IAM', region: 'ap-southeast-2' } }),
      );
      expect(ssl).toBe(true);
      const url = new URL(Buffer.from(await bearer(sasl), 'base64url').toString());
      expect(url.hostname).toBe('kafka.ap-southeast-2.amazonaws.com');
    } finally {
      process.env = saved;
    }
  });

  describe('with a client-credentials token endpoint', () => {
    let server: Server;
    let url: string;
    let issued = 0;

    beforeAll(async () => {
      server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          issued += 1;
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: `tok-${issued}`, expires_in: 3600 }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('fetches one token for every client that authenticates the same way', async () => {
      const sasl = {
        mechanism: 'OAUTHBEARER' as const,
        tokenEndpoint: url,
        clientId: 'c',
        clientSecret: 's',
      };
      // Two clients of the same pipeline (consumer, probe) and a broker reconnecting.
      const a = kafkaConnectionOf(source({ sasl })).sasl;
      const b = kafkaConnectionOf(source({ sasl: { ...sasl } })).sasl;
      expect(await Promise.all([bearer(a), bearer(b), bearer(a)])).toEqual([
        'tok-1',
        'tok-1',
        'tok-1',
      ]);
      expect(issued).toBe(1);
      // Another client id is another token source.
      expect(
        await bearer(kafkaConnectionOf(source({ sasl: { ...sasl, clientId: 'd' } })).sasl),
      ).toBe('tok-2');
    });
  });
});

describe('connectionKey', () => {
  it('is the same for the same brokers in any order with the same security, else different', () => {
    const key = connectionKey(source());
    expect(connectionKey(source({ brokers: ['b2:9092', 'b1:9092'] }))).toBe(key);
    expect(connectionKey(source({ ssl: true }))).not.toBe(key);
    expect(
      connectionKey(source({ sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } })),
    ).not.toBe(
      connectionKey(source({ sasl: { mechanism: 'PLAIN', username: 'u', password: 'q' } })),
    );
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });
});
