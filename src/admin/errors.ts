import { HttpException, HttpStatus } from '@nestjs/common';
import type { DefinitionError } from '@sluice/pipeline';

/** A pipeline definition failed validation; `errors` lists every problem by field path. */
export class DefinitionInvalidError extends Error {
  override readonly name = 'DefinitionInvalidError';

  constructor(readonly errors: readonly DefinitionError[]) {
    super(`invalid pipeline definition (${errors.length} error${errors.length === 1 ? '' : 's'})`);
  }
}

/**
 * The sink could not be asked about the target table (network, timeout): the definition may be
 * fine, so this is not a validation failure and a caller may retry.
 */
export class SinkUnavailableError extends Error {
  override readonly name = 'SinkUnavailableError';

  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot check the sink: ClickHouse at ${url} is unreachable (${reason})`);
  }
}

/** A pipeline with this id exists already. */
export class DuplicatePipelineError extends Error {
  override readonly name = 'DuplicatePipelineError';

  constructor(readonly id: string) {
    super(`pipeline ${id} already exists`);
  }
}

/** Every error body: `{ statusCode, error, message, errors? }`. */
export function httpError(
  status: HttpStatus,
  message: string,
  errors?: readonly DefinitionError[],
) {
  const error = STATUS_TEXT[status] ?? 'Error';
  return new HttpException({ statusCode: status, error, message, errors }, status);
}

const STATUS_TEXT: Partial<Record<HttpStatus, string>> = {
  [HttpStatus.BAD_REQUEST]: 'Bad Request',
  [HttpStatus.NOT_FOUND]: 'Not Found',
  [HttpStatus.CONFLICT]: 'Conflict',
  [HttpStatus.PRECONDITION_FAILED]: 'Precondition Failed',
  [HttpStatus.PRECONDITION_REQUIRED]: 'Precondition Required',
  [HttpStatus.UNSUPPORTED_MEDIA_TYPE]: 'Unsupported Media Type',
  [HttpStatus.SERVICE_UNAVAILABLE]: 'Service Unavailable',
};
