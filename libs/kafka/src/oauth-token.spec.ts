import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  fetchClientCredentialsToken,
  parseTokenResponse,
  tokenRequest,
  TokenEndpointError,
} from './oauth-token';

describe('tokenRequest', () => {
  it('sends the client credentials grant with HTTP Basic, form-encoded first (RFC 6749 2.3.1)', () => {
    const req = tokenRequest({
      tokenEndpoint: 'https://idp.example/oauth2/token',
      clientId: 'sluice app',
      clientSecret: 's3:cr/et',
      scope: 'kafka read',
    });
    expect(req.url).toBe('https://idp.example/oauth2/token');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const basic = req.headers.authorization?.replace(/^Basic /, '') ?? '';
    expect(Buffer.from(basic, 'base64').toString()).toBe('sluice+app:s3%3Acr%2Fet');
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({
      grant_type: 'client_credentials',
      scope: 'kafka read',
    });
  });

  it('puts the credentials in the body with clientAuth post, and no scope when none is set', () => {
    const req = tokenRequest({
      tokenEndpoint: 'https://idp.example/token',
      clientId: 'id',
      clientSecret: 'secret',
      clientAuth: 'post',
    });
    expect(req.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({
      grant_type: 'client_credentials',
      client_id: 'id',
      client_secret: 'secret',
    });
  });
});

describe('parseTokenResponse', () => {
  it('reads access_token and turns expires_in into an expiry from the request time', () => {
    expect(
      parseTokenResponse(200, '{"access_token":"t","token_type":"Bearer","expires_in":300}', 1000),
    ).toEqual({ value: 't', expiresAt: 301_000 });
    expect(parseTokenResponse(200, '{"access_token":"t"}', 1000)).toEqual({ value: 't' });
  });

  it('names the status and a standard error code, never the rest of the body', () => {
    const refused = () =>
      parseTokenResponse(401, '{"error":"invalid_client","error_description":"secret x"}', 0);
    expect(refused).toThrow(
      new TokenEndpointError('token endpoint answered HTTP 401 (invalid_client)'),
    );
    expect(() => parseTokenResponse(502, '<html>internal host 10.0.0.7</html>', 0)).toThrow(
      /^token endpoint answered HTTP 502$/,
    );
    expect(() => parseTokenResponse(200, '{"token":"x"}', 0)).toThrow(/no access_token/);
  });
});

describe('fetchClientCredentialsToken against a local token endpoint', () => {
  let server: Server;
  let url: string;
  const seen: { method?: string; headers: IncomingMessage['headers']; body: string }[] = [];
  let answer: { status: number; body: string; location?: string } = { status: 200, body: '' };

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ method: req.method, headers: req.headers, body });
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (answer.location) headers.location = answer.location;
        res.writeHead(answer.status, headers).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => (seen.length = 0));

  it('posts the grant and returns the token with its expiry', async () => {
    answer = { status: 200, body: '{"access_token":"tok-1","expires_in":60}' };
    const token = await fetchClientCredentialsToken(
      { tokenEndpoint: url, clientId: 'c', clientSecret: 's', scope: 'kafka' },
      { now: () => 5_000 },
    );
    expect(token).toEqual({ value: 'tok-1', expiresAt: 65_000 });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.method).toBe('POST');
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from('c:s').toString('base64')}`);
    expect(seen[0]?.body).toBe('grant_type=client_credentials&scope=kafka');
  });

  it('refuses to follow a redirect, which could leave the allowed hosts', async () => {
    answer = { status: 302, body: '', location: 'http://127.0.0.2:1/elsewhere' };
    await expect(
      fetchClientCredentialsToken({ tokenEndpoint: url, clientId: 'c', clientSecret: 's' }),
    ).rejects.toThrow('token endpoint not reached: unexpected redirect');
  });

  it('names a refused connection and a timeout', async () => {
    const closed = await new Promise<string>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(`http://127.0.0.1:${port}/token`));
      });
    });
    await expect(
      fetchClientCredentialsToken({ tokenEndpoint: closed, clientId: 'c', clientSecret: 's' }),
    ).rejects.toThrow('token endpoint not reached: ECONNREFUSED');
    const silent = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      await expect(
        fetchClientCredentialsToken(
          { tokenEndpoint: `http://127.0.0.1:${port}/token`, clientId: 'c', clientSecret: 's' },
          { timeoutMs: 200 },
        ),
      ).rejects.toThrow('token endpoint not reached: timed out');
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('reports a refusal by status and error code', async () => {
    answer = { status: 400, body: '{"error":"invalid_scope"}' };
    await expect(
      fetchClientCredentialsToken({ tokenEndpoint: url, clientId: 'c', clientSecret: 's' }),
    ).rejects.toThrow('token endpoint answered HTTP 400 (invalid_scope)');
  });
});
