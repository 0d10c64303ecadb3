// What POST and PUT of a pipeline definition read from the request besides the body: one home,
// so create and edit answer bad input alike.
import type { IncomingMessage } from 'node:http';
import { HttpStatus } from '@nestjs/common';
import { JSON_TYPES, YAML_TYPES, mediaType } from '../auth/media-types';
import { httpError } from './errors';

/** A `true`/`false` query flag (absent: false); anything else is a 400 naming it. */
export function parseFlag(name: string, text: string | undefined): boolean {
  if (text === undefined || text === 'false') return false;
  if (text === 'true') return true;
  throw httpError(HttpStatus.BAD_REQUEST, 'invalid query', [
    { path: name, message: 'must be true or false' },
  ]);
}

/** The definition's format from the body type: YAML, JSON, or a 415. */
export function definitionFormat(req: IncomingMessage): 'yaml' | 'json' {
  const type = mediaType(req);
  if (YAML_TYPES.includes(type)) return 'yaml';
  if (JSON_TYPES.includes(type)) return 'json';
  throw httpError(
    HttpStatus.UNSUPPORTED_MEDIA_TYPE,
    `send the definition as application/json or application/yaml, not ${type}`,
  );
}
