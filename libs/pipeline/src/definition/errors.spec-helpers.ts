import type { DefinitionError } from './issues';
import { parsePipelineDefinition } from './parse';

// Shared by the error-class specs (errors-source, errors-stages); not part of the build.

export type Path = readonly (string | number)[];

/** A copy of `doc` with the value at `path` replaced (or removed when `value` is undefined). */
export function withValue(doc: Record<string, unknown>, path: Path, value: unknown): unknown {
  const copy = structuredClone(doc);
  let node = copy as Record<string | number, unknown>;
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

/** The errors of a definition that must be refused. */
export function errorsOf(input: unknown, contentType?: 'json' | 'yaml'): DefinitionError[] {
  const result = parsePipelineDefinition(input, contentType);
  if (result.ok) throw new Error('expected the definition to be refused');
  return result.errors;
}
