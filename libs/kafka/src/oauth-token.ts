// OAuth 2 client-credentials grant (RFC 6749 section 4.4): the token source of SASL OAUTHBEARER
// when a definition gives `tokenEndpoint` instead of a fixed token.
import type { IssuedToken } from './token-cache';

export interface ClientCredentials {
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  /** `basic` (default): HTTP Basic; `post`: client_id and client_secret in the form body. */
  clientAuth?: 'basic' | 'post';
  scope?: string;
}

/** The token endpoint failed or answered something that is not a token. */
export class TokenEndpointError extends Error {
  override readonly name = 'TokenEndpointError';
}

export interface TokenRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

// RFC 6749 2.3.1: the Basic credentials are form-urlencoded before base64.
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

/** The HTTP request of the grant. */
export function tokenRequest(grant: ClientCredentials): TokenRequest {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (grant.scope !== undefined) form.set('scope', grant.scope);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (grant.clientAuth === 'post') {
    form.set('client_id', grant.clientId);
    form.set('client_secret', grant.clientSecret);
  } else {
    const pair = `${formEncode(grant.clientId)}:${formEncode(grant.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  return { url: grant.tokenEndpoint, headers, body: form.toString() };
}

// Only the standard error code of a refusal is repeated (RFC 6749 5.2), never the body: the
// endpoint is the definition author's choice and its answer lands in logs and /health/ready.
const ERROR_CODE_RE = /^[\w.-]{1,64}$/;

/** The token of a successful answer; throws TokenEndpointError otherwise. */
export function parseTokenResponse(status: number, body: string, issuedAt: number): IssuedToken {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const fields = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  if (status < 200 || status > 299) {
    const code =
      typeof fields.error === 'string' && ERROR_CODE_RE.test(fields.error)
        ? ` (${fields.error})`
        : '';
    throw new TokenEndpointError(`token endpoint answered HTTP ${status}${code}`);
  }
  const value = fields.access_token;
  if (typeof value !== 'string' || value === '') {
    throw new TokenEndpointError('token endpoint answer has no access_token');
  }
  const expiresIn = Number(fields.expires_in);
  return Number.isFinite(expiresIn) && expiresIn > 0
    ? { value, expiresAt: issuedAt + expiresIn * 1000 }
    : { value };
}

export interface FetchTokenOptions {
  timeoutMs?: number;
  now?: () => number;
}

/** Runs the grant once. */
export async function fetchClientCredentialsToken(
  grant: ClientCredentials,
  options: FetchTokenOptions = {},
): Promise<IssuedToken> {
  const now = options.now ?? Date.now;
  const request = tokenRequest(grant);
  const sentAt = now();
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      // A redirect could lead outside PIPELINE_ALLOWED_HOSTS, which checked only this URL.
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new TokenEndpointError(`token endpoint not reached: ${fetchFailure(err)}`);
  }
  return parseTokenResponse(response.status, await response.text(), sentAt);
}

/** Why fetch failed, from this side of the connection (undici's cause: a code or its message). */
function fetchFailure(err: unknown): string {
  if ((err as Error).name === 'TimeoutError') return 'timed out';
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return (err as Error).message;
}
