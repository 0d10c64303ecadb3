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
