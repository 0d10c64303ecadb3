import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Roles of the admin API, each including the one before: `read` (every GET, and the preview of an
 * event, which writes nothing), `operate` (read plus
 * stop, resume and the operations actions), `admin` (everything: create, edit, delete).
 */
export const API_ROLES = ['read', 'operate', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];

export function isApiRole(value: string): value is ApiRole {
  return (API_ROLES as readonly string[]).includes(value);
}

/** True when a token of role `held` may call a route that needs `needed`. */
export function roleAllows(held: ApiRole, needed: ApiRole): boolean {
  return API_ROLES.indexOf(held) >= API_ROLES.indexOf(needed);
}

/** One `API_TOKENS` entry. Only the SHA-256 of the token is known, never the token itself. */
export interface ApiToken {
  name: string;
  role: ApiRole;
  digest: Buffer;
}

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const DIGEST_RE = /^[0-9a-fA-F]{64}$/;

/** The hex SHA-256 of a token: what `API_TOKENS` and `METRICS_TOKEN` hold. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Parses a hex SHA-256 (64 hex characters); undefined when it is not one. */
export function parseDigest(text: string): Buffer | undefined {
  const trimmed = text.trim();
  return DIGEST_RE.test(trimmed) ? Buffer.from(trimmed, 'hex') : undefined;
}

/**
 * Parses `API_TOKENS`: comma-separated `name:role:sha256hex`. Returns the tokens, or every
 * problem found (so the start fails with one message naming them all).
 */
export function parseApiTokens(text: string): { tokens: ApiToken[]; problems: string[] } {
  const tokens: ApiToken[] = [];
  const problems: string[] = [];
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  entries.forEach((entry, index) => {
    const parts = entry.split(':');
    const [name = '', role = '', hex = ''] = parts;
    // Names are safe to show; the digest is not shown either, in case a token was pasted instead.
    const label = NAME_RE.test(name) ? `entry ${index + 1} (${name})` : `entry ${index + 1}`;
    const digest = parseDigest(hex);
    if (parts.length !== 3) {
      problems.push(`${label}: must be name:role:sha256hex`);
      return;
    }
    if (!NAME_RE.test(name)) problems.push(`${label}: name must be 1-64 of A-Z a-z 0-9 . _ -`);
    if (!isApiRole(role)) problems.push(`${label}: role must be one of ${API_ROLES.join(', ')}`);
    if (!digest) {
      problems.push(`${label}: the token must be given as its SHA-256 in 64 hex characters`);
    }
    if (tokens.some((t) => t.name === name)) problems.push(`${label}: name used twice`);
    if (digest && tokens.some((t) => t.digest.equals(digest))) {
      problems.push(`${label}: the same token is listed twice`);
    }
    if (NAME_RE.test(name) && isApiRole(role) && digest) tokens.push({ name, role, digest });
  });
  if (entries.length === 0) problems.push('lists no token');
  return { tokens, problems };
}

/**
 * Finds the token a request presents. The presented token is hashed and compared with every
 * configured digest in constant time, without stopping at a match, so neither the content nor the
 * position of a token can be learnt from response times.
 */
export function matchToken<T extends { digest: Buffer }>(
  candidates: readonly T[],
  presented: string,
): T | undefined {
  const digest = createHash('sha256').update(presented, 'utf8').digest();
  let found: T | undefined;
  for (const candidate of candidates) {
    if (timingSafeEqual(candidate.digest, digest) && found === undefined) found = candidate;
  }
  return found;
}

/** The token of an `Authorization: Bearer <token>` header; undefined for any other header. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * True when a Host header names this machine by a loopback name or address (localhost,
 * 127.0.0.0/8, [::1], any port). Without tokens, a page a browser loaded from a name that an
 * attacker's DNS later points at 127.0.0.1 (DNS rebinding) would otherwise be served as a local
 * client; its requests carry the attacker's name in Host.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = (
    host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0]
  )?.toLowerCase();
  return name === 'localhost' || name === '::1' || (isIP(name ?? '') === 4 && isLoopback(name));
}

/** True for a client address on this machine's loopback (127.0.0.0/8, ::1, IPv4-mapped 127/8). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}
