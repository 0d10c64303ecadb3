import type { IncomingMessage } from 'node:http';

export const JSON_TYPES = ['application/json'];
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

/** The request's media type, lower case, without parameters; '' when none is given. */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * True when a request that changes state may be served. A browser sends a cross-site POST without
 * asking first only with no body type or a form or text one ("simple" requests), so requiring
 * JSON or YAML stops cross-site forms and no-cors fetches (CSRF). DELETE, PUT and PATCH are never
 * simple: a browser asks first (CORS preflight), which fails unless CORS_ORIGINS allows the page.
 */
export function bodyTypeAllowed(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return true;
  const type = mediaType(req);
  return JSON_TYPES.includes(type) || YAML_TYPES.includes(type);
}
